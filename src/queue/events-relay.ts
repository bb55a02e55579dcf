// Live events through the queue (SSE streaming in queue mode): the worker running a job
// publishes its events on the job's channel (keys.ts eventsChannel), then an end marker; the
// API node that enqueued it subscribes to that channel before enqueueing and relays each event,
// checked (job-schema.ts decodeEvent: an unreadable message is dropped, never relayed), to its
// client. One subscriber connection per API node carries every job's channel.
import type { Redis } from 'ioredis';
import type { ExecutionEvent } from '../engine/lifecycle.js';
import { keepSubscribed, whenReady } from './connection.js';
import { decodeEvent, encodeEvent } from './job-schema.js';
import { eventsChannel } from './keys.js';

/** The last message on a job's channel: every event before it was published. */
const END = 'end';

/** How long an API node waits for the end marker once the job's outcome is in (the outcome
 *  travels on another connection and may overtake the last events). */
export const END_WAIT_MS = 1000;

interface Listener {
  onEvent: (event: ExecutionEvent) => void;
  ended: () => void;
}

/** API node side: routes each job channel's messages to the request waiting for that job. */
export class EventRelay {
  private readonly listeners = new Map<string, Listener>();

  /** `subscriber`: a connection used for nothing else (Redis subscriber mode). */
  constructor(private readonly subscriber: Redis) {
    // After a reconnection, the channels of the requests still waiting are subscribed again
    // (events published in between are lost: live events are best effort).
    void keepSubscribed(subscriber, async () => {
      if (this.listeners.size > 0) await subscriber.subscribe(...this.listeners.keys());
    });
    subscriber.on('message', (channel: string, message: string) => {
      const listener = this.listeners.get(channel);
      if (listener === undefined) return;
      if (message === END) {
        listener.ended();
        return;
      }
      const event = decodeEvent(message);
      if (event !== undefined) listener.onEvent(event);
    });
  }

  /** Subscribes to a job's events (resolves once Redis confirmed the subscription). Returns
   *  `ended` (resolves at the end marker) and `stop` (unsubscribes; idempotent). */
  async listen(jobId: string, onEvent: (event: ExecutionEvent) => void): Promise<{ ended: Promise<void>; stop: () => void }> {
    const channel = eventsChannel(jobId);
    let markEnded!: () => void;
    const ended = new Promise<void>((resolve) => (markEnded = resolve));
    this.listeners.set(channel, { onEvent, ended: markEnded });
    try {
      await whenReady(this.subscriber);
      await this.subscriber.subscribe(channel);
    } catch (error) {
      this.listeners.delete(channel);
      throw error;
    }
    let stopped = false;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      this.listeners.delete(channel);
      this.subscriber.unsubscribe(channel).catch(() => {});
    };
    return { ended, stop };
  }
}

/** Worker side: publishes a job's events in order on one connection; `end()` publishes the end
 *  marker once every event before it was published (resolves even when Redis is down: live
 *  events are best effort, the result carries the whole output). */
export function eventPublisher(publisher: Redis, jobId: string): { onEvent: (event: ExecutionEvent) => void; end: () => Promise<void> } {
  const channel = eventsChannel(jobId);
  return {
    onEvent: (event) => {
      publisher.publish(channel, encodeEvent(event)).catch(() => {});
    },
    end: async () => {
      await publisher.publish(channel, END).catch(() => {});
    },
  };
}
