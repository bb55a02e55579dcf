// `cylo worker --queue URL`: a queue worker (docs/scaling.md). It checks its sandbox, then takes
// executions from the Redis queue that `cylo serve --queue URL` API nodes fill, runs them on its
// own sandbox pool (--concurrency at once) and returns their results. SIGTERM or SIGINT drains:
// no new jobs, the running ones finish, then exit 0; a second signal stops at once (the running
// jobs are then taken again by another worker: BullMQ's stalled-job check). Logs: one JSON object
// per line on stdout ("cylo worker ready" once it takes jobs).
import type { Command } from 'commander';
import { createCylo } from '../../cylo.js';
import { CyloError } from '../../errors.js';
import { cyloOptionsFromConfig, loadConfig } from '../../config/load.js';
import { duration } from '../../config/fields.js';
import { parseQueueUrl } from '../../queue/connection.js';
import { probeQueue } from '../../queue/probe.js';
import { QueueWorker, type WorkerLog } from '../../queue/worker.js';
import { processIO, type CommandIO } from '../../util/io.js';
import { CONFIG_OPTION_HELP } from '../cylo-options.js';
import { preflight } from '../preflight.js';
import type { Server } from 'node:http';
import { WorkerMetrics } from '../../queue/worker-metrics.js';

export interface WorkerCommandOptions {
  /** --queue, --concurrency, --uid-base... as typed. */
  flags?: Record<string, string | boolean | undefined>;
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  /** Stops (drains) the worker when aborted, as SIGTERM does. */
  signal?: AbortSignal;
}

const FLAG_NAMES = { queue: '--queue', concurrency: '--concurrency', uidBase: '--uid-base', uidCount: '--uid-count' } as const;

/** A flag given as a duration ("2s", "500ms" or milliseconds), or undefined. */
function durationFlag(value: string | boolean | undefined, name: string): number | undefined {
  if (value === undefined || value === false) return undefined;
  const parsed = duration.safeParse(value);
  if (!parsed.success || parsed.data < 100) throw new CyloError('CYLO_E_CONFIG', `${name}: expected a duration of at least 100ms such as 5s (got ${String(value)})`, { field: name });
  return parsed.data;
}

/** --metrics-port: a port number (0: a free one). */
function portFlag(value: string | boolean | undefined): number {
  const port = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || port > 65535) throw new CyloError('CYLO_E_CONFIG', `--metrics-port: expected a port number 0-65535 (got ${String(value)})`, { field: 'metricsPort' });
  return port;
}

function jsonLog(io: CommandIO): WorkerLog {
  return (level, msg, fields = {}) => io.stdout.write(`${JSON.stringify({ level, time: Date.now(), msg, ...fields })}\n`);
}

/** Waits for SIGTERM/SIGINT (or `signal`); the first resolves, a second calls `onSecond`. */
function stopRequested(signal: AbortSignal | undefined, onSecond: () => void): { stopped: Promise<string>; dispose: () => void } {
  let count = 0;
  let resolve!: (why: string) => void;
  const stopped = new Promise<string>((r) => (resolve = r));
  const on = (why: string) => (): void => {
    count++;
    if (count === 1) resolve(why);
    else onSecond();
  };
  const term = on('SIGTERM');
  const int = on('SIGINT');
  const abort = on('abort');
  process.on('SIGTERM', term);
  process.on('SIGINT', int);
  signal?.addEventListener('abort', abort, { once: true });
  return { stopped, dispose: () => (process.off('SIGTERM', term), process.off('SIGINT', int), signal?.removeEventListener('abort', abort)) };
}

export async function workerCommand(options: WorkerCommandOptions, io: CommandIO): Promise<number> {
  const { lock, stalledInterval, metricsPort, ...configFlags } = options.flags ?? {};
  const loaded = loadConfig({ flags: configFlags, flagNames: FLAG_NAMES, ...(options.configPath === undefined ? {} : { configPath: options.configPath }), ...(options.env === undefined ? {} : { env: options.env }) });
  if (loaded.values.queue === undefined) throw new CyloError('CYLO_E_CONFIG', 'queue: cylo worker needs the Redis URL of the queue: --queue redis://HOST:PORT/DB (or CYLO_QUEUE, or "queue" in the config file)', { field: 'queue' });
  const connection = parseQueueUrl(loaded.values.queue);
  // TLS or a password that can never work stops the start (CYLO_E_CONFIG naming it and the fix),
  // before any sandbox is prepared; Redis merely down does not (the worker waits for it).
  await probeQueue(connection);
  const log = jsonLog(io);
  const cyloOptions = cyloOptionsFromConfig(loaded);
  const concurrency = cyloOptions.concurrency ?? 2;
  // The pool queues nothing beyond the slots: BullMQ hands a worker at most `concurrency` jobs.
  const cylo = createCylo({ ...cyloOptions, concurrency, log });
  const lockMs = durationFlag(lock, '--lock');
  const stalledMs = durationFlag(stalledInterval, '--stalled-interval');
  let running = (): number => 0;
  const metrics = metricsPort === undefined ? undefined : new WorkerMetrics(cylo, () => running());
  const worker = new QueueWorker({ cylo, connection, concurrency, log, ...(metrics === undefined ? {} : { metrics }), ...(lockMs === undefined ? {} : { lockMs }), ...(stalledMs === undefined ? {} : { stalledMs }) });
  running = () => worker.runningJobs;
  let metricsServer: Server | undefined;
  const stop = stopRequested(options.signal, () => {
    log('warn', 'second stop request: stopping now; running jobs go back to the queue');
    void worker.close().then(() => cylo.close({ graceMs: 0 }));
  });
  try {
    await preflight(cylo);
    // Redis unreachable at start: start() waits for it; a stop request meanwhile is obeyed.
    const started = worker.start();
    started.catch(() => {}); // rejections: awaited in the race below
    if ((await Promise.race([started.then(() => true), stop.stopped.then(() => false)])) === false) {
      log('info', 'stop requested before the worker was ready (waiting for Redis); stopping', { queue: connection.display });
      return 0;
    }
    let port: number | undefined;
    if (metrics !== undefined) ({ server: metricsServer, port } = await metrics.listen('127.0.0.1', portFlag(metricsPort)));
    log('info', 'cylo worker ready', { id: worker.id, queue: connection.display, concurrency, pid: process.pid, ...(port === undefined ? {} : { metricsPort: port }) });
    const why = await stop.stopped;
    log('info', 'draining: no new jobs; the running ones finish', { signal: why, running: worker.stats().running });
    await worker.drain();
    log('info', 'drained', { completed: worker.stats().completed });
    return 0;
  } finally {
    stop.dispose();
    metricsServer?.close();
    await worker.close().catch(() => {});
    await cylo.close({ graceMs: 0 }).catch(() => {});
  }
}

/** Declares `cylo worker` on the program. */
export function register(program: Command): Command {
  return program
    .command('worker')
    .description('queue mode: take executions from a Redis queue filled by cylo serve --queue and run them here (see docs/scaling.md)')
    .option('--queue <url>', 'the Redis queue: redis://[:PASSWORD@]HOST[:PORT][/DB] or rediss:// (TLS); CYLO_QUEUE')
    .option('--concurrency <n>', 'jobs run at once, each in its own sandbox (default 2; CYLO_CONCURRENCY)')
    .option('--config <path>', `${CONFIG_OPTION_HELP}; flags > environment > file`)
    .option('--uid-base <n>', 'first sandbox uid of this worker (CYLO_UID_BASE)')
    .option('--uid-count <n>', 'sandbox uids of this worker (CYLO_UID_COUNT)')
    .option('--lock <duration>', "how long a job's lock lasts without renewal (default 30s): a killed worker's job is taken again after at most --lock + --stalled-interval")
    .option('--metrics-port <port>', 'serve this worker\'s Prometheus metrics at http://127.0.0.1:PORT/metrics (0: a free port, logged)')
    .option('--stalled-interval <duration>', 'how often jobs of dead workers are looked for (default 5s)')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const { config, ...flags } = o;
      process.exitCode = await workerCommand({ flags, configPath: config as string | undefined }, processIO);
    });
}
