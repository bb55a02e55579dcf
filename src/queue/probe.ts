// The start-up check of a queue URL (`cylo serve --queue`, `cylo worker`): one connection
// attempt, to tell a setting that can never work (a TLS certificate the node does not trust, a
// password Redis refuses) from Redis being down for now. The first stops the node at start with
// CYLO_E_CONFIG naming TLS or the password and the fix; the second is not an error (the node
// starts, answers 503 while Redis is down and recovers by itself). Certificate checks are never
// relaxed to get a connection: there is no plaintext or unverified fallback.
// The same wording names the cause in the 503 of a request (queueUnavailable in connection.ts)
// when the setting breaks later (a new server certificate, a changed password).
import { Redis } from 'ioredis';
import { CyloError } from '../errors.js';
import type { QueueConnection } from './connection.js';

/** TLS error codes of Node's certificate verification (the server's certificate is not
 *  trusted, expired, or not for this host name). */
const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL|HOSTNAME|ALTNAME/;

/** What a connection error says about the settings: a TLS or password problem with its fix,
 *  or undefined (Redis unreachable or anything else: transient). Never contains the password. */
export function settingProblem(error: unknown, display: string): string | undefined {
  const e = error as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : String(error);
  if (TLS_CODES.test(code) || /certificate|wrong version number|packet length too long/i.test(message)) {
    return `TLS: the connection to ${display} failed its certificate check (${code || message.slice(0, 120)}); give this node the CA that signed the Redis server's certificate with NODE_EXTRA_CA_CERTS=/path/ca.pem, and make the URL's host one the certificate names (checks are never turned off)`;
  }
  if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(message)) {
    return `password: the Redis server ${display} refused the credentials (${/NOAUTH/i.test(message) ? 'NOAUTH: it requires a password' : 'WRONGPASS'}); put the right one in the URL (redis://:PASSWORD@HOST:PORT/DB)`;
  }
  return undefined;
}

/**
 * One connection attempt to the queue's Redis (at most `timeoutMs`, default 5 s): resolves when it
 * is ready or unreachable for now (the caller's connections keep retrying); throws
 * CYLO_E_CONFIG (field `queue`) when TLS or the password is what fails.
 */
export async function probeQueue(connection: QueueConnection, timeoutMs = 5000): Promise<'ready' | 'unreachable'> {
  const redis = new Redis({ ...connection.redis, connectionName: 'cylo-probe', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: timeoutMs });
  let failure: unknown;
  redis.on('error', (error) => (failure ??= error));
  try {
    await Promise.race([redis.connect(), new Promise((_resolve, reject) => setTimeout(() => reject(new Error('connect ETIMEDOUT')), timeoutMs).unref())]);
    return 'ready';
  } catch (error) {
    const problem = settingProblem(failure ?? error, connection.display) ?? settingProblem(error, connection.display);
    if (problem !== undefined) throw new CyloError('CYLO_E_CONFIG', `queue: ${problem}`, { field: 'queue' });
    return 'unreachable';
  } finally {
    redis.disconnect();
  }
}
