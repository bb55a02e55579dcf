// The Origin check the MCP specification asks of HTTP servers (DNS-rebinding protection), for
// the Streamable HTTP transport (./http.ts). The policy (documented in docs/mcp.md):
//   - no Origin header: allowed (non-browser clients such as the SDK's send none);
//   - an Origin whose host is loopback (localhost, 127.0.0.0/8, [::1]), any scheme and port: allowed;
//   - an Origin listed in `allowedOrigins` (exact scheme://host[:port]): allowed;
//   - anything else, including "null" and unparsable values: 403 with a JSON-RPC error.
import { CyloError } from '../errors.js';

export type OriginVerdict = { ok: true } | { ok: false; reason: string };

function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  if (h === 'localhost' || h === '[::1]' || h === '::1') return true;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m !== null && m[1] === '127' && m.slice(1).every((p) => Number(p) <= 255);
}

/** Normalises an allowed-origin entry ("https://app.example.com", trailing slash tolerated). */
export function normalizeOrigin(origin: string): string {
  const bad = (why: string): never => {
    throw new CyloError('CYLO_E_CONFIG', `CYLO_MCP_ALLOWED_ORIGINS: ${JSON.stringify(origin)} ${why}`, { field: 'CYLO_MCP_ALLOWED_ORIGINS' });
  };
  let url: URL | undefined;
  try {
    url = new URL(origin);
  } catch {
    bad('is not an origin; write scheme://host[:port], e.g. https://app.example.com');
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) return bad('is not allowed: only http and https origins can be allowed');
  return url.origin;
}

/** The Origin policy above. */
export function checkOrigin(origin: string | undefined, allowedOrigins: readonly string[] = []): OriginVerdict {
  if (origin === undefined || origin === '') return { ok: true };
  if (origin === 'null') return { ok: false, reason: 'Origin "null" is not allowed' };
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return { ok: false, reason: `Origin ${JSON.stringify(origin.slice(0, 100))} is not a valid origin` };
  }
  if ((url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHost(url.hostname)) return { ok: true };
  if (allowedOrigins.some((a) => a === url.origin)) return { ok: true };
  return { ok: false, reason: `Origin ${url.origin} is not allowed (only loopback origins and those in CYLO_MCP_ALLOWED_ORIGINS)` };
}

/** Reads CYLO_MCP_ALLOWED_ORIGINS: comma-separated origins allowed besides loopback ones. */
export function allowedOriginsFromEnvironment(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.CYLO_MCP_ALLOWED_ORIGINS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(normalizeOrigin);
}
