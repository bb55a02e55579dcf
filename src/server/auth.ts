// Optional bearer-token access: `Authorization: Bearer <token>`, compared in constant time
// (both sides hashed first, so that neither the content nor the length of the token leaks
// through timing). Routes marked `config: { public: true }` (only /healthz) stay open.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { CyloError } from '../errors.js';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export function tokenMatches(expected: string, given: string): boolean {
  return timingSafeEqual(digest(expected), digest(given));
}

/** The bearer token of a request, or undefined. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/** The token of Judge0's `X-Auth-Token` header (the Judge0 API's clients send it), or undefined. */
export function judge0Token(request: FastifyRequest): string | undefined {
  const header = request.headers['x-auth-token'];
  return typeof header === 'string' && header.trim() !== '' ? header.trim() : undefined;
}

/** The API key a request carries: `Authorization: Bearer <key>`, else Judge0's `X-Auth-Token`. */
export function requestKey(request: FastifyRequest): string | undefined {
  return bearerToken(request) ?? judge0Token(request);
}

/** True when `given` is one of `keys`; every key is compared (no early exit), so timing does
 *  not tell which one matched or how many there are. */
export function keyMatches(keys: readonly string[], given: string): boolean {
  let found = false;
  for (const key of keys) found = tokenMatches(key, given) || found;
  return found;
}

/** An onRequest check: throws CYLO_E_UNAUTHORIZED unless the request carries the token (or one
 *  of the tokens: each API key sees only its own submissions, see src/submissions). */
export function makeAuthCheck(token: string | readonly string[]): (request: FastifyRequest) => void {
  const keys = typeof token === 'string' ? [token] : token;
  return (request) => {
    const config = request.routeOptions.config as { public?: boolean } | undefined;
    if (config?.public === true) return;
    const given = requestKey(request);
    if (given === undefined) {
      throw new CyloError('CYLO_E_UNAUTHORIZED', 'authorization: this server requires a bearer token; send "Authorization: Bearer <token>" (or "X-Auth-Token: <token>")', { field: 'authorization' });
    }
    if (!keyMatches(keys, given)) {
      throw new CyloError('CYLO_E_UNAUTHORIZED', 'authorization: the bearer token is wrong', { field: 'authorization' });
    }
  };
}
