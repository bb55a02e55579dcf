// An API node's wait for its jobs' outcomes. Two paths, whichever comes first:
// - BullMQ's queue events (one XREAD stream per API node): `completed` carries the outcome,
//   `failed` the reason (a job that stalled more than once: its worker died twice);
// - a poll of every pending job each POLL_MS, for what the events cannot say: an event missed
//   during a Redis outage, a job Redis lost (restart without persistence: CYLO_E_QUEUE_UNAVAILABLE),
//   Redis unreachable (CYLO_E_QUEUE_UNAVAILABLE at once: the client retries).
// The poll reads the job back from Redis, and only for the owner that enqueued it (job data
// carries the owner, the SHA-256 of its API key): one key never reads another's result.
import type { Queue, QueueEvents } from 'bullmq';
import { Job } from 'bullmq';
import { CyloError } from '../errors.js';
import { isConnectionError, queueUnavailable } from './connection.js';
import { parseJobOutcome, type JobOutcome } from './job-schema.js';

export const POLL_MS = 1000;

interface Pending {
  owner: string | null;
  resolve: (outcome: JobOutcome) => void;
  reject: (error: CyloError) => void;
}

/** A job that BullMQ failed (its outcome is never a failed job otherwise: a worker returns
 *  errors as outcomes). */
function failedJob(reason: string): CyloError {
  const stalled = /stalled/i.test(reason);
  return new CyloError(
    'CYLO_E_INTERNAL',
    stalled
      ? 'internal error: the worker running this execution stopped (killed or lost its lock) and so did the worker that ran it again; it was not run a third time'
      : `internal error: the job failed on its worker (${reason.slice(0, 300)})`,
  );
}

export class PendingJobs {
  private readonly pending = new Map<string, Pending>();
  private readonly timer: NodeJS.Timeout;
  private polling = false;

  constructor(
    private readonly queue: Queue,
    events: QueueEvents,
    private readonly display: string,
  ) {
    events.on('completed', ({ jobId, returnvalue }) => this.settleOutcome(jobId, returnvalue));
    events.on('failed', ({ jobId, failedReason }) => this.settle(jobId, (p) => p.reject(failedJob(failedReason))));
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  get size(): number {
    return this.pending.size;
  }

  /** Waits for a job's outcome (register before adding the job: its events may come at once). */
  wait(jobId: string, owner: string | null): Promise<JobOutcome> {
    return new Promise<JobOutcome>((resolve, reject) => this.pending.set(jobId, { owner, resolve, reject }));
  }

  /** Stops waiting for a job, failing its wait with `error`. */
  abandon(jobId: string, error: CyloError): void {
    this.settle(jobId, (p) => p.reject(error));
  }

  /** Fails every wait (closing). */
  close(error: CyloError): void {
    clearInterval(this.timer);
    for (const id of [...this.pending.keys()]) this.abandon(id, error);
  }

  private settle(jobId: string, how: (p: Pending) => void): void {
    const p = this.pending.get(jobId);
    if (p === undefined) return;
    this.pending.delete(jobId);
    how(p);
  }

  /** An outcome from the fast path (result-channel.ts); checked like the others. */
  deliver(jobId: string, value: unknown): void {
    this.settleOutcome(jobId, value);
  }

  private settleOutcome(jobId: string, value: unknown): void {
    this.settle(jobId, (p) => {
      try {
        p.resolve(parseJobOutcome(value));
      } catch (error) {
        p.reject(error as CyloError);
      }
    });
  }

  /** One pass over the pending jobs (never two at once). */
  private async poll(): Promise<void> {
    if (this.polling || this.pending.size === 0) return;
    this.polling = true;
    try {
      for (const [jobId, p] of [...this.pending]) await this.check(jobId, p.owner);
    } finally {
      this.polling = false;
    }
  }

  private async check(jobId: string, owner: string | null): Promise<void> {
    let job: Job | undefined;
    try {
      job = await Job.fromId(this.queue, jobId);
    } catch (error) {
      if (isConnectionError(error)) this.abandon(jobId, queueUnavailable(this.display, error));
      return;
    }
    if (job === undefined) {
      this.abandon(jobId, new CyloError('CYLO_E_QUEUE_UNAVAILABLE', "queue: the job queue lost this execution's job; retry after the Retry-After delay", { cause: new Error(`the Redis server ${this.display} lost the job (restarted without persistence?)`) }));
      return;
    }
    // Owner check on read: a job enqueued by this node for another key is never read here.
    if ((job.data as { owner?: unknown }).owner !== owner) return;
    if (job.finishedOn === undefined) return;
    if (job.failedReason !== undefined && job.failedReason !== '' && (job.returnvalue === null || job.returnvalue === undefined)) this.abandon(jobId, failedJob(job.failedReason));
    else this.settleOutcome(jobId, job.returnvalue);
  }
}
