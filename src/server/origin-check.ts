// Cross-site requests refused (CSRF, the "drive-by localhost service" attack): any web page a
// user opens can make the browser send a "simple" POST (Content-Type text/plain, a form) to
// 127.0.0.1:2000 without a CORS preflight; CORS only hides the answer from the page. cylo reads
// bodies as JSON whatever their Content-Type (piston-client sends text/plain), so such a POST
// would start an execution, or a session, on a server without a token. Browsers send `Origin`
// with every cross-origin request that can change state; API clients that are not browsers
// (curl, piston-client, SDKs) send none. So a request that changes state (any method but GET,
// HEAD, OPTIONS) and carries an Origin is refused with 403 unless the Origin is the server's own
// (the playground: scheme and Host of the request) or one the operator allowed for CORS. The MCP
// endpoint has its own, equivalent Origin policy (src/mcp/origin.ts).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CyloError } from '../errors.js';
import type { CorsPolicy } from './cors.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Why `request` is refused as cross-site, or undefined when it may go on. */
export function crossSiteProblem(request: Pick<FastifyRequest, 'method' | 'headers' | 'protocol'>, cors: CorsPolicy | undefined): string | undefined {
  if (SAFE_METHODS.has(request.method)) return undefined;
  const origin = request.headers.origin;
  if (origin === undefined) return undefined;
  if (cors === '*' || (cors !== undefined && cors.includes(origin))) return undefined;
  const host = request.headers.host;
  if (host !== undefined && (origin === `http://${host}` || origin === `https://${host}`)) return undefined;
  return `origin: ${JSON.stringify(origin.slice(0, 200))} may not use this API from a browser (a cross-site request); add it to corsOrigins (CYLO_CORS_ORIGINS) to allow it, or call the API from outside a browser`;
}

/** Adds the check as an onRequest hook (before the token check: a forged request is refused
 *  whatever it carries). `/mcp` is left to the MCP transport's own Origin policy. */
export function addOriginCheck(app: FastifyInstance, cors: CorsPolicy | undefined): void {
  app.addHook('onRequest', async (request) => {
    if (request.url === '/mcp' || request.url.startsWith('/mcp?')) return;
    const problem = crossSiteProblem(request, cors);
    if (problem !== undefined) throw new CyloError('CYLO_E_FORBIDDEN_ORIGIN', problem, { field: 'origin' });
  });
}
