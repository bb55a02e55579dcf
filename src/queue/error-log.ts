// The 'error' events of every Redis connection (ioredis) and BullMQ object (Queue, QueueEvents,
// Worker) a queue node makes, logged with the node's logger. Each of them reconnects by itself
// (ioredis's retryStrategy, BullMQ's loops); the listener is what keeps an error from being
// "unhandled": a BullMQ RedisConnection whose listeners are gone throws its error into the
// process (seen: a bench process killed by "Stream isn't writeable and enableOfflineQueue options
// is false" from the INFO version check of a Queue closed while its connection was still
// starting: BullMQ's close() removes every listener of its RedisConnection, then the pending
// start fails). BullMQ objects are therefore made with KeptErrorConnection.
// While Redis is down ioredis fails every reconnection (each second): one line per source when
// it goes down (warn) and one when it is back (info), never one per retry. The password of the
// queue URL never appears (replaced by ***, as in the URL's `display`).
import type { EventEmitter } from 'node:events';
import { RedisConnection, type RedisClient } from 'bullmq';

export type QueueLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** The same error message from the same source is logged again at most this often (ms). */
const REPEAT_MS = 60_000;

export class QueueErrorLog {
  /** Per source: the last message logged and when; absent while the source is healthy. */
  private readonly failing = new Map<string, { message: string; at: number }>();
  private muted = false;

  /**
   * @param log the node's logger.
   * @param display the queue URL without its password (logged with each line).
   * @param password the URL's password (removed from every message), if any.
   */
  constructor(
    private readonly log: QueueLog,
    private readonly display: string,
    private readonly password: string | undefined,
  ) {}

  /** Listens to `emitter`'s 'error' events (and 'ready', when it has one, as the end of an
   *  outage) under the name `source` (e.g. "api commands", "bullmq queue events"). */
  watch(source: string, emitter: EventEmitter): void {
    emitter.on('error', (error: unknown) => this.error(source, error));
    emitter.on('ready', () => this.ready(source));
  }

  /** Closing: errors from now on are the closing's own (connections ended on purpose). */
  mute(): void {
    this.muted = true;
  }

  private error(source: string, error: unknown): void {
    if (this.muted) return;
    const message = this.redact(error instanceof Error ? error.message : String(error));
    const last = this.failing.get(source);
    const now = Date.now();
    if (last !== undefined && last.message === message && now - last.at < REPEAT_MS) return;
    this.failing.set(source, { message, at: now });
    this.log('warn', `queue: Redis error on ${source} (it reconnects by itself; work accepted is kept)`, { queue: this.display, err: message });
  }

  private ready(source: string): void {
    if (this.muted || !this.failing.delete(source)) return;
    this.log('info', `queue: Redis connection of ${source} is back`, { queue: this.display });
  }

  private redact(message: string): string {
    const secret = this.password;
    return secret === undefined || secret === '' ? message : message.split(secret).join('***').split(encodeURIComponent(secret)).join('***');
  }
}

/** An error of a BullMQ connection after its object was closed: the closing's own. */
const afterClose = (): void => {};

/** BullMQ's RedisConnection (pass it as the Connection argument of Queue, QueueEvents, Worker),
 *  except that its close() leaves one listener on 'error': a start still pending when the object
 *  is closed (its ready wait, its INFO version check) fails into that listener instead of
 *  throwing an unhandled 'error' event into the process. */
export class KeptErrorConnection extends RedisConnection {
  override removeAllListeners(event?: string | symbol): this {
    super.removeAllListeners(event);
    if (event === undefined || event === 'error') super.on('error', afterClose);
    return this;
  }
}

/** KeptErrorConnection that, once `halted()` says true, hands BullMQ no client any more: what it
 *  would send from then on waits forever (holding no timer or socket) instead of failing. For a
 *  Worker whose connections are ended while Redis is unreachable: BullMQ retries a failed job
 *  completion without any pause once it is closing (Worker.retryIfFailed skips its delay then),
 *  so a completion failing on an ended connection would spin forever at 100% CPU and hold the
 *  process; waiting forever instead, the job stays active in Redis for the stalled-job check. */
export function haltableConnection(halted: () => boolean): typeof KeptErrorConnection {
  const never = new Promise<never>(() => {});
  return class HaltableConnection extends KeptErrorConnection {
    override get client(): Promise<RedisClient> {
      return halted() ? never : super.client;
    }
  };
}
