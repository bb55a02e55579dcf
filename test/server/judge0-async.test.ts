// Judge0's asynchronous API on the durable submission service, as a Judge0 client uses it
// (docs/judge0.md; Judge0's documented flow: create with wait=false, then poll the token):
// real sandboxes, a real SQLite file, Judge0's X-Auth-Token, a real webhook receiver on
// 127.0.0.1. Checks: 201 { token }; polling shows In Queue / Processing, then the verdict
// (Accepted, Wrong Answer) in Judge0's fields, with base64 and `fields`; batches with an error
// object for the bad entry; another key's token is 404; an unknown token 404; the callback
// carries the Judge0 submission, signed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/server/app.js';
import { testCylo } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { waitFor } from '../support/wait.js';

const KEY_A = 'judge0-key-a-0123456789';
const KEY_B = 'judge0-key-b-0123456789';
const PYTHON = 71; // Judge0 CE: Python (3.8.1), served by cylo's python
const skip = sandboxSkipReason() ?? false;
const cylo = testCylo({ concurrency: 2, queueLimit: 8 }, 256);
const tempRoot = mkdtempSync(join(tmpdir(), 'cylo-judge0-async-'));
const dataDir = join(tempRoot, 'data');
let app: FastifyInstance;
let hook: { url: string; received: Array<{ headers: IncomingHttpHeaders; body: string }>; server: Server };

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

before(async () => {
  if (skip !== false) return;
  const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hook = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/judge0-hook`, received, server };
  app = await buildServer({ cylo, token: [KEY_A, KEY_B], logger: false, processMetrics: false, submissions: { dataDir, concurrency: 1, webhookBackoffMs: 50, webhookAttempts: 3, webhookTimeoutMs: 3000 } });
  await app.ready();
});

after(async () => {
  await app?.close();
  await cylo.close();
  hook?.server.close();
  rmSync(tempRoot, { recursive: true, force: true });
});

async function call(method: 'GET' | 'POST', url: string, payload?: unknown, key = KEY_A): Promise<{ status: number; json: Json }> {
  const r = await app.inject({ method, url: `/judge0${url}`, headers: { 'x-auth-token': key }, ...(payload === undefined ? {} : { payload: payload as object }) });
  return { status: r.statusCode, json: r.body === '' ? {} : (r.json() as Json) };
}

/** Polls GET /submissions/{token} until its status id is 3 or more (a final one). */
async function final(token: string, query = ''): Promise<Json> {
  let last: Json = {};
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    last = (await call('GET', `/submissions/${token}${query}`)).json;
    if ((last.status?.id ?? 0) >= 3) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never final: ${JSON.stringify(last)}`);
}

test('create without wait, then poll: 201 { token }, In Queue/Processing, then Accepted with Judge0\'s default fields', { skip, timeout: 120_000 }, async () => {
  const created = await call('POST', '/submissions', { source_code: 'import time\ntime.sleep(0.5)\nprint("hello", input())', language_id: PYTHON, stdin: 'judge' });
  assert.equal(created.status, 201);
  assert.deepEqual(Object.keys(created.json), ['token']);
  const early = await call('GET', `/submissions/${created.json.token}`);
  assert.equal(early.status, 200);
  assert.ok([1, 2, 3].includes(early.json.status.id), `pending status: ${JSON.stringify(early.json.status)}`);
  const done = await final(created.json.token);
  assert.deepEqual(done.status, { id: 3, description: 'Accepted' });
  assert.equal(done.stdout, 'hello judge\n');
  assert.equal(done.token, created.json.token);
  assert.deepEqual(Object.keys(done).sort(), ['compile_output', 'memory', 'message', 'status', 'stderr', 'stdout', 'time', 'token']);
  // fields and base64 on the stored submission, and the echoed source.
  const some = await call('GET', `/submissions/${created.json.token}?base64_encoded=true&fields=stdout,source_code,status_id`);
  assert.deepEqual(some.json, { stdout: Buffer.from('hello judge\n').toString('base64'), source_code: Buffer.from('import time\ntime.sleep(0.5)\nprint("hello", input())').toString('base64'), status_id: 3 });
});

test('expected_output decides Wrong Answer; another key\'s token and an unknown token are 404', { skip, timeout: 120_000 }, async () => {
  const created = await call('POST', '/submissions', { source_code: 'print(2 + 2)', language_id: PYTHON, expected_output: '5' });
  const done = await final(created.json.token);
  assert.deepEqual(done.status, { id: 4, description: 'Wrong Answer' });
  assert.equal((await call('GET', `/submissions/${created.json.token}`, undefined, KEY_B)).status, 404);
  assert.equal((await call('GET', '/submissions/AAAAAAAAAAAAAAAAAAAAAA')).status, 404);
});

test('batch: one token per valid entry, Judge0\'s error object for the bad one; batch get in order, null for unknown tokens', { skip, timeout: 120_000 }, async () => {
  const created = await call('POST', '/submissions/batch', { submissions: [{ source_code: 'print(1)', language_id: PYTHON }, { source_code: 'x', language_id: 999_999 }, { source_code: 'print(3)', language_id: PYTHON }] });
  assert.equal(created.status, 201);
  const answers = created.json as unknown as Json[];
  assert.equal(answers.length, 3);
  assert.equal(typeof answers[0]?.token, 'string');
  assert.ok(Array.isArray(answers[1]?.language_id), JSON.stringify(answers[1]));
  assert.equal(typeof answers[2]?.token, 'string');
  await final(answers[0]?.token);
  await final(answers[2]?.token);
  const got = await call('GET', `/submissions/batch?tokens=${answers[0]?.token},AAAAAAAAAAAAAAAAAAAAAA,${answers[2]?.token}&fields=token,stdout,status_id`);
  assert.equal(got.status, 200);
  assert.deepEqual(got.json.submissions, [{ token: answers[0]?.token, stdout: '1\n', status_id: 3 }, null, { token: answers[2]?.token, stdout: '3\n', status_id: 3 }]);
  const tooMany = await call('POST', '/submissions/batch', { submissions: Array.from({ length: 21 }, () => ({ source_code: 'print(1)', language_id: PYTHON })) });
  assert.equal(tooMany.status, 400);
  assert.match(String(tooMany.json.error), /less than or equal to 20/);
});

test('callback_url: the receiver gets the Judge0 submission (token, status), signed by cylo', { skip, timeout: 120_000 }, async () => {
  const created = await call('POST', '/submissions', { source_code: 'print("called back")', language_id: PYTHON, callback_url: hook.url });
  assert.equal(created.status, 201);
  const got = await waitFor('the callback', () => hook.received.find((r) => r.body.includes(created.json.token as string)), 60_000);
  const body = JSON.parse(got.body) as Json;
  assert.equal(body.token, created.json.token);
  assert.deepEqual(body.status, { id: 3, description: 'Accepted' });
  assert.equal(body.stdout, 'called back\n');
  assert.match(String(got.headers['x-cylo-signature']), /^t=\d+,v1=[0-9a-f]{64}$/);
});
