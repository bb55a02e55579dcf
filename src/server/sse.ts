// Server-Sent Events for POST /v1/execute with `Accept: text/event-stream`: the execution's
// events as they happen (`state`, `stdout`, `stderr`), then one `result` (or `error`) event.
// Headers are only sent with the first event: a request that fails validation or admission
// still gets its ordinary 4xx/503 JSON answer.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OutputDecoder } from '../api/output-decoder.js';
import { requestedOutputEncoding } from '../api/output-encoding.js';
import type { ExecuteRequest } from '../api/request.js';
import type { ExecutionEvent } from '../engine/lifecycle.js';
import { toCyloError } from '../errors.js';
import type { ServerContext } from './context.js';

export function wantsEventStream(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').split(',').some((part) => part.trim().startsWith('text/event-stream'));
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A comment line every so often keeps proxies from closing a quiet stream. */
export const SSE_KEEPALIVE_MS = 15_000;

export async function executeAsEventStream(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, body: ExecuteRequest): Promise<void> {
  let started = false;
  let keepalive: NodeJS.Timeout | undefined;
  const raw = reply.raw;
  const begin = (): void => {
    if (started) return;
    started = true;
    reply.hijack();
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      'x-request-id': String(request.id),
    });
    keepalive = setInterval(() => raw.write(': keep-alive\n\n'), SSE_KEEPALIVE_MS);
    keepalive.unref();
  };
  const decoder = new OutputDecoder();
  const base64 = requestedOutputEncoding(body) === 'base64';
  const onEvent = (event: ExecutionEvent): void => {
    begin();
    if (event.type === 'state') {
      raw.write(frame('state', { from: event.from, to: event.to, atMs: Math.round(event.atMs * 1000) / 1000 }));
      return;
    }
    // base64: each frame's data is the base64 of that chunk's bytes.
    const data = base64 ? event.data.toString('base64') : decoder.decode(event.stage, event.type, event.data, event.test);
    // A test run's output frames say which case wrote them (`test`: its index).
    if (data !== '') raw.write(frame(event.type, event.test === undefined ? { stage: event.stage, data } : { stage: event.stage, test: event.test, data }));
  };
  try {
    const result = await ctx.execute('native', request, reply, body, onEvent);
    begin();
    raw.end(frame('result', result));
  } catch (error) {
    if (!started) throw error; // an ordinary JSON error answer
    raw.end(frame('error', toCyloError(error).toJSON()));
  } finally {
    clearInterval(keepalive);
  }
}
