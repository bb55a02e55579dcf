// CORS for the API and the playground's serving, over real HTTP (buildServer listening on
// loopback, Node's fetch as the client; a browser's preflight is an OPTIONS request with these
// headers, so a plain client can play it): Access-Control-Allow-* only for an allowed origin and
// only on the API routes, preflights answered before the token check, "*" refused without a
// token, the configuration's validation; the page with its CSP and caching headers, public
// assets, and `playground: false` keeping / a 404.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { createCylo, type Cylo } from '../../src/cylo.js';
import { CyloError } from '../../src/errors.js';
import { buildServer } from '../../src/server/app.js';
import { loadServerConfig } from '../../src/server/config.js';
import { normalizeCorsOrigins } from '../../src/server/cors.js';
import { DEFAULT_WEB_ROOT } from '../../src/server/playground.js';
import { BROWSER_TEST_UID_BASE } from '../support/cylo.js';
import { listenLoopback } from '../support/http.js';

const ALLOWED = 'https://app.example.com';
const OTHER = 'https://evil.example.net';
const TOKEN = 'cors-token-91';

let cylo: Cylo;
const apps: FastifyInstance[] = [];

/** A listening server with these options; closed after the file. */
async function serve(options: Parameters<typeof buildServer>[0]): Promise<string> {
  const app = await buildServer({ cylo, logger: false, processMetrics: false, ...options });
  apps.push(app);
  return listenLoopback(app);
}

function configError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_CONFIG' && pattern.test(e.message));
}

before(() => {
  // No execution runs here (runtimes only): the instance never starts a sandbox.
  cylo = createCylo({ uidBase: BROWSER_TEST_UID_BASE + 32, uidCount: 16, concurrency: 1 });
});
after(async () => {
  for (const app of apps) await app.close();
  await cylo.close();
});

describe('CORS', () => {
  let base: string;
  before(async () => {
    base = await serve({ token: TOKEN, corsOrigins: [ALLOWED], playground: true });
  });

  test('an allowed origin gets Access-Control-Allow-Origin on the API; another origin gets none', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const allowed = await fetch(`${base}/v1/runtimes`, { headers: { ...auth, origin: ALLOWED } });
    assert.equal(allowed.status, 200);
    // proves: the allowlist is applied: the exact origin is echoed, and caches key on Origin.
    assert.equal(allowed.headers.get('access-control-allow-origin'), ALLOWED);
    assert.match(allowed.headers.get('vary') ?? '', /origin/i);
    assert.match(allowed.headers.get('access-control-expose-headers') ?? '', /x-request-id/);
    assert.equal(allowed.headers.get('access-control-allow-credentials'), null, 'never credentials');
    const other = await fetch(`${base}/v1/runtimes`, { headers: { ...auth, origin: OTHER } });
    // proves: an origin not listed gets no CORS header (the browser then hides the answer).
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    const piston = await fetch(`${base}/api/v2/runtimes`, { headers: { ...auth, origin: ALLOWED } });
    assert.equal(piston.headers.get('access-control-allow-origin'), ALLOWED, 'the Piston API too');
  });

  test('a preflight from an allowed origin is answered without the token; from another it is not allowed', async () => {
    const preflight = (origin: string) =>
      fetch(`${base}/v1/execute`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
    const ok = await preflight(ALLOWED);
    // proves: the preflight (which never carries Authorization) passes before the token check.
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), ALLOWED);
    assert.match(ok.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(ok.headers.get('access-control-allow-headers') ?? '', /authorization/);
    assert.match(ok.headers.get('access-control-allow-headers') ?? '', /content-type/);
    const refused = await preflight(OTHER);
    assert.notEqual(refused.status, 204);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
  });

  test('outside the API (the page, /healthz) no CORS header even for an allowed origin', async () => {
    for (const path of ['/', '/healthz']) {
      const r = await fetch(`${base}${path}`, { headers: { origin: ALLOWED } });
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get('access-control-allow-origin'), null, path);
    }
  });

  test('off by default: no CORS header for any origin, OPTIONS is not a route', async () => {
    const plain = await serve({});
    const r = await fetch(`${plain}/v1/runtimes`, { headers: { origin: ALLOWED } });
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    const preflight = await fetch(`${plain}/v1/execute`, { method: 'OPTIONS', headers: { origin: ALLOWED, 'access-control-request-method': 'POST' } });
    assert.equal(preflight.status, 404);
  });

  test('"*" with a token: every origin may read (the token still decides); without a token it is refused', async () => {
    const star = await serve({ token: TOKEN, corsOrigins: '*' });
    const r = await fetch(`${star}/v1/runtimes`, { headers: { origin: OTHER, authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    const noToken = await fetch(`${star}/v1/runtimes`, { headers: { origin: OTHER } });
    assert.equal(noToken.status, 401, 'CORS opens nothing the token closes');
    // proves: "*" without a token (any page could run code here and read it) is refused.
    await assert.rejects(buildServer({ cylo, logger: false, processMetrics: false, corsOrigins: '*' }), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_CONFIG' && /without a token/.test(e.message));
  });

  test('configuration: exact origins only, from the file or CYLO_CORS_ORIGINS, each named in errors', () => {
    assert.deepEqual(normalizeCorsOrigins(['https://a.example/', 'http://localhost:5173', 'https://a.example'], 'corsOrigins'), ['https://a.example', 'http://localhost:5173']);
    configError(() => normalizeCorsOrigins(['https://*.example.com'], 'corsOrigins'), /corsOrigins: .* has a wildcard/);
    configError(() => normalizeCorsOrigins(['https://a.example/app'], 'corsOrigins'), /more than an origin/);
    configError(() => normalizeCorsOrigins(['ftp://a.example'], 'corsOrigins'), /not an http or https origin/);
    configError(() => normalizeCorsOrigins(['*', 'https://a.example'], 'corsOrigins'), /alone/);
    const env = loadServerConfig({ defaultPath: false, env: { CYLO_CORS_ORIGINS: 'https://a.example, https://b.example:8443' } });
    assert.deepEqual(env.corsOrigins, ['https://a.example', 'https://b.example:8443']);
    configError(() => loadServerConfig({ defaultPath: false, env: { CYLO_CORS_ORIGINS: 'https://a.example/x' } }), /^CYLO_CORS_ORIGINS: /);
    configError(() => loadServerConfig({ defaultPath: false, env: { CYLO_CORS_ORIGINS: '*' } }), /CYLO_CORS_ORIGINS: "\*" without a token/);
    assert.equal(loadServerConfig({ defaultPath: false, env: { CYLO_CORS_ORIGINS: '*', CYLO_TOKEN: TOKEN } }).corsOrigins, '*');
    const defaults = loadServerConfig({ defaultPath: false, env: {} });
    assert.equal(defaults.corsOrigins, undefined, 'off by default');
    assert.equal(defaults.playground, true, 'the playground is on by default');
    assert.equal(loadServerConfig({ defaultPath: false, env: { CYLO_PLAYGROUND: '0' } }).playground, false);
  });
});

describe('playground serving', () => {
  test('the page: strict CSP with a fresh style nonce, no caching, public even with a token', async () => {
    const base = await serve({ token: TOKEN, playground: true });
    const first = await fetch(`${base}/`);
    assert.equal(first.status, 200, 'no token needed for the page');
    assert.match(first.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/);
    assert.equal(first.headers.get('cache-control'), 'no-store');
    assert.equal(first.headers.get('x-content-type-options'), 'nosniff');
    const csp = first.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'self'", "script-src 'self'", "connect-src 'self'", "object-src 'none'", "frame-ancestors 'none'"]) assert.ok(csp.includes(directive), `${directive} in ${csp}`);
    assert.ok(!/unsafe-inline|unsafe-eval/.test(csp), 'no unsafe-inline, no unsafe-eval');
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    const html = await first.text();
    // proves: the nonce the CSP allows is the one the page hands to CodeMirror, fresh per answer.
    assert.ok(nonce !== undefined && html.includes(`<meta name="cylo-csp-nonce" content="${nonce}">`));
    assert.ok(!/<script>|<script [^>]*>[^<]/.test(html), 'no inline script');
    const again = await fetch(`${base}/`);
    assert.notEqual(/'nonce-([^']+)'/.exec(again.headers.get('content-security-policy') ?? '')?.[1], nonce);
    const script = /src="(\/assets\/main-[A-Z0-9]+\.js)"/.exec(html)?.[1];
    assert.ok(script !== undefined, 'the page loads its hashed bundle');
    const asset = await fetch(`${base}${script}`, { headers: { 'accept-encoding': 'br' } });
    assert.equal(asset.status, 200, 'assets are public too');
    assert.match(asset.headers.get('content-type') ?? '', /javascript/);
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
    assert.equal(asset.headers.get('content-encoding'), 'br');
    const missing = await fetch(`${base}/assets/nothing.js`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(missing.status, 404, 'only the built files are routes');
    assert.ok(readdirSync(`${DEFAULT_WEB_ROOT}/assets`).length > 0);
  });

  test('playground: false keeps / a 404 as before', async () => {
    const base = await serve({ playground: false });
    const r = await fetch(`${base}/`);
    assert.equal(r.status, 404);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'CYLO_E_NOT_FOUND');
  });
});
