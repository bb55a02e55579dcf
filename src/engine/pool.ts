// The execution pool: the one place where concurrency, queueing and cancellation live.
//  - at most `concurrency` executions run at once (default: the number of cores);
//  - the rest wait in a FIFO queue bounded by `queueLimit`; beyond it, CYLO_E_QUEUE_FULL;
//  - an AbortSignal cancels a queued execution (it never starts) or a running one;
//  - slots (an unprivileged uid and a cgroup) are created ahead and reused; a slot is checked
//    and reset between uses, and a slot whose reset fails is retired, never reused;
//  - of the idle slots, an execution gets the last freed one its `prefer` accepts (the slot
//    whose prepared sandbox fits it: src/backend/backend.ts preparedFor), else the last freed.
import { availableParallelism } from 'node:os';
import { CyloError } from '../errors.js';

export interface PoolSlot {
  /** Best-effort synchronous cleanup of an idle slot when the process exits. */
  destroyIdleSync?(): void;
  /** Prepares the slot for its next use; throws when it cannot be made clean. */
  reset(): Promise<void>;
  /** Destroys the slot (kill anything left, remove the cgroup, free the uid). */
  destroy(): Promise<void>;
}

/** Options of a pool, already normalised (src/options.ts checks them once for the library). */
export interface PoolOptions<S extends PoolSlot> {
  concurrency?: number;
  queueLimit?: number;
  /** Creates a slot (called ahead of time, up to `concurrency` slots). */
  createSlot: () => Promise<S>;
}

export interface PoolStats {
  concurrency: number;
  queueLimit: number;
  running: number;
  queued: number;
  idleSlots: number;
  retiredSlots: number;
  completed: number;
}

/** Which idle slot an execution would rather have (true: this one); a preference only. */
export type SlotPreference<S> = (slot: S) => boolean;

interface Waiter<S extends PoolSlot> {
  resolve: (slot: S) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class ExecutionPool<S extends PoolSlot> {
  readonly concurrency: number;
  readonly queueLimit: number;
  private readonly createSlot: () => Promise<S>;
  private readonly idle: S[] = [];
  private readonly queue: Waiter<S>[] = [];
  private running = 0;
  private retired = 0;
  private completed = 0;
  private closed = false;
  private readonly drainWaiters: Array<() => void> = [];

  constructor(options: PoolOptions<S>) {
    this.concurrency = options.concurrency ?? availableParallelism();
    this.queueLimit = options.queueLimit ?? this.concurrency * 16;
    this.createSlot = options.createSlot;
  }

  /** Synchronous best-effort cleanup of idle slots (for process 'exit'). */
  destroyIdleSync(): void {
    for (const slot of this.idle.splice(0)) slot.destroyIdleSync?.();
  }

  stats(): PoolStats {
    return { concurrency: this.concurrency, queueLimit: this.queueLimit, running: this.running, queued: this.queue.length, idleSlots: this.idle.length, retiredSlots: this.retired, completed: this.completed };
  }

  /** Creates idle slots ahead of time so that the first executions pay no setup. */
  async warm(count = this.concurrency): Promise<void> {
    const want = Math.min(count, this.concurrency) - this.idle.length - this.running;
    const made = await Promise.all(Array.from({ length: Math.max(0, want) }, () => this.createSlot()));
    this.idle.push(...made);
  }

  /** Runs `task` with a slot when one is free (FIFO): an idle one `prefer` accepts when there
   *  is one (a queued execution gets the slot just freed: no other is idle then). Rejects with
   *  CYLO_E_QUEUE_FULL when the queue is full, CYLO_E_CANCELLED when `signal` aborts while
   *  waiting. */
  async run<T>(task: (slot: S, signal: AbortSignal | undefined) => Promise<T>, signal?: AbortSignal, prefer?: SlotPreference<S>): Promise<T> {
    const slot = await this.acquire(signal, prefer);
    try {
      return await task(slot, signal);
    } finally {
      // The caller has its result now; the slot is reset in the background (after the caller's
      // own continuation, e.g. writing an HTTP response, has run: the reset starts the slot's
      // next sandbox, and spawning blocks the event loop briefly) and only then handed to the
      // next execution (or retired).
      setImmediate(() => void this.release(slot));
    }
  }

  /** The last freed idle slot `prefer` accepts, else the last freed one; undefined when none is
   *  idle. */
  private takeIdle(prefer: SlotPreference<S> | undefined): S | undefined {
    if (prefer !== undefined) {
      for (let i = this.idle.length - 1; i >= 0; i--) {
        if (prefer(this.idle[i] as S)) return this.idle.splice(i, 1)[0];
      }
    }
    return this.idle.pop();
  }

  private async acquire(signal: AbortSignal | undefined, prefer: SlotPreference<S> | undefined): Promise<S> {
    if (this.closed) throw new CyloError('CYLO_E_SHUTTING_DOWN', 'the execution pool is closed; no new executions are accepted');
    if (signal?.aborted === true) throw new CyloError('CYLO_E_CANCELLED', 'execution cancelled before it started');
    if (this.running < this.concurrency && this.queue.length === 0) {
      this.running += 1;
      try {
        return this.takeIdle(prefer) ?? (await this.createSlot());
      } catch (error) {
        this.running -= 1;
        this.dispatch();
        throw error;
      }
    }
    if (this.queue.length >= this.queueLimit) {
      throw new CyloError('CYLO_E_QUEUE_FULL', `all ${this.concurrency} slots are busy and ${this.queue.length} executions are queued; retry later`);
    }
    return new Promise<S>((resolve, reject) => {
      const waiter: Waiter<S> = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          reject(new CyloError('CYLO_E_CANCELLED', 'execution cancelled while waiting in the queue'));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private async release(slot: S): Promise<void> {
    this.completed += 1;
    try {
      // Closing (a one-shot `cylo exec` closes as soon as it has its result): the slot is never
      // used again, so it is destroyed (every process killed, cgroup removed, uid released)
      // without the reset that would clean it for a next execution.
      if (this.closed) {
        await slot.destroy();
      } else {
        await slot.reset();
        if (this.closed) await slot.destroy();
        else this.idle.push(slot);
      }
    } catch {
      // A slot that cannot be made clean is never reused.
      this.retired += 1;
      await slot.destroy().catch(() => {});
    }
    this.running -= 1;
    this.dispatch();
  }

  /** Hands free capacity to the oldest waiter. */
  private dispatch(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const waiter = this.queue.shift() as Waiter<S>;
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      this.running += 1;
      const idle = this.idle.pop();
      if (idle !== undefined) {
        waiter.resolve(idle);
      } else {
        this.createSlot().then(waiter.resolve, (error: unknown) => {
          this.running -= 1;
          waiter.reject(error);
          this.dispatch();
        });
      }
    }
    if (this.running === 0 && this.queue.length === 0) for (const w of this.drainWaiters.splice(0)) w();
  }

  /** Waits until nothing runs or waits. */
  async drain(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  /** Stops accepting work, rejects queued executions, waits for running ones, destroys slots. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.queue.splice(0)) {
      w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(new CyloError('CYLO_E_SHUTTING_DOWN', 'cylo is shutting down; the queued execution was not started'));
    }
    await this.drain();
    await Promise.all(this.idle.splice(0).map((s) => s.destroy().catch(() => {})));
  }
}
