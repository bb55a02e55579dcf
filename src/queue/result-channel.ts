// The fast path of a job's outcome back to the API node that enqueued it: each API node has its
// own pub/sub channel (keys.ts resultsChannel, named by a random node id carried in its jobs'
// `reply`); a worker publishes `{ jobId, outcome }` there the moment the execution ends, before
// BullMQ's completion script runs. Pub/sub is at most once, so this is only the first of three
// paths (result-wait.ts: BullMQ's `completed` event, then the poll, settle the same wait when a
// message is lost, e.g. during a reconnection); whichever comes first wins, later ones are
// ignored. The message is checked like the other paths (parseJobOutcome): Redis data is not
// trusted more than an HTTP client. Measured: the completion script plus the events stream's
// wake-up took 3-5 ms of a hello world's hop on a loaded 2-core machine; the publish about one.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { keepSubscribed } from './connection.js';
import { resultsChannel } from './keys.js';
import type { JobOutcome } from './job-schema.js';

/** API node side: listens on its own results channel. */
export class ResultChannel {
  /** This node's id (32 hex digits), the `reply` of its jobs once subscribed. */
  readonly nodeId = randomBytes(16).toString('hex');
  private subscribed = false;

  /** `subscriber`: a connection used for nothing else (Redis subscriber mode); `deliver` gets
   *  each message's job id and (unchecked) outcome. */
  constructor(
    private readonly subscriber: Redis,
    deliver: (jobId: string, outcome: unknown) => void,
  ) {
    const channel = resultsChannel(this.nodeId);
    void keepSubscribed(subscriber, async () => {
      await subscriber.subscribe(channel);
      this.subscribed = true;
    });
    subscriber.on('close', () => (this.subscribed = false));
    subscriber.on('message', (from: string, message: string) => {
      if (from !== channel) return;
      try {
        const parsed = JSON.parse(message) as { jobId?: unknown; outcome?: unknown };
        if (typeof parsed.jobId === 'string') deliver(parsed.jobId, parsed.outcome);
      } catch {
        // not JSON: dropped (the other paths still settle the job)
      }
    });
  }

  /** The `reply` to put in a job: this node's id while subscribed, else undefined (the worker
   *  then publishes nothing; the outcome comes through BullMQ). */
  get reply(): string | undefined {
    return this.subscribed && this.subscriber.status === 'ready' ? this.nodeId : undefined;
  }
}

/** Worker side: publishes a job's outcome to the API node that asked (best effort: a failure
 *  is ignored, BullMQ's completion carries the same outcome). */
export function publishOutcome(publisher: Redis, reply: string, jobId: string, outcome: JobOutcome): void {
  publisher.publish(resultsChannel(reply), JSON.stringify({ jobId, outcome })).catch(() => {});
}
