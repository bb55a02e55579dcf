// The native API: the library request in, the library result out, same field names; plus the
// service routes (/healthz, /metrics, /openapi.json).
import type { FastifyInstance } from 'fastify';
import type { ExecuteRequest } from '../api/request.js';
import { anyErrorResponses, executeRequestSchema, executionResultSchema, healthSchema, runtimesResponseSchema } from './schemas.js';
import type { ServerContext } from './context.js';
import { executeAsEventStream, wantsEventStream } from './sse.js';

export function registerNativeRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post(
    '/v1/execute',
    {
      config: { execution: 'native' },
      schema: {
        tags: ['native'],
        summary: 'Run code in the sandbox',
        description:
          'The library request as JSON; answers 200 with the library result whatever the program did (see `status`). With `Accept: text/event-stream`, the answer is a Server-Sent Events stream: `state`, `stdout`, `stderr` events as they happen, then one `result` (or `error`) event. 400 for an invalid request or a limit above the server maximum, 503 with Retry-After when every slot is busy and the queue is full. A client that disconnects cancels its execution.',
        body: executeRequestSchema,
        response: { 200: executionResultSchema, ...anyErrorResponses },
      },
    },
    async (request, reply) => {
      if (wantsEventStream(request)) return executeAsEventStream(ctx, request, reply, request.body as ExecuteRequest);
      return ctx.execute('native', request, reply, request.body as ExecuteRequest);
    },
  );

  app.get(
    '/v1/runtimes',
    { schema: { tags: ['native'], summary: 'Languages, versions, aliases and availability', response: { 200: runtimesResponseSchema, ...anyErrorResponses } } },
    async () => ctx.runtimes(),
  );
}

export function registerServiceRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get(
    '/healthz',
    {
      config: { public: true },
      schema: { tags: ['service'], summary: 'Liveness: 200 while serving, 503 once shutting down (cheap, never queued, no token needed)', response: { 200: healthSchema, 503: healthSchema } },
      logLevel: 'warn',
    },
    async (_request, reply) => {
      if (ctx.shuttingDown) return reply.status(503).header('connection', 'close').send({ status: 'shutting_down' });
      return { status: 'ok' };
    },
  );

  app.get('/metrics', { schema: { tags: ['service'], summary: 'Prometheus metrics (text format)' }, logLevel: 'warn' }, async (_request, reply) => {
    const text = await ctx.metrics.text();
    return reply.type(ctx.metrics.contentType).send(text);
  });

  app.get('/openapi.json', { schema: { tags: ['service'], summary: 'This OpenAPI document', hide: true } }, async () => app.swagger());
}
