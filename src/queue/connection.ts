// The queue's Redis URL (`--queue`, `queue` in the config file, CYLO_QUEUE) and the Redis
// connections made from it. Accepted: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] and the same
// with rediss:// (TLS, the server's certificate checked against the system CAs and the host
// name: never turned off). The password never appears in a message or a log line (`display`).
import { Redis, type RedisOptions } from 'ioredis';
import { CyloError } from '../errors.js';
import { settingProblem } from './probe.js';

export interface QueueConnection {
  /** What ioredis needs (host, port, db, credentials, TLS). */
  readonly redis: RedisOptions;
  /** The URL with the password replaced by `***`, for logs and messages. */
  readonly display: string;
}

const configError = (message: string): CyloError => new CyloError('CYLO_E_CONFIG', `queue: ${message}`, { field: 'queue' });

/** Parses a queue URL; throws CYLO_E_CONFIG naming what is wrong and the expected form. */
export function parseQueueUrl(text: string): QueueConnection {
  const form = 'expected redis://[:PASSWORD@]HOST[:PORT][/DB] or rediss://... (TLS)';
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw configError(`not a URL; ${form}`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw configError(`unsupported scheme ${url.protocol}; ${form}`);
  if (url.hostname === '') throw configError(`no host; ${form}`);
  if (url.search !== '' || url.hash !== '') throw configError(`query strings and fragments are not supported; ${form}`);
  const port = url.port === '' ? 6379 : Number(url.port);
  const dbText = url.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d{1,2}$/.test(dbText)) throw configError(`the database must be a number 0-99 (got "${dbText}"); ${form}`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const redis: RedisOptions = { host, port, db: dbText === '' ? 0 : Number(dbText) };
  if (url.username !== '') redis.username = decodeURIComponent(url.username);
  if (url.password !== '') redis.password = decodeURIComponent(url.password);
  // rediss://: TLS with certificate and host-name checks (Node's defaults, never relaxed): a
  // network attacker between a node and Redis can neither read jobs nor forge results.
  if (url.protocol === 'rediss:') redis.tls = { servername: host };
  const auth = url.username !== '' || url.password !== '' ? `${url.username}${url.password === '' ? '' : ':***'}@` : '';
  return { redis, display: `${url.protocol}//${auth}${url.host}/${redis.db ?? 0}` };
}

/** How a connection behaves while Redis is unreachable:
 *  - `command`: an API node's commands fail at once (no offline queue, one retry), so a request
 *    is answered 503 CYLO_E_QUEUE_UNAVAILABLE at once instead of hanging;
 *  - `blocking`: BullMQ workers and queue events wait and reconnect by themselves (BullMQ
 *    requires maxRetriesPerRequest: null there);
 *  - `subscriber`: as `blocking`, for Redis subscriber mode; its owner subscribes through
 *    `keepSubscribed` (ioredis's own re-subscription is off: one mechanism). */
export type ConnectionRole = 'command' | 'blocking' | 'subscriber';

/** A new Redis connection; it reconnects by itself (every 100 ms at first, then every second)
 *  until `stopped` (of the node that owns it) says true: its next failed attempt then ends it
 *  (endConnections). Copies BullMQ makes of it (a Worker's blocking connection) share that. */
export function connect(connection: QueueConnection, role: ConnectionRole, name: string, stopped?: () => boolean): Redis {
  return new Redis({
    ...connection.redis,
    connectionName: name,
    lazyConnect: false,
    retryStrategy: (times) => (stopped?.() === true ? null : Math.min(100 * times, 1000)),
    ...(role === 'command' ? { enableOfflineQueue: false, maxRetriesPerRequest: 1 } : { maxRetriesPerRequest: null }),
    ...(role === 'subscriber' ? { autoResubscribe: false } : {}),
  });
}

/**
 * Keeps a subscriber connection subscribed: calls `subscribe` once the connection is ready and
 * again after every reconnection; resolves after the first call that succeeded (it waits while
 * Redis is unreachable). Never subscribe on a connection that is not ready yet: ioredis writes a
 * SUBSCRIBE at once while it is still connecting, its ready check (INFO) then fails in
 * subscriber mode, and the connection is dropped with the subscription (under load, a worker
 * lost its cancel channel this way and cancelled programs ran on).
 */
export function keepSubscribed(redis: Redis, subscribe: () => Promise<unknown>): Promise<void> {
  let subscribed!: () => void;
  const first = new Promise<void>((resolve) => (subscribed = resolve));
  const run = async (): Promise<void> => {
    try {
      await subscribe();
      subscribed();
    } catch {
      // The connection dropped again: its next 'ready' runs this once more.
    }
  };
  redis.on('ready', () => void run());
  if (redis.status === 'ready') void run();
  return first;
}

/** How long endConnections waits for a connection to end: its next reconnection attempt (at
 *  most a second away) failing, up to ioredis's connect timeout (10 s) for a host that does not
 *  answer at all. */
const END_WAIT_MS = 12_000;

/**
 * Ends connections for good, whether Redis is reachable or not; the caller's `stopped` (connect)
 * must already say true. A connection that is up is disconnected and ends at once. One waiting
 * to reconnect is left to its next attempt, which fails and, the retry strategy now saying no,
 * ends it: ioredis then fails its pending commands ("Connection is closed.") and emits 'end', so
 * whatever waits on them (BullMQ's close, a heartbeat write) settles. disconnect() alone would
 * not do that while ioredis waits to reconnect: it cancels the attempt and nothing ever fails the
 * pending commands or emits 'end' (ioredis 5, redis/ioredis#1830), which is how a node closing
 * while Redis was down used to wait forever. After `waitMs`, what has not ended is disconnected.
 */
export async function endConnections(connections: readonly Redis[], waitMs = END_WAIT_MS): Promise<void> {
  await Promise.all(
    connections.map(async (redis) => {
      if (redis.status === 'end') return;
      let timer: NodeJS.Timeout | undefined;
      const ended = new Promise<void>((resolve) => {
        redis.once('end', resolve);
        timer = setTimeout(resolve, waitMs);
      });
      if (redis.status !== 'reconnecting') redis.disconnect();
      await ended;
      clearTimeout(timer);
      if ((redis.status as string) !== 'end') redis.disconnect();
    }),
  );
}

/** Waits for `step` (a closing step that needs Redis); resolves true once it settled, false once
 *  `redis` has been not ready for `patienceMs` in a row first (Redis unreachable: the caller stops
 *  without it). A reconnection in between starts the count again. */
export async function unlessUnreachable(redis: Redis, step: Promise<unknown>, patienceMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<false>((resolve) => {
    let since: number | undefined;
    const check = (): void => {
      const now = Date.now();
      since = redis.status === 'ready' ? undefined : (since ?? now);
      if (since !== undefined && now - since >= patienceMs) resolve(false);
      else timer = setTimeout(check, 100);
    };
    check();
  });
  try {
    return await Promise.race([step.then(() => true, () => true), gaveUp]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once the connection is ready (at once when it is). */
export async function whenReady(redis: Redis): Promise<void> {
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
}

/** True when the error is Redis being unreachable (connection closed, offline, timed out). */
export function isConnectionError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /Connection is closed|Stream isn't writeable|enableOfflineQueue|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Reached the max retries|connect ETIMEDOUT|ENOTFOUND|LOADING/i.test(message);
}

/** The error an API node answers while Redis cannot be reached. The client's message says
 *  only that the queue is unavailable and when to retry: where Redis is and why it cannot be
 *  used (a TLS certificate, a password: probe.ts) are the operator's, in the error's cause,
 *  which the service logs with the answer (src/server/http-errors.ts logHttpError). */
export function queueUnavailable(display: string, cause?: unknown): CyloError {
  const problem = cause === undefined ? undefined : settingProblem(cause, display);
  const why = problem === undefined ? 'cannot be reached' : `cannot be used: ${problem}`;
  const detail = new Error(`the Redis server ${display} ${why}`, { cause });
  return new CyloError('CYLO_E_QUEUE_UNAVAILABLE', 'queue: the job queue is unavailable; retry after the Retry-After delay (the service recovers by itself once its Redis is back)', { cause: detail });
}
