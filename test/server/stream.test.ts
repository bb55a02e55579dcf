// POST /v1/execute with `Accept: text/event-stream`: Server-Sent Events (state, stdout, stderr,
// then one result or error), written as the program produces them, output caps in force, and a
// client that disconnects mid-stream cancels the execution. That events are written live is
// shown without timing anything: the program waits for the test to have received its first line
// (test/support/live.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/server/app.js';
import { testCylo } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { listenLoopback } from '../support/http.js';
import { liveProgram, releaseLiveProgram } from '../support/live.js';
import { processesWith, uniqueMarker } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const T = { timeout: 30_000 };
const cylo = testCylo({ concurrency: 2, queueLimit: 4 }, 256);
let app: FastifyInstance;
let base = '';

test.before(async () => {
  app = await buildServer({ cylo, logger: false, processMetrics: false });
  base = await listenLoopback(app);
});

test.after(async () => {
  await app.close();
  await cylo.close({ graceMs: 0 });
});

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Parses complete SSE frames out of `buffer`; returns the frames and the unparsed rest. */
function parseFrames(buffer: string): { frames: SseEvent[]; rest: string } {
  const frames: SseEvent[] = [];
  let idx: number;
  while ((idx = buffer.indexOf('\n\n')) >= 0) {
    const block = buffer.slice(0, idx);
    buffer = buffer.slice(idx + 2);
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    frames.push({ event, data: JSON.parse(data.join('\n')) as Record<string, unknown> });
  }
  return { frames, rest: buffer };
}

const post = (body: unknown, accept = 'text/event-stream'): Promise<Response> =>
  fetch(`${base}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json', accept }, body: JSON.stringify(body) });

/** Reads an SSE response to its end; `onEvent` sees each frame as it arrives. */
async function readEvents(response: Response, onEvent?: (e: SseEvent) => void): Promise<SseEvent[]> {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const events: SseEvent[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    const parsed = parseFrames(buffer);
    buffer = parsed.rest;
    events.push(...parsed.frames);
    for (const frame of parsed.frames) onEvent?.(frame);
  }
  assert.equal(buffer, '', 'the stream ends on a frame boundary');
  return events;
}

test('SSE (inject): text/event-stream with state, stdout, stderr and result events in order', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const r = await app.inject({ method: 'POST', url: '/v1/execute', headers: { accept: 'text/event-stream', 'content-type': 'application/json' }, payload: { language: 'bash', code: 'echo one; echo two >&2' } });
  assert.equal(r.statusCode, 200);
  assert.match(String(r.headers['content-type']), /^text\/event-stream/);
  assert.equal(r.headers['cache-control'], 'no-cache');
  assert.match(String(r.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  const { frames, rest } = parseFrames(r.body);
  assert.equal(rest, '');
  const names = frames.map((f) => (f.event === 'state' ? `state:${String(f.data.to)}` : f.event));
  assert.deepEqual(names.filter((n) => n.startsWith('state')), ['state:MountRamdisk', 'state:PrepareExecution', 'state:Processing', 'state:Done']);
  assert.ok(names.indexOf('state:Processing') < names.indexOf('stdout') && names.indexOf('stdout') < names.indexOf('state:Done'), names.join(' '));
  assert.equal(names.at(-1), 'result', 'the last event carries the result');
  assert.deepEqual(frames.find((f) => f.event === 'stdout')?.data, { stage: 'run', data: 'one\n' });
  assert.deepEqual(frames.find((f) => f.event === 'stderr')?.data, { stage: 'run', data: 'two\n' });
  const result = frames.at(-1)?.data as { status: string; run: { stdout: string; stderr: string } };
  assert.equal(result.status, 'ok');
  assert.equal(result.run.stdout, 'one\n');
  assert.equal(result.run.stderr, 'two\n');
  const state = frames.find((f) => f.event === 'state')?.data;
  assert.equal(typeof state?.atMs, 'number');
  assert.equal(state?.from, 'Init');
});

test('SSE (real socket): stdout arrives while the program still runs (it waits until the client has its first line)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // LIVE_PROGRAM prints "first", then waits for the test's signal, sent only once "first" came
  // over the socket: held-back events would leave it waiting until its 10 s limit (timeout).
  const marker = uniqueMarker();
  const response = await post({ language: 'python', code: liveProgram(marker), args: [marker], limits: { timeoutMs: 10_000 } });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
  let released = false;
  const events = await readEvents(response, (e) => {
    if (!released && e.event === 'stdout' && String(e.data.data).includes('first')) {
      released = true;
      releaseLiveProgram(marker);
    }
  });
  const first = events.find((e) => e.event === 'stdout' && String(e.data.data).includes('first'));
  const second = events.find((e) => e.event === 'stdout' && String(e.data.data).includes('second'));
  const result = events.at(-1);
  assert.ok(first !== undefined && second !== undefined && result?.event === 'result', events.map((e) => e.event).join(' '));
  assert.notEqual(first, second, 'two separate events');
  assert.equal(events.find((e) => e.event === 'stderr')?.data.data, 'released\n', 'the program was released by the test, after its first line arrived');
  assert.equal((result.data as { status: string }).status, 'ok');
  assert.equal((result.data as { run: { stdout: string } }).run.stdout, 'first\nsecond\n');
});

test('SSE: the output cap holds while streaming', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const cap = 4096;
  const events = await readEvents(await post({ language: 'bash', code: 'yes streaming', limits: { outputBytes: cap } }));
  const streamed = events.filter((e) => e.event === 'stdout').reduce((n, e) => n + Buffer.byteLength(String(e.data.data)), 0);
  const result = events.at(-1);
  assert.equal(result?.event, 'result');
  assert.equal((result?.data as { status: string }).status, 'output_limit');
  assert.ok(streamed <= cap, `${streamed} bytes streamed under a cap of ${cap}`);
});

test('SSE: errors before the first event are ordinary JSON answers', T, async (t) => {
  const invalid = await post({ language: 'bash', code: 'true', limits: { timeoutMs: -1 } });
  assert.equal(invalid.status, 400);
  assert.match(invalid.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(((await invalid.json()) as { error: { code: string } }).error.code, 'CYLO_E_VALIDATION');
  if (skipWithoutSandbox(t)) return;
  const unknown = await post({ language: 'no-such-language', code: 'x' });
  assert.equal(unknown.status, 400);
  assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'CYLO_E_UNKNOWN_LANGUAGE');
});

test('SSE: without Accept: text/event-stream the answer is the plain JSON result', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const r = await post({ language: 'bash', code: 'echo plain' }, 'application/json');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(((await r.json()) as { run: { stdout: string } }).run.stdout, 'plain\n');
});

test('SSE (real socket): a client that disconnects mid-stream cancels the execution; no process is left', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const marker = uniqueMarker();
  const body = JSON.stringify({ language: 'bash', code: 'echo ready; sleep 30; echo never', args: [marker], limits: { timeoutMs: 20_000, cpuTimeMs: 20_000 } });
  const req = httpRequest(`${base}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'content-length': Buffer.byteLength(body) } });
  req.on('error', () => {});
  const response = await new Promise<IncomingMessage>((resolve) => {
    req.on('response', resolve);
    req.end(body);
  });
  assert.equal(response.statusCode, 200);
  response.setEncoding('utf8');
  let text = '';
  await new Promise<void>((resolve) => {
    response.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('event: stdout')) resolve();
    });
  });
  assert.match(text, /"data":"ready\\n"/);
  assert.ok(processesWith(marker).length > 0, 'the program runs while the client reads');
  assert.equal(cylo.stats().running, 1);
  response.on('error', () => {});
  req.destroy();
  await waitFor('the program to be killed', () => processesWith(marker).length === 0, 10_000);
  await waitFor('the worker to be free', () => cylo.stats().running === 0, 10_000);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /cylo_execution_errors_total\{api="native",code="CYLO_E_CANCELLED"\} 1/);
});

test('SSE (real socket): a client that disconnects while its execution is queued: it never starts', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const busy = uniqueMarker();
  const queued = uniqueMarker();
  // both workers busy
  const blockers = [0, 1].map(() => post({ language: 'bash', code: 'echo ready; sleep 20', args: [busy], limits: { timeoutMs: 20_000, cpuTimeMs: 20_000 } }).then((r) => r.text(), () => ''));
  await waitFor('both workers to be busy', () => cylo.stats().running === 2);
  const body = JSON.stringify({ language: 'bash', code: 'echo never', args: [queued] });
  const req = httpRequest(`${base}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'content-length': Buffer.byteLength(body) } });
  req.on('error', () => {});
  req.end(body);
  await waitFor('the request to be queued', () => cylo.stats().queued === 1);
  req.destroy();
  await waitFor('the queued execution to leave the queue', () => cylo.stats().queued === 0, 10_000);
  assert.deepEqual(processesWith(queued), [], 'it never started');
  assert.equal(cylo.stats().running, 2, 'the running ones are untouched');
  // end the blockers: kill their programs from the host (they are ours), then wait for them
  for (const { pid } of processesWith(busy)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await Promise.all(blockers);
  await waitFor('the workers to be free', () => cylo.stats().running === 0, 10_000);
});
