// CORS for the API routes (/v1/..., /api/v2/...), off by default: only the origins an operator
// lists (`corsOrigins` in the config file, CYLO_CORS_ORIGINS comma-separated) get
// Access-Control-Allow-* headers, so that a page served elsewhere can call cylo from a browser
// (piston#658). The playground served by cylo itself is same-origin and needs none.
//
// Policy (docs/http.md#cors):
//   - an entry is an exact origin, scheme://host[:port] with http or https; no paths, no
//     wildcards inside a name (a pattern like https://*.example.com would let any subdomain,
//     including one an attacker controls, read results);
//   - "*" alone allows every origin, and is refused unless a token is configured: without one,
//     every web page any user of this network opens could run code here and read the output,
//     while with one the token (which the browser only sends when a script sets it) still
//     decides, and "*" only lets browsers read what curl with the token already can;
//   - credentials (cookies) are never allowed: cylo authenticates with a bearer header only.
import cors from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CyloError } from '../errors.js';

/** Either every origin ('*') or a set of exact origins. */
export type CorsPolicy = '*' | readonly string[];

/** The headers a browser may send cross-origin (the token, the JSON body, SSE, a request id). */
const ALLOWED_HEADERS = 'authorization, content-type, accept, x-request-id';
/** The response headers a cross-origin script may read besides the safelisted ones. */
const EXPOSED_HEADERS = 'x-request-id, retry-after, www-authenticate';
/** How long a browser may cache a preflight answer, in seconds. */
const PREFLIGHT_MAX_AGE_S = 600;

/**
 * Normalises the configured list: each entry an exact http(s) origin (a trailing "/" is
 * tolerated and dropped), or the single entry "*". `field` names the setting in messages.
 * Throws CYLO_E_CONFIG naming the entry and the fix.
 */
export function normalizeCorsOrigins(entries: readonly string[], field: string): CorsPolicy {
  const list = entries.map((e) => e.trim()).filter((e) => e !== '');
  if (list.includes('*')) {
    if (list.length > 1) throw new CyloError('CYLO_E_CONFIG', `${field}: "*" allows every origin; list origins or write "*" alone, not both`, { field });
    return '*';
  }
  return [...new Set(list.map((entry) => normalizeOne(entry, field)))];
}

function normalizeOne(entry: string, field: string): string {
  const bad = (why: string): never => {
    throw new CyloError('CYLO_E_CONFIG', `${field}: ${JSON.stringify(entry)} ${why}; write an exact origin such as https://app.example.com or http://localhost:5173`, { field });
  };
  if (entry.includes('*')) return bad('has a wildcard (only "*" alone, meaning every origin, is accepted)');
  let url: URL | undefined;
  try {
    url = new URL(entry);
  } catch {
    return bad('is not an origin');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return bad('is not an http or https origin');
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '' || (url.pathname !== '/' && url.pathname !== '')) {
    return bad('is more than an origin (a path, query or user name)');
  }
  return url.origin;
}

/** Refuses "*" without a token (see the policy above). */
export function checkCorsWithToken(policy: CorsPolicy | undefined, token: string | undefined, field: string): void {
  if (policy === '*' && token === undefined) {
    throw new CyloError(
      'CYLO_E_CONFIG',
      `${field}: "*" without a token would let every web page any user opens run code on this server and read the output; configure a token (CYLO_TOKEN, tokenFile) or list the origins that may call cylo`,
      { field },
    );
  }
}

/** True for the routes CORS applies to: the native and Piston HTTP APIs. */
export function isApiUrl(url: string): boolean {
  return /^\/(v1|api\/v2)(\/|\?|$)/.test(url);
}

/**
 * Registers @fastify/cors for the API routes with this policy. Must be registered before the
 * token check: a browser's preflight (OPTIONS) never carries the Authorization header, and the
 * plugin answers it from its own onRequest hook, which then runs first.
 */
export async function registerCors(app: FastifyInstance, policy: CorsPolicy): Promise<void> {
  const allowed = new Set(policy === '*' ? [] : policy);
  await app.register(cors, {
    delegator: (request: FastifyRequest, callback) => {
      // Outside the API (the playground, /healthz, /metrics, /mcp with its own Origin policy): no CORS.
      if (!isApiUrl(request.url)) {
        callback(null, { origin: false });
        return;
      }
      callback(null, {
        // An allowed origin is echoed back (with Vary: Origin); any other gets no header.
        origin: policy === '*' ? '*' : (origin: string | undefined, cb: (error: Error | null, allow: boolean) => void) => cb(null, origin !== undefined && allowed.has(origin)),
        methods: 'GET, HEAD, POST',
        allowedHeaders: ALLOWED_HEADERS,
        exposedHeaders: EXPOSED_HEADERS,
        credentials: false,
        maxAge: PREFLIGHT_MAX_AGE_S,
        strictPreflight: true,
      });
    },
  });
}
