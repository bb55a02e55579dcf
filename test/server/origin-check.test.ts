// Cross-site request forgery refused (src/server/origin-check.ts): a page on another site can make
// a browser POST text/plain or a form to a loopback cylo without a CORS preflight, and cylo reads
// any body as JSON. A state-changing request with a foreign Origin is a 403 before anything runs
// (the pool's counters prove it); no Origin (curl, SDKs, piston-client), the server's own origin
// (the playground) and an origin listed in corsOrigins go on. Checked to fail without the hook:
// the forged requests then reach validation and execution.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/server/app.js';
import { crossSiteProblem } from '../../src/server/origin-check.js';
import { testCylo } from '../support/cylo.js';

const cylo = testCylo({ concurrency: 1 }, 448);
let app: FastifyInstance;
let corsApp: FastifyInstance;
// A body that passes JSON parsing and fails validation: nothing would run even if it got through.
const INVALID = JSON.stringify({ language: 'bash' });
const VALID = JSON.stringify({ language: 'bash', code: 'echo forged' });

before(async () => {
  app = await buildServer({ cylo, logger: false, processMetrics: false });
  corsApp = await buildServer({ cylo, logger: false, processMetrics: false, corsOrigins: ['https://allowed.example'] });
});

after(async () => {
  await app?.close();
  await corsApp?.close();
  await cylo.close();
});

test('a forged cross-site POST (text/plain, form, multipart) is 403 and runs nothing, on every API', async () => {
  const before = cylo.stats().completed;
  for (const url of ['/v1/execute', '/api/v2/execute', '/judge0/submissions?wait=true', '/v1/sessions']) {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const r = await app.inject({ method: 'POST', url, headers: { 'content-type': type, origin: 'https://evil.example', host: '127.0.0.1:2000' }, payload: VALID });
      assert.equal(r.statusCode, 403, `${url} ${type}: ${r.body}`);
      assert.match(r.body, /evil\.example.*corsOrigins/);
    }
  }
  assert.equal(cylo.stats().completed, before, 'no execution ran');
});

test('no Origin, the server\'s own origin, and an origin in corsOrigins go on (to validation here)', async () => {
  const post = (a: FastifyInstance, headers: Record<string, string>) => a.inject({ method: 'POST', url: '/v1/execute', headers: { 'content-type': 'text/plain', host: '127.0.0.1:2000', ...headers }, payload: INVALID });
  assert.equal((await post(app, {})).statusCode, 400);
  assert.equal((await post(app, { origin: 'http://127.0.0.1:2000' })).statusCode, 400);
  assert.equal((await post(app, { origin: 'http://127.0.0.1:2001' })).statusCode, 403, 'another port is another origin');
  assert.equal((await post(corsApp, { origin: 'https://allowed.example' })).statusCode, 400);
  assert.equal((await post(corsApp, { origin: 'https://other.example' })).statusCode, 403);
  // Reading is not forgery-prone (CORS decides whether the page sees the answer).
  assert.equal((await app.inject({ method: 'GET', url: '/v1/runtimes', headers: { origin: 'https://evil.example' } })).statusCode, 200);
});

test('the rule itself: safe methods pass; "null" and look-alike origins are refused', () => {
  const req = (method: string, origin?: string) => ({ method, protocol: 'http' as const, headers: { host: 'localhost:2000', ...(origin === undefined ? {} : { origin }) } });
  assert.equal(crossSiteProblem(req('GET', 'https://evil.example'), undefined), undefined);
  assert.equal(crossSiteProblem(req('DELETE'), undefined), undefined);
  for (const origin of ['null', 'http://localhost:2000.evil.example', 'http://localhost', 'file://']) assert.ok(crossSiteProblem(req('POST', origin), undefined) !== undefined, origin);
  assert.equal(crossSiteProblem(req('PUT', 'http://localhost:2000'), undefined), undefined);
  assert.equal(crossSiteProblem(req('POST', 'https://x.example'), '*'), undefined);
});
