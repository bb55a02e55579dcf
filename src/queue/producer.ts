// The API node's side of queue mode (`cylo serve --queue URL`): ServerState.run hands every
// execution here instead of to the local gate, so every API (native, SSE, Piston, Judge0 sync
// and async, submissions, MCP) goes through the queue without any route knowing.
//
// Routing: one BullMQ queue; before enqueueing, the request's language is checked against the
// live worker registry (registry.ts), so a language no live worker offers is refused at once
// (CYLO_E_NO_WORKER) instead of waiting for a timeout. A deployment's workers should offer the
// same languages (a worker given a job for a language it lacks answers CYLO_E_UNKNOWN_LANGUAGE
// or CYLO_E_RUNTIME_UNAVAILABLE, see docs/scaling.md).
// Bound: jobs waiting in Redis beyond `queueLimit` are refused with CYLO_E_QUEUE_FULL (bound.ts:
// read from Redis on the path only near the bound).
// Redis unreachable: CYLO_E_QUEUE_UNAVAILABLE at once (503 + Retry-After), recovering by itself.
// Closing needs no Redis: close() ends in bounded time whether Redis is reachable or not (it
// logs once when it is not; the jobs this node queued stay in Redis for the workers).
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ExecuteRequest } from '../api/request.js';
import type { ExecutionResult } from '../api/result.js';
import type { ExecutionEvent } from '../engine/lifecycle.js';
import { CyloError, toCyloError } from '../errors.js';
import { QueueBound } from './bound.js';
import { requestCancelDurably } from './cancel.js';
import { connect, endConnections, isConnectionError, queueUnavailable, whenReady, type QueueConnection } from './connection.js';
import { KeptErrorConnection, QueueErrorLog, type QueueLog } from './error-log.js';
import { END_WAIT_MS, EventRelay } from './events-relay.js';
import { JOB_VERSION, epochMs, outcomeResult, type JobData, type JobOutcome } from './job-schema.js';
import { QUEUE_NAME, QUEUE_PREFIX } from './keys.js';
import { liveWorkers, offers, unionRuntimes, type WorkerInfo } from './registry.js';
import type { RuntimeInfo } from '../cylo.js';
import { PendingJobs } from './result-wait.js';
import { ResultChannel } from './result-channel.js';
import { QueueStats } from './stats.js';

export interface QueueClientOptions {
  connection: QueueConnection;
  /** Jobs that may wait in Redis; beyond it CYLO_E_QUEUE_FULL. */
  queueLimit: number;
  /** The node's logger: every Redis/BullMQ error goes there (error-log.ts). */
  log: QueueLog;
}

export interface QueueRunOptions {
  signal?: AbortSignal | undefined;
  onEvent?: ((event: ExecutionEvent) => void) | undefined;
  /** SHA-256 (hex) of the caller's API key, or null without keys. */
  owner: string | null;
  api: JobData['api'];
}

/** How often the registry is read in the background for routing (ms); a read older than
 *  REGISTRY_STALE_MS (Redis down) is not used. */
const REGISTRY_REFRESH_MS = 1000;
const REGISTRY_STALE_MS = 3000;

export class QueueClient {
  readonly stats: QueueStats;
  private readonly commands: Redis;
  private readonly subscriber: Redis;
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly eventsConnection: Redis;
  private readonly pending: PendingJobs;
  private readonly relay: EventRelay;
  private readonly results: ResultChannel;
  private readonly resultsConnection: Redis;
  private readonly bound: QueueBound;
  private readonly errors: QueueErrorLog;
  private readonly registryTimer: NodeJS.Timeout;
  private registry: { at: number; workers: WorkerInfo[] } | undefined;
  private lastError: unknown;
  /** Aborted by close(): cancels still being retried stop, and the connections stop reconnecting. */
  private readonly closing = new AbortController();

  constructor(private readonly options: QueueClientOptions) {
    const { connection } = options;
    const closed = (): boolean => this.closing.signal.aborted;
    this.commands = connect(connection, 'command', 'cylo-api', closed);
    this.subscriber = connect(connection, 'subscriber', 'cylo-api-events', closed);
    // The queue's own commands fail fast too (no offline queue): the request gets its 503 now.
    this.queue = new Queue(QUEUE_NAME, { connection: this.commands, prefix: QUEUE_PREFIX }, KeptErrorConnection);
    this.eventsConnection = connect(connection, 'blocking', 'cylo-api-queue-events', closed);
    this.events = new QueueEvents(QUEUE_NAME, { connection: this.eventsConnection, prefix: QUEUE_PREFIX }, KeptErrorConnection);
    // Errors are reported per request and logged (error-log.ts); the connections reconnect by themselves.
    this.resultsConnection = connect(connection, 'subscriber', 'cylo-api-results', closed);
    this.errors = new QueueErrorLog(options.log, connection.display, connection.redis.password);
    this.errors.watch('the API node\'s commands', this.commands);
    this.errors.watch('the API node\'s live events', this.subscriber);
    this.errors.watch('the API node\'s queue events connection', this.eventsConnection);
    this.errors.watch('the API node\'s results channel', this.resultsConnection);
    this.errors.watch('BullMQ Queue', this.queue);
    this.errors.watch('BullMQ QueueEvents', this.events);
    // The last connection error, so that a 503 names a TLS or password problem (probe.ts).
    this.commands.on('error', (error) => (this.lastError = error));
    this.commands.on('ready', () => (this.lastError = undefined));
    this.pending = new PendingJobs(this.queue, this.events, connection.display);
    this.relay = new EventRelay(this.subscriber);
    this.results = new ResultChannel(this.resultsConnection, (jobId, outcome) => this.pending.deliver(jobId, outcome));
    this.stats = new QueueStats(this.queue, () => this.workers());
    // Off the request path: a request routes on this read (refreshed every second, as the
    // per-request cache was); only a miss reads again on the path.
    this.registryTimer = setInterval(() => void this.workers().catch(() => {}), REGISTRY_REFRESH_MS);
    this.registryTimer.unref();
    this.bound = new QueueBound(() => this.queue.getWaitingCount(), options.queueLimit, (waiting) => this.stats.noteWaiting(waiting));
  }

  /** The Redis URL without its password. */
  get display(): string {
    return this.options.connection.display;
  }

  /** Resolves once the queue events stream is read (jobs added after it are seen) and the
   *  command connection is ready (before it, execute answers CYLO_E_QUEUE_UNAVAILABLE: a bench
   *  run's first execution right after ready() got that under load). */
  async ready(): Promise<void> {
    await Promise.all([this.events.waitUntilReady(), whenReady(this.commands)]);
  }

  /** The live workers (a fresh read; throws CYLO_E_QUEUE_UNAVAILABLE when Redis is down). */
  async workers(): Promise<WorkerInfo[]> {
    try {
      const workers = await liveWorkers(this.commands);
      this.registry = { at: Date.now(), workers };
      return workers;
    } catch (error) {
      throw queueUnavailable(this.options.connection.display, error);
    }
  }

  /** The runtimes the live workers offer (a fresh registry read), completed from this node's
   *  own list `local` (registry.ts unionRuntimes); throws CYLO_E_QUEUE_UNAVAILABLE when Redis is
   *  down. */
  async runtimes(local: readonly RuntimeInfo[]): Promise<RuntimeInfo[]> {
    return unionRuntimes(await this.workers(), local);
  }

  /** Jobs waiting and running (throws CYLO_E_QUEUE_UNAVAILABLE when Redis is down). */
  async depth(): Promise<{ waiting: number; active: number }> {
    try {
      const c = await this.queue.getJobCounts('waiting', 'prioritized', 'active');
      return { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0 };
    } catch (error) {
      throw queueUnavailable(this.options.connection.display, error);
    }
  }

  /** Seconds a refused client should wait: the queue's depth over the live workers' slots. */
  retryAfterSeconds(): number {
    return this.stats.retryAfterSeconds(this.registry?.workers ?? []);
  }

  /** Runs one execution on a worker: routing, bound, enqueue, live events, cancellation, the
   *  outcome. Throws the CyloError the worker reported, or CYLO_E_NO_WORKER, CYLO_E_QUEUE_FULL,
   *  CYLO_E_QUEUE_UNAVAILABLE, CYLO_E_CANCELLED. */
  async execute(body: ExecuteRequest, options: QueueRunOptions): Promise<ExecutionResult> {
    const { display } = this.options.connection;
    if (this.commands.status !== 'ready') throw queueUnavailable(display, this.lastError);
    options.signal?.throwIfAborted();
    await this.route(body.language);
    const jobId = randomUUID();
    const reply = this.results.reply;
    const data: JobData = { v: JOB_VERSION, request: body as Record<string, unknown>, owner: options.owner, api: options.api, stream: options.onEvent !== undefined, ...(reply === undefined ? {} : { reply }) };
    let live: Awaited<ReturnType<EventRelay['listen']>> | undefined;
    const enqueued = epochMs();
    const onAbort = (): void => this.cancel(jobId, options.signal?.reason);
    let admitted = false; // admitted by the bound and its add not ended yet
    try {
      await this.bound.admit();
      admitted = true;
      if (options.onEvent !== undefined) live = await this.relay.listen(jobId, options.onEvent);
      const outcome = this.pending.wait(jobId, options.owner);
      // Awaited below once the job is added; failed when adding fails (no unhandled rejection).
      outcome.catch(() => {});
      // Attempts 1: a job is never retried after it ran to an outcome; a job whose worker died
      // is re-run once by BullMQ's stalled-job check (the worker's maxStalledCount).
      try {
        await this.queue.add('execute', data, { jobId, attempts: 1, removeOnComplete: { age: 300, count: 10_000 }, removeOnFail: { age: 3600 } });
      } finally {
        admitted = false;
        this.bound.added();
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.signal?.aborted === true) onAbort(); // aborted while the job was being added
      const result: JobOutcome = await outcome;
      if (live !== undefined) await Promise.race([live.ended, new Promise((resolve) => setTimeout(resolve, END_WAIT_MS).unref())]);
      this.stats.record(result, enqueued);
      return outcomeResult(result);
    } catch (error) {
      if (admitted) this.bound.added(); // admitted, never added (the live relay failed)
      this.pending.abandon(jobId, toCyloError(error));
      if (isConnectionError(error)) throw queueUnavailable(display, error);
      throw error;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      live?.stop();
    }
  }

  /** Refuses at once a language no live worker offers (the background read is used while
   *  fresh; a miss is checked again against a fresh read). */
  private async route(language: string): Promise<void> {
    const fresh = this.registry !== undefined && Date.now() - this.registry.at < REGISTRY_STALE_MS;
    if (fresh && offers(this.registry?.workers ?? [], language)) return;
    const workers = await this.workers();
    if (offers(workers, language)) return;
    const known = [...new Set(workers.filter((w) => !w.draining).flatMap((w) => w.runtimes.map((r) => r.language)))].sort();
    throw new CyloError(
      'CYLO_E_NO_WORKER',
      workers.length === 0
        ? `language: no live worker is connected to the queue; start one with cylo worker --queue ${this.options.connection.display}`
        : `language: no live worker offers "${language}" (live workers offer: ${known.join(', ') || 'nothing'}); start a worker that has it`,
      { field: 'language' },
    );
  }

  /** The client went away: its wait ends now (CYLO_E_CANCELLED); every worker is told to
   *  cancel the job, retried while Redis is unreachable (until this client closes), then the job
   *  is removed when it still waits. */
  private cancel(jobId: string, reason: unknown): void {
    const error = reason instanceof CyloError ? reason : new CyloError('CYLO_E_CANCELLED', 'the execution was cancelled by its caller');
    this.pending.abandon(jobId, error);
    void (async () => {
      if (!(await requestCancelDurably(this.commands, jobId, this.closing.signal))) return;
      await this.queue.remove(jobId).catch(() => {
        // Redis down again, or the job is running (locked): its worker has the cancel.
      });
    })();
  }

  /** Stops waiting (pending requests get CYLO_E_SHUTTING_DOWN) and closes every connection,
   *  without waiting for Redis: in bounded time even while Redis is unreachable. */
  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    const { display } = this.options.connection;
    if (this.commands.status !== 'ready') {
      this.options.log('warn', `queue: Redis ${display} is unreachable while this API node closes: it closes without it. The jobs it queued stay in Redis (if Redis keeps its data) and run on the workers once it is back, their results unread (they expire); its clients still waiting were answered CYLO_E_SHUTTING_DOWN or CYLO_E_QUEUE_UNAVAILABLE and retry elsewhere.`, { code: 'CYLO_E_QUEUE_UNAVAILABLE', queue: display, waiting: this.pending.size });
    }
    this.bound.close();
    this.closing.abort();
    clearInterval(this.registryTimer);
    this.pending.close(new CyloError('CYLO_E_SHUTTING_DOWN', 'the service is shutting down; retry on another instance'));
    this.errors.mute();
    // A Queue whose connection is still starting fails when its connection ends: into the
    // listener KeptErrorConnection keeps (error-log.ts), never into the process. QueueEvents'
    // close waits for its connection's start, which, Redis unreachable, only ends when the
    // connection does: hence both at once.
    const closed = Promise.allSettled([this.events.close(), this.queue.close()]);
    await endConnections([this.subscriber, this.resultsConnection, this.eventsConnection, this.commands]);
    // Settled once the connections ended; bounded for one endConnections had to cut short.
    await Promise.race([closed, sleep(1000, undefined, { ref: false })]);
  }
}

