// Cancellation from any API node to the worker running the job: the API node sets the job's
// cancel key (with a TTL, for a worker that picks the job up later) and publishes the job id on
// the cancel channel; every worker listens and aborts that job's AbortSignal when it runs it,
// which kills its sandbox (the gate's cancellation path, as for a local client that went away).
// Durable: the API node retries until Redis took the cancel (requestCancelDurably: its command
// connection has no offline queue, so a cancel asked while Redis is away used to be dropped), and
// the worker checks the job's cancel key when it takes the job and after every reconnection.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { CyloError } from '../errors.js';
import { keepSubscribed } from './connection.js';
import { CANCEL_CHANNEL, cancelKey } from './keys.js';

/** How long a cancel key lives (ms): longer than a job may wait in the queue and run. */
export const CANCEL_TTL_MS = 3_600_000;

/** API node side: asks every worker to cancel the job (throws when Redis cannot be reached). */
export async function requestCancel(redis: Redis, jobId: string): Promise<void> {
  await redis.multi().set(cancelKey(jobId), '1', 'PX', CANCEL_TTL_MS).publish(CANCEL_CHANNEL, jobId).exec();
}

/** API node side, durable: requestCancel tried again every `retryMs` (only while the
 *  connection is ready) until Redis took it. Resolves true once the key is set and the message
 *  published (it may be both more than once: idempotent), false when `stop` aborted first (the API
 *  node closing) or CANCEL_TTL_MS passed (the job has ended by then). Never rejects. */
export async function requestCancelDurably(redis: Redis, jobId: string, stop: AbortSignal, retryMs = 200): Promise<boolean> {
  const deadline = Date.now() + CANCEL_TTL_MS;
  while (!stop.aborted && Date.now() < deadline) {
    if (redis.status === 'ready') {
      try {
        await requestCancel(redis, jobId);
        return true;
      } catch {
        // Redis went away meanwhile (or refused): try again once it is back.
      }
    }
    await sleep(retryMs, undefined, { signal: stop, ref: false }).catch(() => undefined);
  }
  return false;
}

/** The error a cancelled job ends with. */
export const cancelledByApi = (): CyloError => new CyloError('CYLO_E_CANCELLED', 'the execution was cancelled through the queue (its client went away or cancelled it)');

/** Worker side: the running jobs' controllers, aborted by the cancel channel's messages. */
export class CancelListener {
  private readonly running = new Map<string, AbortController>();

  /** `subscriber`: a connection used for nothing else; `commands`: for the cancel keys. */
  constructor(
    private readonly subscriber: Redis,
    private readonly commands: Redis,
  ) {
    subscriber.on('message', (channel: string, jobId: string) => {
      if (channel === CANCEL_CHANNEL) this.running.get(jobId)?.abort(cancelledByApi());
    });
  }

  /** Starts listening (resolves once subscribed). After every reconnection of the subscriber
   *  it subscribes again and checks the running jobs' cancel keys: a cancel published while it
   *  was disconnected is not lost. */
  async start(): Promise<void> {
    await keepSubscribed(this.subscriber, async () => {
      await this.subscriber.subscribe(CANCEL_CHANNEL);
      await Promise.all([...this.running].map(([jobId, controller]) => this.check(jobId, controller)));
    });
  }

  private async check(jobId: string, controller: AbortController): Promise<void> {
    if ((await this.commands.exists(cancelKey(jobId))) === 1) controller.abort(cancelledByApi());
  }

  /** Watches a job: its controller is aborted when the job is (or was already) cancelled.
   *  Returns the function that stops watching. */
  async watch(jobId: string, controller: AbortController): Promise<() => void> {
    this.running.set(jobId, controller);
    // After subscribing: a cancel published before this point left its key.
    await this.check(jobId, controller);
    return () => {
      if (this.running.get(jobId) === controller) this.running.delete(jobId);
    };
  }
}
