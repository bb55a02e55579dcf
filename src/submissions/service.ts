// The submission service: asynchronous executions that outlive a request and a restart. An entry
// point in front of the gate (like the routes): it stores a submission BEFORE answering, runs
// stored ones through the server's one execution path (`run`, i.e. ServerState.run -> the gate)
// with at most `concurrency` at once (the rest wait in the store, not in the pool's bounded
// queue), records the result, and posts the webhook. Nothing below the gate imports it.
//
// Interface for adapters (the native routes, the Judge0 API): submit / submitBatch, get /
// getMany, wait, cancel, each with the owner (ownerOfKey(apiKey), or null without keys): a
// submission another owner made is reported as absent (undefined), never as forbidden.
import { EventEmitter } from 'node:events';
import type { ExecuteRequest } from '../api/request.js';
import type { ExecutionResult } from '../api/result.js';
import { CyloError, toCyloError } from '../errors.js';
import type { Finish, StoredSubmission, SubmissionStore } from './store.js';
import { FINAL_STATUSES } from './store.js';
import { newSubmissionId, toView, type SubmissionView } from './view.js';
import type { Resolver, WebhookAllowList } from './webhook-allow.js';
import type { WebhookDispatcher } from './webhook-deliver.js';

export const DEFAULT_RETENTION_MS = 24 * 3600_000;
/** Submissions waiting at most (beyond: 503 CYLO_E_QUEUE_FULL), so that a flood cannot fill the disk. */
export const DEFAULT_MAX_QUEUED = 10_000;

export interface SubmissionServiceOptions {
  store: SubmissionStore;
  /** One execution through the server's path; rejects with a CyloError. */
  run: (request: ExecuteRequest, signal: AbortSignal) => Promise<ExecutionResult>;
  /** Refuses a request the gate would refuse (throws a 4xx CyloError), at submit time. */
  validate: (request: ExecuteRequest) => Promise<void>;
  /** Submissions running at once (>= 1). */
  concurrency: number;
  /** Submissions waiting at most (default 10 000); beyond, new ones are refused (503). */
  maxQueued?: number;
  /** How long a final submission is kept, ms (default 24 h). */
  retentionMs?: number;
  /** How often expired ones are deleted, ms (default min(retention, 1 min)). */
  sweepIntervalMs?: number;
  /** Where callbacks may go; without it, a callbackUrl is refused. */
  allow?: WebhookAllowList;
  webhooks?: WebhookDispatcher;
  resolver?: Resolver;
  log?: (level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>) => void;
  now?: () => number;
}

export interface SubmissionInput {
  request: ExecuteRequest;
  callbackUrl?: string | undefined;
}

/** One entry of a batch: its record, or why it was refused (nothing stored for it). */
export type BatchEntry = { submission: SubmissionView } | { error: CyloError };

interface Running {
  controller: AbortController;
  why: 'cancel' | 'close' | undefined;
}

const RECOVERY_MESSAGE = 'the server stopped twice while running this submission (killed or crashed); it was not started a third time';

export class SubmissionService {
  readonly retentionMs: number;
  private readonly running = new Map<string, Running>();
  private readonly tasks = new Set<Promise<void>>();
  private readonly events = new EventEmitter().setMaxListeners(0);
  private readonly now: () => number;
  private stopped = false;
  private pumping = false;
  private pumpAgain = false;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SubmissionServiceOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) throw new CyloError('CYLO_E_CONFIG', `submissions: concurrency must be a whole number >= 1 (got ${options.concurrency})`, { field: 'concurrency' });
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.now = options.now ?? Date.now;
  }

  /** Restart recovery, a first sweep, pending webhooks resumed, then the queue runs. */
  async start(): Promise<void> {
    const { store } = this.options;
    for (const s of await store.listByStatus('running')) {
      if (s.attempts >= 2) {
        const done = await store.finish(s.id, { status: 'done', result: null, error: { code: 'CYLO_E_INTERNAL', message: RECOVERY_MESSAGE } }, this.now(), ['running']);
        if (done !== undefined) this.settled(done);
        this.log('warn', 'submission was running when the server died, for the second time: marked done with an internal error', { submissionId: s.id });
      } else {
        await store.requeue(s.id, s.attempts);
        this.log('warn', 'submission was running when the server died: it runs again', { submissionId: s.id });
      }
    }
    await this.sweep();
    for (const s of await store.pendingWebhooks()) this.deliver(s);
    const every = this.options.sweepIntervalMs ?? Math.max(1000, Math.min(this.retentionMs, 60_000));
    this.sweepTimer = setInterval(() => void this.sweep().catch((error: unknown) => this.log('error', 'retention sweep failed', { err: String(error) })), every);
    this.sweepTimer.unref();
    this.pump();
  }

  /** Deletes final submissions older than the retention; returns how many. */
  async sweep(): Promise<number> {
    const removed = await this.options.store.sweep(this.now() - this.retentionMs);
    if (removed > 0) this.log('info', 'expired submissions deleted', { removed });
    return removed;
  }

  /** Validates and stores one submission (queued), then answers with it. Throws the 4xx
   *  CyloError of an invalid request or callbackUrl (nothing is stored then). */
  async submit(owner: string | null, input: SubmissionInput): Promise<SubmissionView> {
    const [entry] = await this.submitBatch(owner, [input], { allOrNothing: true });
    if (entry === undefined || 'error' in entry) throw entry?.error ?? new CyloError('CYLO_E_INTERNAL', 'internal error: no submission stored');
    return entry.submission;
  }

  /** Validates each entry; stores the valid ones in one transaction. Per entry: the record or
   *  the error. `allOrNothing`: the first invalid entry is thrown and nothing is stored. */
  async submitBatch(owner: string | null, inputs: SubmissionInput[], options: { allOrNothing?: boolean } = {}): Promise<BatchEntry[]> {
    if (this.stopped) throw new CyloError('CYLO_E_SHUTTING_DOWN', 'the service is shutting down and accepts no new submissions; retry on another instance');
    const checked: Array<StoredSubmission | CyloError> = [];
    for (const input of inputs) {
      try {
        checked.push(await this.accept(owner, input));
      } catch (error) {
        const err = toCyloError(error);
        if (options.allOrNothing === true || err.status >= 500) throw err;
        checked.push(err);
      }
    }
    const valid = checked.filter((c): c is StoredSubmission => !(c instanceof CyloError));
    if (valid.length > 0) {
      const max = this.options.maxQueued ?? DEFAULT_MAX_QUEUED;
      const queued = await this.options.store.countQueued();
      if (queued + valid.length > max) throw new CyloError('CYLO_E_QUEUE_FULL', `${queued} submissions are queued, the most this server keeps is ${max}; retry later`);
      await this.options.store.insert(valid);
    }
    this.pump();
    return checked.map((c) => (c instanceof CyloError ? { error: c } : { submission: toView(c, this.retentionMs) }));
  }

  private async accept(owner: string | null, input: SubmissionInput): Promise<StoredSubmission> {
    await this.options.validate(input.request);
    let callbackUrl: string | null = null;
    if (input.callbackUrl !== undefined) {
      if (this.options.allow === undefined || this.options.webhooks === undefined) throw new CyloError('CYLO_E_CALLBACK_NOT_ALLOWED', 'callbackUrl: this server sends no webhooks', { field: 'callbackUrl' });
      callbackUrl = (await this.options.allow.checkUrl(input.callbackUrl, this.options.resolver)).href;
    }
    const createdAt = this.now();
    return { id: newSubmissionId(), owner, status: 'queued', request: input.request, callbackUrl, attempts: 0, result: null, error: null, createdAt, startedAt: null, finishedAt: null, webhook: null, deliveries: [] };
  }

  private async visible(owner: string | null, id: string): Promise<StoredSubmission | undefined> {
    const s = await this.options.store.get(id);
    return s !== undefined && s.owner === owner ? s : undefined;
  }

  /** The submission, or undefined when unknown, expired or another owner's. */
  async get(owner: string | null, id: string): Promise<SubmissionView | undefined> {
    const s = await this.visible(owner, id);
    return s === undefined ? undefined : toView(s, this.retentionMs);
  }

  async getMany(owner: string | null, ids: string[]): Promise<Array<SubmissionView | undefined>> {
    return Promise.all(ids.map((id) => this.get(owner, id)));
  }

  /** Resolves once the submission is final, or `signal` aborts, or `timeoutMs` passes, or the
   *  service stops: with the submission as it is then (undefined: not visible to this owner). */
  async wait(owner: string | null, id: string, signal?: AbortSignal, timeoutMs = 600_000): Promise<SubmissionView | undefined> {
    const first = await this.visible(owner, id);
    if (first === undefined || FINAL_STATUSES.includes(first.status) || this.stopped) return first === undefined ? undefined : toView(first, this.retentionMs);
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        clearInterval(poll);
        this.events.off(id, done);
        this.events.off('stop', done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      // A store shared with other instances (Redis) may finish it elsewhere: look now and then.
      const poll = setInterval(() => void this.options.store.get(id).then((s) => s !== undefined && FINAL_STATUSES.includes(s.status) && done(), () => {}), 1000);
      this.events.on(id, done);
      this.events.on('stop', done);
      signal?.addEventListener('abort', done, { once: true });
      // It may have finished between the first look and the listener.
      void this.options.store.get(id).then((s) => s !== undefined && FINAL_STATUSES.includes(s.status) && done(), () => {});
    });
    return this.get(owner, id);
  }

  /** Cancels a queued or running submission (a running one's execution is aborted); a final
   *  one is left as it is. Undefined when not visible to this owner. */
  async cancel(owner: string | null, id: string): Promise<SubmissionView | undefined> {
    const s = await this.visible(owner, id);
    if (s === undefined) return undefined;
    if (FINAL_STATUSES.includes(s.status)) return toView(s, this.retentionMs);
    const finished = await this.options.store.finish(id, { status: 'cancelled' }, this.now(), ['queued', 'running']);
    const running = this.running.get(id);
    if (running !== undefined) {
      running.why = 'cancel';
      running.controller.abort(new CyloError('CYLO_E_CANCELLED', 'the submission was cancelled'));
    }
    if (finished !== undefined) this.settled(finished);
    return this.get(owner, id);
  }

  /** Takes queued submissions while fewer than `concurrency` run. */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    void (async () => {
      do {
        this.pumpAgain = false;
        while (!this.stopped && this.running.size < this.options.concurrency) {
          const s = await this.options.store.claimNext(this.now());
          if (s === undefined) break;
          this.launch(s);
        }
      } while (this.pumpAgain && !this.stopped);
    })()
      .catch((error: unknown) => this.log('error', 'submission queue failed', { err: String(error) }))
      .finally(() => (this.pumping = false));
  }

  private launch(s: StoredSubmission): void {
    const entry: Running = { controller: new AbortController(), why: undefined };
    this.running.set(s.id, entry);
    const task = this.execute(s, entry)
      .catch((error: unknown) => this.log('error', 'submission bookkeeping failed', { submissionId: s.id, err: String(error) }))
      .finally(() => {
        this.running.delete(s.id);
        this.tasks.delete(task);
        this.pump();
      });
    this.tasks.add(task);
  }

  private async execute(s: StoredSubmission, entry: Running): Promise<void> {
    const { store } = this.options;
    let outcome: Finish;
    try {
      const result = await this.options.run(s.request, entry.controller.signal);
      outcome = { status: 'done', result, error: null };
    } catch (error) {
      const err = toCyloError(error);
      if (entry.why === 'cancel') return; // cancel() already stored it
      if (entry.why === 'close' || ['CYLO_E_SHUTTING_DOWN', 'CYLO_E_CLOSED', 'CYLO_E_QUEUE_FULL'].includes(err.code)) {
        // Not the submission's fault: back to the queue, the attempt not counted.
        await store.requeue(s.id, s.attempts - 1);
        if (err.code === 'CYLO_E_QUEUE_FULL' && !this.stopped) setTimeout(() => this.pump(), 1000).unref();
        return;
      }
      outcome = { status: 'done', result: null, error: { code: err.code, message: err.message } };
    }
    const finished = await store.finish(s.id, outcome, this.now(), ['running']);
    if (finished !== undefined) this.settled(finished);
  }

  private settled(s: StoredSubmission): void {
    this.events.emit(s.id);
    this.deliver(s);
  }

  private deliver(s: StoredSubmission): void {
    if (s.callbackUrl === null || s.webhook !== 'pending' || this.options.webhooks === undefined) return;
    this.options.webhooks.deliver(s.id, s.callbackUrl, JSON.stringify(toView(s, this.retentionMs)), s.deliveries.length);
  }

  /** Stops taking queued work and releases waiters; `abortRunning`: running executions are
   *  stopped now and go back to the queue (otherwise they finish, or are stopped by the
   *  instance's own close). Idempotent. */
  stop(options: { abortRunning?: boolean } = {}): void {
    this.stopped = true;
    clearInterval(this.sweepTimer);
    this.events.emit('stop');
    if (options.abortRunning === true) {
      for (const entry of this.running.values()) {
        entry.why ??= 'close';
        entry.controller.abort(new CyloError('CYLO_E_SHUTTING_DOWN', 'the server is stopping; the submission runs again after the restart'));
      }
    }
  }

  /** stop(), then waits for running executions to be recorded, stops webhook deliveries (left
   *  pending: resumed after the restart) and closes the store. */
  async close(options: { abortRunning?: boolean } = {}): Promise<void> {
    this.stop(options);
    await Promise.allSettled([...this.tasks]);
    await this.options.webhooks?.close();
    await this.options.store.close();
  }

  private log(level: 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>): void {
    this.options.log?.(level, message, fields);
  }
}
