// The session routes of the native HTTP API through Fastify's inject() on a real cylo (real
// sandboxes): create -> execute (state kept) -> files (upload raw bytes, list, download,
// delete) -> close -> 410; an unknown id is 404, the session bound is 429, a symlink download is
// refused without the target's content, and with a token a session is bound to its key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/server/app.js';
import { testCylo } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';

const TOKEN = 'session-test-token-0123';
const OTHER = 'session-test-token-other';
const cylo = testCylo({ concurrency: 1, maxSessions: 2, prepare: false }, 0);
let app: FastifyInstance;
const auth = { authorization: `Bearer ${TOKEN}` };
const T = { timeout: 60_000 };

test.before(async () => {
  app = await buildServer({ cylo, token: [TOKEN, OTHER], logger: false, processMetrics: false });
  await app.ready();
});
test.after(async () => {
  await app.close();
  await cylo.close({ graceMs: 0 });
});

const post = (url: string, payload: unknown) => app.inject({ method: 'POST', url, headers: auth, payload: payload as Record<string, unknown> });

test('create, execute twice (state kept), upload, list, download, delete, close; then 410', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const created = await post('/v1/sessions', { language: 'python', idleTimeoutMs: 60_000 });
  assert.equal(created.statusCode, 201, created.body);
  const { id } = created.json<{ id: string }>();
  assert.match(id, /^[A-Za-z0-9_-]{22}$/, 'a 128-bit random id');
  const r1 = await post(`/v1/sessions/${id}/execute`, { code: 'total = 40\nprint("hi")' });
  assert.equal(r1.statusCode, 200, r1.body);
  assert.equal(r1.json<{ stdout: string }>().stdout, 'hi\n');
  const put = await app.inject({ method: 'PUT', url: `/v1/sessions/${id}/files/in/n.txt`, headers: { ...auth, 'content-type': 'application/octet-stream' }, payload: Buffer.from('2') });
  assert.equal(put.statusCode, 200, put.body);
  const r2 = await post(`/v1/sessions/${id}/execute`, { code: 'open("out.txt", "w").write("x" * 3)\ntotal + int(open("in/n.txt").read())' });
  assert.equal(r2.json<{ result: string }>().result, '42', r2.body);
  const list = await app.inject({ method: 'GET', url: `/v1/sessions/${id}/files`, headers: auth });
  assert.deepEqual(list.json<{ files: Array<{ path: string }> }>().files.map((f) => f.path).sort(), ['in/n.txt', 'out.txt']);
  const got = await app.inject({ method: 'GET', url: `/v1/sessions/${id}/files/out.txt`, headers: auth });
  assert.equal(got.statusCode, 200);
  assert.equal(got.headers['content-type'], 'application/octet-stream');
  assert.equal(got.body, 'xxx');
  assert.equal((await app.inject({ method: 'DELETE', url: `/v1/sessions/${id}/files/out.txt`, headers: auth })).statusCode, 204);
  assert.equal((await app.inject({ method: 'GET', url: `/v1/sessions/${id}/files/out.txt`, headers: auth })).json<{ error: { code: string } }>().error.code, 'CYLO_E_BAD_PATH');
  assert.equal((await app.inject({ method: 'DELETE', url: `/v1/sessions/${id}`, headers: auth })).statusCode, 204);
  const after = await post(`/v1/sessions/${id}/execute`, { code: 'total' });
  assert.equal(after.statusCode, 410);
  assert.match(after.json<{ error: { code: string; message: string } }>().error.message, /session ended \(closed\)/);
});

test('unknown ids are 404; without the token 401; another key 404; a symlink out of the workspace is refused without its content', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const unknown = await post('/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA/execute', { code: '1' });
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json<{ error: { code: string } }>().error.code, 'CYLO_E_SESSION_NOT_FOUND');
  const { id } = (await post('/v1/sessions', { language: 'python' })).json<{ id: string }>();
  try {
    assert.equal((await app.inject({ method: 'POST', url: `/v1/sessions/${id}/execute`, payload: { code: '1' } })).statusCode, 401);
    // Another API key of the same server cannot reach it: 404, as for an id that does not exist.
    const foreign = await app.inject({ method: 'POST', url: `/v1/sessions/${id}/execute`, headers: { authorization: `Bearer ${OTHER}` }, payload: { code: '1' } });
    assert.equal(foreign.statusCode, 404, foreign.body);
    assert.equal((await app.inject({ method: 'GET', url: `/v1/sessions/${id}/files`, headers: { authorization: `Bearer ${OTHER}` } })).statusCode, 404);
    assert.equal((await post(`/v1/sessions/${id}/execute`, { code: 'import os\nos.symlink("/etc/passwd", "x")' })).statusCode, 200);
    const link = await app.inject({ method: 'GET', url: `/v1/sessions/${id}/files/x`, headers: auth });
    assert.equal(link.statusCode, 400, link.body);
    assert.equal(link.json<{ error: { code: string } }>().error.code, 'CYLO_E_BAD_PATH');
    assert.doesNotMatch(link.body, /root:/);
    const dotdot = await app.inject({ method: 'GET', url: `/v1/sessions/${id}/files/a/%2E%2E/%2E%2E/etc/passwd`, headers: auth });
    // Normalised away before routing (404) or refused by the path rule (400): never served.
    assert.ok(dotdot.statusCode === 400 || dotdot.statusCode === 404, dotdot.body);
    assert.doesNotMatch(dotdot.body, /root:/);
  } finally {
    await app.inject({ method: 'DELETE', url: `/v1/sessions/${id}`, headers: auth });
  }
});

test('past maxSessions, creating a session is 429 CYLO_E_SESSION_LIMIT', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const created = await Promise.all([1, 2].map(() => post('/v1/sessions', { language: 'javascript' })));
  const ids = created.map((c) => c.json<{ id: string }>().id);
  try {
    for (const c of created) assert.equal(c.statusCode, 201, c.body);
    const third = await post('/v1/sessions', { language: 'javascript' });
    assert.equal(third.statusCode, 429, third.body);
    assert.equal(third.json<{ error: { code: string } }>().error.code, 'CYLO_E_SESSION_LIMIT');
  } finally {
    await Promise.all(ids.map((id) => app.inject({ method: 'DELETE', url: `/v1/sessions/${id}`, headers: auth })));
  }
});
