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
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Cylo } from '../cylo.js';
import { normalizeRequest, type ExecuteRequest } from '../api/request.js';
import { toCyloError } from '../errors.js';
import { CancelListener } from './cancel.js';
import { connect, type QueueConnection } from './connection.js';
import { KeptErrorConnection, QueueErrorLog, type QueueLog } from './error-log.js';
import { eventPublisher } from './events-relay.js';
import { publishOutcome } from './result-channel.js';
import { JOB_VERSION, epochMs, parseJobData, type JobOutcome } from './job-schema.js';
import { QUEUE_NAME, QUEUE_PREFIX } from './keys.js';
import { HEARTBEAT_MS, removeHeartbeat, writeHeartbeat, type WorkerInfo } from './registry.js';

export type WorkerLog = QueueLog;

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

  constructor(private readonly options: QueueWorkerOptions) {
    this.id = options.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.commands = connect(options.connection, 'blocking', `cylo-worker-${this.id}`);
    this.blocking = connect(options.connection, 'blocking', `cylo-worker-jobs-${this.id}`);
    this.subscriber = connect(options.connection, 'subscriber', `cylo-worker-cancel-${this.id}`);
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
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
    this.worker = new Worker(QUEUE_NAME, (job) => this.process(job), {
      connection: this.blocking,
      prefix: QUEUE_PREFIX,
      concurrency: this.options.concurrency,
      lockDuration: this.options.lockMs ?? 30_000,
      stalledInterval: this.options.stalledMs ?? 5000,
      maxStalledCount: 1,
    }, KeptErrorConnection);
    this.errors.watch('BullMQ Worker', this.worker);
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

  /** Graceful stop: takes no new jobs, finishes the running ones, leaves the registry. */
  async drain(): Promise<void> {
    this.draining = true;
    await this.beat();
    await this.worker?.close();
    await this.stop();
  }

  /** Stops at once (running jobs are left to the stalled-job check). */
  async close(): Promise<void> {
    await this.worker?.close(true);
    await this.stop();
  }

  private async stop(): Promise<void> {
    this.errors.mute();
    clearInterval(this.heartbeat);
    await removeHeartbeat(this.commands, this.id).catch(() => {});
    for (const c of [this.commands, this.blocking, this.subscriber]) c.disconnect();
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
