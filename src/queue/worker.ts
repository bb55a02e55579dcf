// A queue worker (`cylo worker --queue URL`): takes jobs from the queue, runs each on its own
// cylo instance (its own sandbox pool and concurrency), returns the outcome, publishes live
// events when asked, obeys cancellations, and keeps its heartbeat in the registry.
// Every job is validated again here (job-schema.ts for the envelope, then normalizeRequest with
// this worker's policy: the same validation as the HTTP routes) before anything runs: Redis is
// not trusted more than an HTTP client.
// Reliability: BullMQ locks a job while its worker runs it (renewed every lockMs / 2); a worker
// killed mid-job stops renewing, another worker's stalled-job check (every stalledMs) puts the
// job back once (maxStalledCount 1) and a second stall fails it; a job is never run by two
// workers at once while its lock is held. drain() (SIGTERM) takes no new jobs and finishes the
// running ones.
// Closing while Redis is unreachable: every step of a close that needs Redis (the draining
// heartbeat, BullMQ's close, leaving the registry) is given up once Redis has been unreachable for
// CLOSE_PATIENCE_MS in a row; the worker then stops without it, logs so once, and ends its
// connections (endConnections), so the close ends in bounded time. The jobs it held stay active
// in Redis: BullMQ's stalled-job check on another worker takes them again once Redis is back (if
// Redis kept its data), as after a SIGKILL.
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Cylo } from '../cylo.js';
import { normalizeRequest, type ExecuteRequest } from '../api/request.js';
import { toCyloError } from '../errors.js';
import { CancelListener } from './cancel.js';
import { connect, endConnections, unlessUnreachable, type QueueConnection } from './connection.js';
import { QueueErrorLog, haltableConnection, type QueueLog } from './error-log.js';
import { eventPublisher } from './events-relay.js';
import { publishOutcome } from './result-channel.js';
import { JOB_VERSION, epochMs, parseJobData, type JobOutcome } from './job-schema.js';
import { QUEUE_NAME, QUEUE_PREFIX } from './keys.js';
import { HEARTBEAT_MS, HEARTBEAT_TTL_MS, removeHeartbeat, writeHeartbeat, type WorkerInfo } from './registry.js';

export type WorkerLog = QueueLog;

/** How long a closing worker waits for an unreachable Redis (ms, in a row) before it stops
 *  without it. */
export const CLOSE_PATIENCE_MS = 5000;

export interface QueueWorkerOptions {
  cylo: Cylo;
  connection: QueueConnection;
  /** Jobs run at once (BullMQ's concurrency; the cylo pool has as many slots). */
  concurrency: number;
  /** How long a job's lock lasts without renewal (ms; default 30 s): a killed worker's job is
   *  taken again after at most lockMs + stalledMs. */
  lockMs?: number;
  /** How often stalled jobs are looked for (ms; default 5 s). */
  stalledMs?: number;
  id?: string;
  log: WorkerLog;
  /** Where finished jobs are counted (the worker's /metrics), if anywhere. */
  metrics?: { record(outcome: 'result' | 'error', seconds: number): void };
}

export class QueueWorker {
  readonly id: string;
  private readonly commands: Redis;
  private readonly blocking: Redis;
  private readonly subscriber: Redis;
  private readonly cancels: CancelListener;
  private readonly errors: QueueErrorLog;
  private worker: Worker | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private info: WorkerInfo | undefined;
  private running = 0;
  private completed = 0;
  private draining = false;
  /** Jobs taken and not yet recorded as finished in Redis (running, or their completion unwritten). */
  private readonly held = new Set<string>();
  /** Set by the first drain() or close(): the one stop of this worker. */
  private stopping: Promise<void> | undefined;
  /** Once true, the connections stop reconnecting (endConnections). */
  private ended = false;

  constructor(private readonly options: QueueWorkerOptions) {
    this.id = options.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const ended = (): boolean => this.ended;
    this.commands = connect(options.connection, 'blocking', `cylo-worker-${this.id}`, ended);
    this.blocking = connect(options.connection, 'blocking', `cylo-worker-jobs-${this.id}`, ended);
    this.subscriber = connect(options.connection, 'subscriber', `cylo-worker-cancel-${this.id}`, ended);
    this.errors = new QueueErrorLog(options.log, options.connection.display, options.connection.redis.password);
    this.errors.watch('the worker\'s commands', this.commands);
    this.errors.watch('the worker\'s job connection', this.blocking);
    this.errors.watch('the worker\'s cancel channel', this.subscriber);
    // Back in the registry as soon as Redis is (a restarted Redis knows no worker): not at the
    // next heartbeat, so that API nodes route to this worker again at once.
    this.commands.on('ready', () => void this.beat());
    this.cancels = new CancelListener(this.subscriber, this.commands);
  }

  /** Advertises the available runtimes, subscribes to cancellations, then takes jobs. */
  async start(): Promise<void> {
    const runtimes = (await this.options.cylo.runtimes()).filter((r) => r.available).map((r) => ({ language: r.language, aliases: r.aliases, version: r.version, extension: r.extension, compiled: r.compiled }));
    this.info = { id: this.id, host: hostname(), pid: process.pid, runtimes, concurrency: this.options.concurrency, running: 0, completed: 0, startedAt: new Date().toISOString(), draining: false };
    await this.cancels.start();
    await this.beat();
    // Stopped while it waited for Redis: no BullMQ worker is made.
    if (this.stopping !== undefined) return;
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
    this.worker = new Worker(QUEUE_NAME, (job) => this.process(job), {
      connection: this.blocking,
      prefix: QUEUE_PREFIX,
      concurrency: this.options.concurrency,
      lockDuration: this.options.lockMs ?? 30_000,
      stalledInterval: this.options.stalledMs ?? 5000,
      maxStalledCount: 1,
    }, haltableConnection(() => this.ended));
    this.errors.watch('BullMQ Worker', this.worker);
    // Recorded in Redis (BullMQ's completion or failure written): no longer this worker's.
    const recorded = (job: Job | undefined): void => {
      if (job?.id !== undefined) this.held.delete(job.id);
    };
    this.worker.on('completed', recorded);
    this.worker.on('failed', recorded);
    await this.worker.waitUntilReady();
  }

  private async beat(): Promise<void> {
    if (this.info === undefined) return;
    this.info = { ...this.info, running: this.running, completed: this.completed, draining: this.draining };
    await writeHeartbeat(this.commands, this.info).catch(() => {});
  }

  /** One job: its outcome, published at once to the API node waiting for it (the fast path,
   *  result-channel.ts) and returned to BullMQ (which completes the job and reports it too). */
  private async process(job: Job): Promise<JobOutcome> {
    if (job.id !== undefined) this.held.add(job.id);
    const outcome = await this.run(job);
    const reply = (job.data as { reply?: unknown } | undefined)?.reply;
    // Only a reply that passed the job's check (32 hex digits): a job's data names no other channel.
    if (typeof reply === 'string' && /^[0-9a-f]{32}$/.test(reply) && job.id !== undefined) publishOutcome(this.commands, reply, job.id, outcome);
    return outcome;
  }

  /** One job: checked, run, its outcome returned (errors are outcomes too: a job fails in
   *  BullMQ's sense only when its worker dies). */
  private async run(job: Job): Promise<JobOutcome> {
    let startedAt = epochMs(); // moved to the execution's start once the job passed its checks
    const outcome = (o: Pick<JobOutcome, 'result' | 'error'>): JobOutcome => {
      const finishedAt = epochMs();
      this.options.metrics?.record(o.result === undefined ? 'error' : 'result', (finishedAt - startedAt) / 1000);
      return { v: JOB_VERSION, worker: this.id, startedAt, finishedAt, ...o };
    };
    this.running++;
    const controller = new AbortController();
    let unwatch = (): void => {};
    let live: ReturnType<typeof eventPublisher> | undefined;
    try {
      const data = parseJobData(job.data);
      // The same validation as the HTTP routes, with this worker's limits and languages.
      normalizeRequest(data.request, this.options.cylo.policy);
      if (data.stream && job.id !== undefined) live = eventPublisher(this.commands, job.id);
      startedAt = epochMs();
      const running = this.options.cylo.execute(data.request as ExecuteRequest, { signal: controller.signal, ...(live === undefined ? {} : { onEvent: live.onEvent }) });
      running.catch(() => {}); // handled below (awaited after the watch is in place)
      // The cancel check (a cancel sent before this worker took the job) runs alongside the
      // start of the execution, off the latency path (its Redis write came first before: 0.1 ms
      // of the hop): a hit aborts it like a live cancel does; a cancel published in between is
      // caught by the same check, its key being set before the message goes out.
      const watching = job.id === undefined ? Promise.resolve(() => {}) : this.cancels.watch(job.id, controller);
      unwatch = await watching.catch(() => () => {});
      const result = await running;
      return outcome({ result: result as unknown as JobOutcome['result'] });
    } catch (error) {
      const e = toCyloError(error);
      if (e.code === 'CYLO_E_INTERNAL') this.options.log('error', 'job failed with an internal error', { jobId: job.id, err: String((e.cause as Error | undefined)?.stack ?? e.message) });
      return outcome({ error: e.toJSON().error });
    } finally {
      unwatch();
      await live?.end();
      this.running--;
      this.completed++;
    }
  }

  /** Graceful stop: takes no new jobs, finishes the running ones, leaves the registry. Waits
   *  for an unreachable Redis CLOSE_PATIENCE_MS (in a row) at most, then stops without it (see
   *  the top of this file). */
  drain(): Promise<void> {
    this.stopping ??= this.stop(CLOSE_PATIENCE_MS, async () => {
      this.draining = true;
      // Waits for Redis (its offline queue) while it is away, so BullMQ's graceful close starts
      // with Redis there, or not at all (the give-up in stop() closes it at once instead).
      await this.beat();
      await this.worker?.close();
    });
    return this.stopping;
  }

  /** Stops at once, without waiting for an unreachable Redis (running jobs are left to the
   *  stalled-job check); after drain(), the same stop as drain's. */
  close(): Promise<void> {
    this.stopping ??= this.stop(0, async () => {
      await this.worker?.close(true);
    });
    return this.stopping;
  }

  private async stop(patienceMs: number, closeWorker: () => Promise<void>): Promise<void> {
    const patient = (step: Promise<unknown>): Promise<boolean> => unlessUnreachable(this.commands, step, patienceMs);
    let done = await patient(closeWorker());
    clearInterval(this.heartbeat);
    this.errors.mute();
    if (done && this.info !== undefined) done = await patient(removeHeartbeat(this.commands, this.id).catch(() => {}));
    if (!done) {
      const { display } = this.options.connection;
      const held = this.held.size;
      const jobs = held === 0 ? 'It held no job.' : `The ${held} job(s) it held (running, or finished without their completion written) stay active in Redis: once Redis is back with its data, BullMQ's stalled-job check gives each to another worker (once; one whose second worker is lost too fails with CYLO_E_INTERNAL).`;
      this.options.log('warn', `queue: Redis ${display} was unreachable while this worker stopped${patienceMs > 0 ? ` (${patienceMs / 1000} s in a row)` : ''}: it stopped without it. ${jobs} Jobs still waiting stay in Redis for the other workers; this worker's heartbeat expires by itself within ${HEARTBEAT_TTL_MS / 1000} s.`, { code: 'CYLO_E_QUEUE_UNAVAILABLE', queue: display, held });
      this.ended = true;
      // BullMQ's worker closed at once (a no-op when its graceful close has begun), before its
      // connection fails what waits on it: not closing, BullMQ would pause 5 s after such a
      // failure (and its next stalled-job check would keep the process another interval).
      this.worker?.close(true).catch(() => {});
    }
    // No more reconnection: a connection waiting for Redis ends at its next attempt, failing what
    // still waits on it (a heartbeat write, BullMQ's close), so nothing is left behind. BullMQ gets
    // no client from now on (haltableConnection): a job ending later is not written as finished
    // (it stays active in Redis, for the stalled-job check) instead of retried without a pause.
    this.ended = true;
    await endConnections([this.commands, this.blocking, this.subscriber]);
    // Given up: BullMQ's close ends once what it waited on has failed; bounded all the same.
    if (!done) await Promise.race([this.worker?.close(true).catch(() => {}), sleep(1000, undefined, { ref: false })]);
  }

  /** Jobs running now. */
  get runningJobs(): number {
    return this.running;
  }

  /** Load, for logs and the registry. */
  stats(): { running: number; completed: number } {
    return { running: this.running, completed: this.completed };
  }
}
