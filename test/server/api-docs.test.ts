// The interactive API page at /docs (src/server/api-docs.ts), through app.inject() on the real
// buildServer with the real @fastify/swagger-ui: the page and its assets answer 200 from the
// package's own files (no CDN), the page's initializer names the document it loads and that
// document is /openapi.json's; every answer carries the strict CSP and the security headers; with
// a token the page stays public while the document keeps the token check (and no other route
// becomes public); the page exists only when asked for (`cylo serve`'s default, CYLO_DOCS=0 off)
// and its hooks touch no other route. No sandbox: nothing runs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { createCylo, type Cylo } from '../../src/cylo.js';
import { buildServer } from '../../src/server/app.js';
import { docsCsp } from '../../src/server/api-docs.js';
import { loadServerConfig } from '../../src/server/config.js';
import { BROWSER_TEST_UID_BASE } from '../support/cylo.js';

const TOKEN = 'docs-token-5c1e';
let cylo: Cylo;
const apps: FastifyInstance[] = [];

async function app(options: Parameters<typeof buildServer>[0]): Promise<FastifyInstance> {
  const a = await buildServer({ cylo, logger: false, processMetrics: false, ...options });
  apps.push(a);
  await a.ready();
  return a;
}

/** The headers every /docs answer must carry (the playground's, and the page's own CSP). */
function assertHeaders(headers: Record<string, unknown>, what: string): void {
  assert.equal(headers['content-security-policy'], docsCsp(), `${what}: CSP`);
  assert.equal(headers['x-content-type-options'], 'nosniff', `${what}: nosniff`);
  assert.equal(headers['x-frame-options'], 'DENY', `${what}: no framing`);
  assert.equal(headers['referrer-policy'], 'no-referrer', `${what}: no referrer`);
}

before(() => {
  // No execution runs here: the instance never starts a sandbox.
  cylo = createCylo({ uidBase: BROWSER_TEST_UID_BASE + 48, uidCount: 8, concurrency: 1 });
});
after(async () => {
  for (const a of apps) await a.close();
  await cylo.close();
});

describe('/docs without a token', () => {
  let server: FastifyInstance;
  before(async () => {
    server = await app({ docs: true });
  });

  test('the page answers 200 and loads its assets from /docs/static, nothing from another host', async () => {
    const page = await server.inject({ url: '/docs' });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assertHeaders(page.headers, '/docs');
    assert.match(page.body, /<title>cylo API<\/title>/);
    for (const asset of ['swagger-ui.css', 'swagger-ui-bundle.js', 'swagger-ui-standalone-preset.js', 'swagger-initializer.js']) assert.ok(page.body.includes(`/docs/static/${asset}`), asset);
    // proves: offline: no script, style or icon comes from a CDN.
    assert.doesNotMatch(page.body, /(src|href)="(https?:)?\/\//);
  });

  test('a static asset and the initializer answer 200; the initializer names the document it loads', async () => {
    const css = await server.inject({ url: '/docs/static/swagger-ui.css' });
    assert.equal(css.statusCode, 200);
    assert.match(String(css.headers['content-type']), /^text\/css/);
    assert.ok(css.body.length > 10_000, 'the package\'s stylesheet');
    assertHeaders(css.headers, 'swagger-ui.css');
    const init = await server.inject({ url: '/docs/static/swagger-initializer.js' });
    assert.equal(init.statusCode, 200);
    assert.match(init.body, /url: resolveUrl\('\.\/json'\)/);
    // The validator badge is off: the document is never sent to validator.swagger.io.
    assert.match(init.body, /validatorUrl: null/);
    assert.doesNotMatch(init.body, /validator\.swagger\.io/);
  });

  test('the document the page loads (/docs/json) is /openapi.json\'s, and lists no /docs route', async () => {
    const docs = await server.inject({ url: '/docs/json' });
    const spec = await server.inject({ url: '/openapi.json' });
    assert.equal(docs.statusCode, 200);
    assert.deepEqual(JSON.parse(docs.body), JSON.parse(spec.body));
    const paths = Object.keys((JSON.parse(spec.body) as { paths: Record<string, unknown> }).paths);
    assert.ok(paths.includes('/v1/execute'));
    assert.deepEqual(paths.filter((p) => p.startsWith('/docs')), []);
  });

  test("the page's hooks stay on its routes: /openapi.json and the API carry no docs CSP", async () => {
    // Fails if the CSP hook were added to the whole app (it would change the API's answers).
    const spec = await server.inject({ url: '/openapi.json' });
    assert.equal(spec.headers['content-security-policy'], undefined);
    const runtimes = await server.inject({ url: '/v1/runtimes' });
    assert.equal(runtimes.headers['content-security-policy'], undefined);
  });
});

describe('/docs with a token', () => {
  let server: FastifyInstance;
  before(async () => {
    server = await app({ docs: true, token: TOKEN });
  });

  test('the page and its assets are public; the document keeps the token check', async () => {
    for (const url of ['/docs', '/docs/static/swagger-ui.css', '/docs/static/swagger-initializer.js']) assert.equal((await server.inject({ url })).statusCode, 200, url);
    for (const url of ['/docs/json', '/docs/yaml', '/openapi.json', '/v1/runtimes']) {
      const r = await server.inject({ url });
      assert.equal(r.statusCode, 401, url);
    }
    const authorized = await server.inject({ url: '/docs/json', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(authorized.statusCode, 200);
  });
});

describe('/docs only where asked for', () => {
  test('buildServer without docs: /docs is a 404', async () => {
    const server = await app({});
    assert.equal((await server.inject({ url: '/docs' })).statusCode, 404);
    assert.equal((await server.inject({ url: '/docs/static/swagger-ui.css' })).statusCode, 404);
    // The not-found answer points only at what exists: the document, not the page.
    assert.match((await server.inject({ url: '/v1/nothing' })).json<{ error: { message: string } }>().error.message, /\(see \/openapi\.json\)$/);
  });

  test('with docs, a not-found answer points at the page too', async () => {
    const server = await app({ docs: true });
    const r = await server.inject({ url: '/v1/nothing' });
    assert.equal(r.statusCode, 404);
    assert.match(r.json<{ error: { message: string } }>().error.message, /^route: GET \/v1\/nothing does not exist \(see \/docs or \/openapi\.json\)$/);
  });

  test("cylo serve's configuration: on by default, CYLO_DOCS=0 turns it off", () => {
    assert.equal(loadServerConfig({ env: {} }).docs, true);
    assert.equal(loadServerConfig({ env: { CYLO_DOCS: '0' } }).docs, false);
  });
});
