// `cylo serve`: cylo as a long-lived HTTP service (native API, Piston v2 API, /healthz,
// /metrics, /openapi.json). Returns when the server has stopped: on SIGTERM or SIGINT (or when
// `signal` aborts) it stops accepting, lets running executions finish within the grace period,
// kills what is left, and resolves with exit code 0. A second signal cuts the grace short.
// Also its command-line declaration (register), which main.ts assembles into the program.
import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import { createCylo, type Cylo, type CyloOptions } from '../../cylo.js';
import { CyloError } from '../../errors.js';
import { buildServer, type ServerPlugin } from '../../server/app.js';
import { checkExposure, isLoopbackHost, loadServerConfig, type LoadConfigOptions, type ServerConfig } from '../../server/config.js';
import { processIO, type CommandIO } from '../../util/io.js';
import { CONFIG_OPTION_HELP } from '../cylo-options.js';
import { registerMcpRoutes } from '../../mcp/routes.js';
import { prepareDataDir } from '../../submissions/data-dir.js';
import { preflight } from '../preflight.js';
import type { QueueClient } from '../../queue/producer.js';

/** Routes every `cylo serve` mounts besides the built-in ones: the place for the MCP Streamable
 *  HTTP transport (/mcp). A plugin gets the Fastify instance and the server context (cylo,
 *  metrics, shutdown state); its routes inherit the token check, the JSON body parser, the
 *  error shape and the request ids. */
export const SERVE_PLUGINS: ServerPlugin[] = [(app, ctx) => registerMcpRoutes(app, ctx)];

export interface ServeOptions {
  /** Flag values from the command line (strings as typed; true for switches). */
  flags?: LoadConfigOptions['flags'];
  /** --config: a JSON config file (CYLO_CONFIG otherwise). */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  /** Library options under the server configuration (e.g. extra runtimes). */
  cyloOptions?: CyloOptions;
  /** Extra routes, e.g. the MCP Streamable HTTP transport at /mcp. */
  plugins?: ServerPlugin[];
  /** Stops the server when aborted, as SIGTERM does. */
  signal?: AbortSignal;
  /** Handle SIGTERM and SIGINT (default true). */
  handleSignals?: boolean;
  /** Where the logs go (default stdout). */
  logStream?: NodeJS.WritableStream;
  /** Called once the server listens. */
  onListening?: (info: { url: string; host: string; port: number; app: FastifyInstance; config: ServerConfig }) => void;
}

function waitForStop(options: ServeOptions, onSecond: (why: string) => void): { stopped: Promise<string>; dispose: () => void } {
  const handlers: Array<[NodeJS.Signals, () => void]> = [];
  let resolveStop: (why: string) => void = () => {};
  let stopping = false;
  const stopped = new Promise<string>((resolve) => {
    resolveStop = resolve;
  });
  const stop = (why: string): void => {
    if (stopping) {
      onSecond(why);
      return;
    }
    stopping = true;
    resolveStop(why);
  };
  if (options.handleSignals !== false) {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      const h = (): void => stop(sig);
      process.on(sig, h);
      handlers.push([sig, h]);
    }
  }
  const onAbort = (): void => stop('abort');
  if (options.signal?.aborted === true) stop('abort');
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  return {
    stopped,
    dispose: () => {
      for (const [sig, h] of handlers) process.off(sig, h);
      options.signal?.removeEventListener('abort', onAbort);
    },
  };
}

/** What cylo does on its own (e.g. the orphans of a crashed service it cleaned at start) goes to
 *  the service log; lines from before the logger exists wait for it (until `attach`). */
function serviceLog(options: ServeOptions): { log: NonNullable<CyloOptions['log']>; attach: (logger: FastifyInstance['log']) => void } {
  let logger: FastifyInstance['log'] | undefined;
  const early: Array<Parameters<NonNullable<CyloOptions['log']>>> = [];
  const log: NonNullable<CyloOptions['log']> = (level, message, fields) => {
    options.cyloOptions?.log?.(level, message, fields);
    if (logger === undefined) early.push([level, message, fields]);
    else logger[level](fields ?? {}, message);
  };
  const attach = (appLog: FastifyInstance['log']): void => {
    logger = appLog;
    for (const [level, message, fields] of early.splice(0)) appLog[level](fields ?? {}, message);
  };
  return { log, attach };
}

/** The library instance under the server: the shared configuration (limits, bounds, languages,
 *  relax, uid range) over the library options; limits and bounds merged key by key. */
function createServeCylo(options: ServeOptions, config: ServerConfig, log: NonNullable<CyloOptions['log']>): Cylo {
  const base = options.cyloOptions ?? {};
  const shared = config.cyloOptions;
  return createCylo({
    ...base,
    ...shared,
    log,
    concurrency: config.concurrency,
    queueLimit: config.queueLimit,
    ...(shared.maxLimits === undefined ? {} : { maxLimits: { ...base.maxLimits, ...shared.maxLimits } }),
    ...(shared.defaultLimits === undefined ? {} : { defaultLimits: { ...base.defaultLimits, ...shared.defaultLimits } }),
    ...(shared.requestBounds === undefined ? {} : { requestBounds: { ...base.requestBounds, ...shared.requestBounds } }),
    ...(config.maxSessions === undefined ? {} : { maxSessions: config.maxSessions }),
  });
}

/** The /mcp routes with the configured browser origins (`mcpAllowedOrigins`). */
const mcpPlugin =
  (allowedOrigins: string[] | undefined, environments: string[] | undefined): ServerPlugin =>
  (app, ctx) =>
    registerMcpRoutes(app, ctx, { ...(allowedOrigins === undefined ? {} : { allowedOrigins }), ...(environments === undefined ? {} : { environments }) });

/** The HTTP app with the built-in routes and every plugin's, not yet listening. */
function buildServeApp(cylo: Cylo, config: ServerConfig, options: ServeOptions, queue: QueueClient | undefined): Promise<FastifyInstance> {
  return buildServer({
    cylo,
    ...(queue === undefined ? {} : { queue }),
    ...(config.tokens === undefined ? {} : { token: config.tokens }),
    submissions: {
      dataDir: config.dataDir,
      retentionMs: config.retentionMs,
      webhookAllow: config.webhookAllow,
      ...(config.webhookSecret === undefined ? {} : { webhookSecret: config.webhookSecret }),
      webhookAttempts: config.webhookAttempts,
      webhookBackoffMs: config.webhookBackoffMs,
      webhookTimeoutMs: config.webhookTimeoutMs,
    },
    bodyLimit: config.bodyLimit,
    maxConnections: config.maxConnections,
    judge0: config.judge0.enabled ? { prefix: config.judge0.prefix, root: config.judge0.root } : false,
    logger: { level: config.logLevel, format: config.logFormat, ...(options.logStream === undefined ? {} : { stream: options.logStream }) },
    plugins: [...(config.mcpAllowedOrigins === undefined && config.mcpEnvironments === undefined ? SERVE_PLUGINS : [mcpPlugin(config.mcpAllowedOrigins, config.mcpEnvironments)]), ...(options.plugins ?? [])],
    playground: config.playground,
    docs: config.docs,
    ...(config.corsOrigins === undefined ? {} : { corsOrigins: config.corsOrigins }),
  });
}

/** Listens on the configured host and port; the usual failures become CYLO_E_CONFIG naming the
 *  setting to change. Resolves with the URL and the port actually bound (for --port 0). */
async function listen(app: FastifyInstance, config: ServerConfig): Promise<{ url: string; port: number }> {
  let url: string;
  try {
    url = await app.listen({ host: config.host, port: config.port, listenTextResolver: (address) => `listening at ${address}` });
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') throw new CyloError('CYLO_E_CONFIG', `port: ${config.host}:${config.port} is already in use; pick another with --port or CYLO_PORT`, { field: 'port' });
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') throw new CyloError('CYLO_E_CONFIG', `host: cannot listen on ${config.host} (${e.code})`, { field: 'host' });
    if (e.code === 'EACCES') throw new CyloError('CYLO_E_CONFIG', `port: not allowed to listen on port ${config.port} (EACCES)`, { field: 'port' });
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  return { url, port };
}

/** The stop request (waitForStop) of a built server: a second request kills the running
 *  executions at once. */
function stopRequests(app: FastifyInstance, cylo: Cylo, options: ServeOptions): ReturnType<typeof waitForStop> {
  return waitForStop(options, (why) => {
    app.log.warn({ signal: why }, 'second stop request: killing running executions now');
    void cylo.close({ graceMs: 0 });
  });
}

/** Waits for the stop request, then shuts the server down: running executions get the grace
 *  period. */
async function serveUntilStopped(app: FastifyInstance, config: ServerConfig, stop: ReturnType<typeof waitForStop>): Promise<void> {
  const why = await stop.stopped;
  app.log.info({ signal: why }, 'stop requested');
  await app.cyloServer.shutdown({ graceMs: config.graceMs });
}

export async function serveCommand(options: ServeOptions, _io: CommandIO): Promise<number> {
  const config = loadServerConfig({ flags: options.flags, configPath: options.configPath, env: options.env });
  checkExposure(config);
  const logs = serviceLog(options);
  // The data directory first: a service that cannot keep its submissions must not start.
  prepareDataDir(config.dataDir);
  const cylo = createServeCylo(options, config, logs.log);
  let app: FastifyInstance | undefined;
  let queue: QueueClient | undefined;
  let stop: ReturnType<typeof waitForStop> | undefined;
  try {
    // Queue mode: this node runs nothing itself (workers do): no sandbox check; the languages
    // are still resolved (the Piston and Judge0 APIs list them). Redis may be down now: requests
    // get 503 until it is up, then the node recovers by itself.
    if (config.queue === undefined) await preflight(cylo);
    else {
      queue = await openQueue(config.queue, config.queueLimit, logs.log);
      await cylo.runtimes();
    }
    app = await buildServeApp(cylo, config, options, queue);
    logs.attach(app.log);
    if (config.token === undefined && !isLoopbackHost(config.host)) {
      app.log.warn({ host: config.host }, 'listening on a non-loopback address WITHOUT authentication (--insecure-no-auth): anyone who can reach this port can run code here');
    }
    // Signals are handled before "cylo serve ready" is logged: a SIGTERM sent on that line (a
    // supervisor, a test) is a stop request, never Node's default death.
    stop = stopRequests(app, cylo, options);
    const { url, port } = await listen(app, config);
    app.log.info(
      { url, port, queue: queue === undefined ? 'off' : queue.display, concurrency: config.concurrency, queueLimit: config.queueLimit, graceMs: config.graceMs, bodyLimit: config.bodyLimit, maxConnections: config.maxConnections, auth: config.token === undefined ? 'none' : 'bearer', keys: config.tokens?.length ?? 0, tokenSource: config.tokenSource, configPath: config.configPath, dataDir: config.dataDir, playground: config.playground, docs: config.docs, cors: config.corsOrigins ?? 'off' },
      'cylo serve ready',
    );
    options.onListening?.({ url, host: config.host, port, app, config });
    await serveUntilStopped(app, config, stop);
    return 0;
  } finally {
    stop?.dispose();
    // On every path (including a failed start) nothing is left running.
    if (app !== undefined) await app.close().catch(() => {});
    await queue?.close().catch(() => {});
    await cylo.close({ graceMs: 0 }).catch(() => {});
  }
}

/** The queue client of an API node (loaded only in queue mode: BullMQ stays out of a plain
 *  `cylo serve`). */
async function openQueue(url: string, queueLimit: number, log: NonNullable<CyloOptions['log']>): Promise<QueueClient> {
  const { parseQueueUrl } = await import('../../queue/connection.js');
  const { QueueClient } = await import('../../queue/producer.js');
  const { probeQueue } = await import('../../queue/probe.js');
  const connection = parseQueueUrl(url);
  // A TLS certificate this node does not trust or a refused password stops the start
  // (CYLO_E_CONFIG naming it and the fix); Redis merely down does not (503 until it is up).
  await probeQueue(connection);
  return new QueueClient({ connection, queueLimit, log });
}

/** Declares `cylo serve` on the program: its options, help and action. */
export function register(program: Command): Command {
  return program
    .command('serve')
    .description('run cylo as an HTTP service: native API (/v1), Piston v2 API (/api/v2), Judge0 API (/judge0), the web playground (/), /healthz, /metrics, /openapi.json, the API page (/docs) (see docs/http.md)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1; CYLO_HOST); a non-loopback address needs a token')
    .option('--port <port>', 'port (default 2000, 0 picks a free one; CYLO_PORT)')
    .option('--config <path>', `${CONFIG_OPTION_HELP}; flags > environment > file`)
    .option('--token-file <path>', 'file holding the bearer token clients must send (or CYLO_TOKEN)')
    .option('--insecure-no-auth', 'allow a non-loopback --host without a token (something in front must authenticate)')
    .option('--concurrency <n>', 'executions at once (default: the number of cores; CYLO_CONCURRENCY)')
    .option('--queue-limit <n>', 'executions waiting before 503 (default 16 x concurrency; CYLO_QUEUE_LIMIT)')
    .option('--grace <duration>', 'on SIGTERM/SIGINT, time running executions get to finish (default 10s; CYLO_GRACE)')
    .option('--body-limit <size>', 'largest request body (default 16M; CYLO_BODY_LIMIT)')
    .option('--max-connections <n>', 'connections open at once (default 256; CYLO_MAX_CONNECTIONS)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info; CYLO_LOG_LEVEL)')
    .option('--log-format <format>', 'auto (pretty on a terminal, else JSON), json or pretty (CYLO_LOG_FORMAT)')
    .option('--judge0-prefix <path>', 'where the Judge0-compatible API is mounted (default /judge0; CYLO_JUDGE0_PREFIX; CYLO_JUDGE0=false turns it off)')
    .option('--judge0-root', 'mount the Judge0-compatible API at / as well, for clients that cannot add a path (CYLO_JUDGE0_ROOT)')
    .option('--data-dir <dir>', 'submission database and webhook secret, a 0700 directory (default /var/lib/cylo; CYLO_DATA_DIR)')
    .option('--retention <duration>', 'how long finished submissions are kept (default 24h; CYLO_RETENTION)')
    .option('--webhook-allow <list>', 'webhook destinations: IPs, CIDRs, host names, *.domain, comma-separated (default loopback; CYLO_WEBHOOK_ALLOW)')
    .option('--webhook-attempts <n>', 'attempts per webhook (default 5; CYLO_WEBHOOK_ATTEMPTS); the secret: CYLO_WEBHOOK_SECRET or generated in the data directory')
    .option('--webhook-backoff <duration>', 'first webhook retry delay, doubled each time (default 2s; CYLO_WEBHOOK_BACKOFF)')
    .option('--webhook-timeout <duration>', 'per webhook attempt (default 5s; CYLO_WEBHOOK_TIMEOUT)')
    .option('--queue <url>', 'queue mode: put executions on this Redis queue for `cylo worker` processes (redis://[:PASSWORD@]HOST[:PORT][/DB] or rediss://; CYLO_QUEUE; docs/scaling.md)')
    .option('--max-sessions <n>', 'stateful sessions open at once (default 8; CYLO_MAX_SESSIONS; docs/sessions.md)')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const { config, ...flags } = o;
      process.exitCode = await serveCommand({ flags, configPath: config as string | undefined }, processIO);
    });
}
