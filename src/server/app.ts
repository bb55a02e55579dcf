// The HTTP service: a Fastify instance with the native API (/v1), the Piston v2 API (/api/v2),
// /healthz, /metrics, /openapi.json, optionally the web playground (/), the API page (/docs) and CORS for the API. `buildServer` returns the instance before it is ready,
// so that other parts (the MCP Streamable HTTP transport at /mcp) can add their routes with
// `options.plugins` or `app.register(...)`; whatever they add inherits the token check, the JSON
// body parser, the error shape and the request ids.
import Fastify, { type FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { createCylo, type Cylo, type CyloOptions } from '../cylo.js';
import { CyloError } from '../errors.js';
import { makeAuthCheck } from './auth.js';
import { checkCorsWithToken, registerCors, type CorsPolicy } from './cors.js';
import { addOriginCheck } from './origin-check.js';
import { registerPlayground } from './playground.js';
import { registerApiDocs } from './api-docs.js';
import { trackRouteMethods } from './route-methods.js';
import { cyloVersion } from '../version.js';
import { ServerState, type ServerContext } from './context.js';
import { logHttpError, sendError, toHttpError } from './http-errors.js';
import { fastifyLoggerOptions, requestId, type LoggerOptions } from './logging.js';
import { ServerMetrics } from './metrics.js';
import { registerNativeRoutes, registerServiceRoutes } from './native.js';
import { registerOpenApi } from './openapi.js';
import fastifyWebsocket from '@fastify/websocket';
import { registerPistonConnect } from './piston-connect.js';
import { registerPistonRoutes } from './piston.js';
import { DEFAULT_JUDGE0_PREFIX, judge0Plugin, judge0Prefix, type Judge0AsyncSubmit } from './judge0/routes.js';
import { registerSessionRoutes } from './sessions.js';
import { zodValidatorCompiler } from './validation.js';
import { createSubmissionService, type SubmissionsOptions } from './submissions-setup.js';
import { registerSubmissionRoutes } from './submissions.js';
import type { QueueClient } from '../queue/producer.js';
import { registerWorkerRoutes } from './workers.js';

export const DEFAULT_BODY_LIMIT = 16 * 1024 * 1024;
export const DEFAULT_MAX_CONNECTIONS = 256;

/** Adds routes or plugins to the server (called after the built-in routes, before ready). */
export type ServerPlugin = (app: FastifyInstance, ctx: ServerContext) => void | Promise<void>;

export interface ServerOptions {
  /** The cylo instance to serve (the caller closes it). Without it, one is created from
   *  `cyloOptions` and closed with the server. */
  cylo?: Cylo;
  cyloOptions?: CyloOptions;
  /** Bearer token every route but /healthz requires, or several (API keys: each sees only its
   *  own submissions); none: no authentication. */
  token?: string | readonly string[];
  /** Durable asynchronous submissions (/v1/submissions) with their database in
   *  `submissions.dataDir`; without it those routes do not exist. A database that cannot be
   *  opened makes buildServer throw CYLO_E_STORAGE (never an in-memory fallback). */
  submissions?: SubmissionsOptions;
  /** Largest request body accepted, in bytes (default 16 MiB); above it, 413. */
  bodyLimit?: number;
  /** Logging settings, or false for none. */
  logger?: LoggerOptions | false;
  /** Node process metrics (memory, event loop lag, ...) in /metrics (default true). */
  processMetrics?: boolean;
  /** Extra routes, e.g. the MCP transport. */
  plugins?: ServerPlugin[];
  /** Connections open at once; beyond it new connections are dropped (default 256). Bounds the
   *  memory of request bodies being read: at most maxConnections x bodyLimit. */
  maxConnections?: number;
  /** CORS for the API routes: '*' (only with a token) or exact origins; none: no CORS headers
   *  (see src/server/cors.ts, docs/http.md#cors). */
  corsOrigins?: CorsPolicy;
  /** The web playground at / (docs/playground.md): true serves dist/web, a string serves that
   *  directory; default false here (`cylo serve` turns it on). */
  playground?: boolean | string;
  /** The interactive API page (Swagger UI) at /docs (./api-docs.ts); default false here
   *  (`cylo serve` turns it on). */
  docs?: boolean;
  /** The Judge0-compatible API (docs/judge0.md): mounted at `prefix` (default /judge0) and,
   *  with `root: true`, also at / (its paths do not clash with cylo's). false: not mounted. */
  judge0?: { prefix?: string; root?: boolean; submitAsync?: Judge0AsyncSubmit } | false;
  /** Queue mode (docs/scaling.md): every execution goes to a worker through this client
   *  (the caller creates and closes it); GET /v1/workers and the queue metrics are added. */
  queue?: QueueClient;
}

export interface CyloServerHandle extends ServerContext {
  /** Graceful stop: no new executions (503), queued ones refused, running ones get `graceMs`
   *  to finish and are then killed; every connection is closed. Idempotent. */
  shutdown(options?: { graceMs?: number }): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    cyloServer: CyloServerHandle;
  }
}

export async function buildServer(options: ServerOptions = {}): Promise<FastifyInstance> {
  const ownsCylo = options.cylo === undefined;
  const cylo = options.cylo ?? createCylo(options.cyloOptions);
  const bodyLimit = checkedBodyLimit(options);
  const app = createFastify(options, bodyLimit);
  const state = new ServerState(cylo, new ServerMetrics(cylo, { processMetrics: options.processMetrics ?? true }));
  app.decorate('cyloServer', shutdownHandle(app, state));
  if (options.queue !== undefined) {
    state.queue = options.queue;
    options.queue.stats.register(state.metrics.registry);
  }
  if (options.submissions !== undefined) addSubmissionService(app, state, options.submissions);
  if (ownsCylo) app.addHook('onClose', async () => cylo.close());
  setJsonBodies(app, cylo, bodyLimit);
  setErrorHandlers(app, state, bodyLimit, options.docs === true);
  // Before the token check: a browser's preflight carries no Authorization header.
  if (options.corsOrigins !== undefined) await registerCors(app, options.corsOrigins);
  // Cross-site forged requests (a page the user opens POSTing text/plain to loopback) refused.
  addOriginCheck(app, options.corsOrigins);
  addHooks(app, state, options.token);
  app.server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  await registerRoutes(app, state, options, bodyLimit);
  return app;
}

/** The options buildServer checks itself (cylo checks its own); returns the body limit. */
function checkedBodyLimit(options: ServerOptions): number {
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  if (!Number.isInteger(bodyLimit) || bodyLimit <= 0) throw new CyloError('CYLO_E_CONFIG', `bodyLimit: expected a positive whole number of bytes (got ${bodyLimit})`, { field: 'bodyLimit' });
  const keys = typeof options.token === 'string' ? [options.token] : (options.token ?? []);
  if (options.token !== undefined && (keys.length === 0 || keys.some((k) => k.trim() === ''))) throw new CyloError('CYLO_E_CONFIG', 'token: must not be empty', { field: 'token' });
  checkCorsWithToken(options.corsOrigins, options.token === undefined ? undefined : keys.join(','), 'corsOrigins');
  return bodyLimit;
}

/** The submission service: opened now (a database that cannot be opened fails the build),
 *  started once the server is ready (restart recovery, the queue), stopped before the server
 *  closes (queued ones stay queued; running ones finish within the shutdown's grace period, or
 *  at once go back to the queue when the server closes without shutdown()), closed last. */
function addSubmissionService(app: FastifyInstance, state: ServerState, options: SubmissionsOptions): void {
  const service = createSubmissionService(state, options, (level, message, fields) => app.log[level](fields, message));
  state.submissions = service;
  app.addHook('onReady', async () => service.start());
  app.addHook('preClose', async () => service.stop({ abortRunning: !state.shuttingDown }));
  app.addHook('onClose', async () => service.close({ abortRunning: !state.shuttingDown }));
}

function createFastify(options: ServerOptions, bodyLimit: number): FastifyInstance {
  return Fastify({
    logger: options.logger === false ? false : fastifyLoggerOptions(options.logger),
    genReqId: requestId,
    bodyLimit,
    // While shutting down, executions are refused with 503 in cylo's error shape (see context.ts).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true },
  });
}

/** The server state with the graceful `shutdown` (app.cyloServer). */
function shutdownHandle(app: FastifyInstance, state: ServerState): CyloServerHandle {
  const { cylo } = state;
  let closing: Promise<void> | undefined;
  return Object.assign(state, {
    shutdown(shutdownOptions: { graceMs?: number } = {}): Promise<void> {
      closing ??= (async () => {
        state.shuttingDown = true;
        const graceMs = shutdownOptions.graceMs ?? 10_000;
        app.log.info({ graceMs, running: cylo.stats().running, queued: cylo.stats().queued }, 'shutting down: no new executions; running ones get the grace period');
        // A backstop for connections that would outlive their execution.
        const hard = setTimeout(() => app.server.closeAllConnections(), graceMs + 5000);
        hard.unref();
        try {
          await Promise.all([cylo.close({ graceMs }), app.close()]);
        } finally {
          clearTimeout(hard);
        }
        app.log.info('shut down: every execution finished or was stopped');
      })();
      return closing;
    },
  });
}

/** Request bodies parsed as JSON and validated with zod; responses serialised as JSON. */
function setJsonBodies(app: FastifyInstance, cylo: Cylo, bodyLimit: number): void {
  // Bodies are JSON whatever the Content-Type says (piston-client sends text/plain).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      // __proto__ and constructor.prototype keys are refused (prototype poisoning).
      done(null, secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch (error) {
      done(new CyloError('CYLO_E_VALIDATION', `body: not valid JSON (${(error as Error).message})`, { field: 'body' }), undefined);
    }
  });

  app.setValidatorCompiler(zodValidatorCompiler(() => cylo.policy));
  // Response schemas document; JSON.stringify serialises (no field is ever dropped silently).
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
}

/** Errors and unknown routes answered in cylo's error shape (internal errors logged in full). */
function setErrorHandlers(app: FastifyInstance, state: ServerState, bodyLimit: number, docs: boolean): void {
  app.setErrorHandler((error, request, reply) => {
    const err = toHttpError(error, request, bodyLimit);
    logHttpError(error, err, request);
    return sendError(request, reply, err, state);
  });
  const methodsFor = trackRouteMethods(app);
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]?.slice(0, 200) ?? '';
    // A known path with another method: say which methods it takes (GET /v1/execute -> POST).
    const methods = methodsFor(path);
    const hint = methods.length === 0 ? '' : `; ${path} takes ${methods.join(' or ')}`;
    return sendError(request, reply, new CyloError('CYLO_E_NOT_FOUND', `route: ${request.method} ${path} does not exist${hint} (see ${docs ? '/docs or ' : ''}/openapi.json)`), state);
  });
}

/** The request hooks: the bearer token, early admission, response headers, upgrade-socket
 *  cleanup and the request metrics (in this order). */
function addHooks(app: FastifyInstance, state: ServerState, token: string | readonly string[] | undefined): void {
  const { cylo, metrics } = state;
  if (token !== undefined) {
    const check = makeAuthCheck(token);
    app.addHook('onRequest', async (request) => check(request));
  }
  // Early admission: when every slot is busy and the queue is full, refuse an execution
  // before reading its body (the pool still decides for the requests that get through).
  app.addHook('onRequest', async (request) => {
    const api = (request.routeOptions.config as { execution?: 'native' | 'piston' | 'judge0' } | undefined)?.execution;
    if (api === undefined) return;
    const s = cylo.stats();
    if (s.running >= s.concurrency && s.queued >= s.queueLimit) {
      metrics.errors.inc({ api, code: 'CYLO_E_QUEUE_FULL' });
      throw new CyloError('CYLO_E_QUEUE_FULL', `all ${s.concurrency} slots are busy and ${s.queued} executions are queued; retry later`);
    }
  });
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-request-id', request.id);
    if (state.shuttingDown) reply.header('connection', 'close');
    return payload;
  });
  // A WebSocket upgrade answered with an HTTP error (401 without the token, 404, 503...) never
  // reaches @fastify/websocket's own cleanup (its onRequest hook runs after ours): the detached
  // upgrade socket would stay open, unread, and app.close() would wait for it forever.
  app.addHook('onResponse', async (request) => {
    const socket: { destroyed: boolean; destroy(): void } | null = request.raw.socket;
    if (request.raw.headers.upgrade !== undefined && socket !== null && !socket.destroyed) socket.destroy();
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequests.inc({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) });
  });
}

/** The Judge0 API at its prefix and, when asked, at the root too. */
async function registerJudge0(app: FastifyInstance, state: ServerState, options: ServerOptions, bodyLimit: number): Promise<void> {
  if (options.judge0 === false) return;
  const prefix = judge0Prefix(options.judge0?.prefix ?? DEFAULT_JUDGE0_PREFIX);
  // submitAsync: the asynchronous submissions (wait absent, callback_url); unset: refused, saying why.
  const submitAsync = {
    ...(options.judge0?.submitAsync === undefined ? {} : { submitAsync: options.judge0.submitAsync }),
    ...(state.submissions === undefined ? {} : { async: { ctx: state, service: state.submissions, hasKeys: options.token !== undefined } }),
  };
  await app.register(judge0Plugin, { prefix, ctx: state, bodyLimit, notFound: true, ...submitAsync });
  if (options.judge0?.root === true) await app.register(judge0Plugin, { ctx: state, bodyLimit, notFound: false, ...submitAsync });
}

/** The built-in routes (OpenAPI, service, native, Piston HTTP and WebSocket), then the plugins. */
async function registerRoutes(app: FastifyInstance, state: ServerState, options: ServerOptions, bodyLimit: number): Promise<void> {
  await registerOpenApi(app, { version: cyloVersion(), auth: options.token !== undefined });
  registerServiceRoutes(app, state);
  registerNativeRoutes(app, state);
  registerPistonRoutes(app, state);
  if (state.submissions !== undefined) registerSubmissionRoutes(app, state, state.submissions, options.token !== undefined);
  registerSessionRoutes(app, state, bodyLimit);
  if (state.queue !== undefined) registerWorkerRoutes(app, state.queue);
  await app.register(fastifyWebsocket, { options: { maxPayload: bodyLimit } });
  await app.register(async (scoped) => registerPistonConnect(scoped, state));
  await registerJudge0(app, state, options, bodyLimit);
  if (options.playground !== undefined && options.playground !== false) await registerPlayground(app, typeof options.playground === 'string' ? options.playground : undefined);
  if (options.docs === true) await registerApiDocs(app);
  for (const plugin of options.plugins ?? []) await plugin(app, state);
}
