// The submission routes with real sandboxes, a real SQLite file in a temporary directory, and a
// real HTTP receiver on 127.0.0.1 for webhooks: the async lifecycle (202 + Location, poll,
// wait=true, cancel queued and running), batches, bad input (each with its 4xx and code),
// owner isolation between two API keys, webhook delivery verified with the documented snippet,
// retries against a receiver that fails twice, and the refusal of a disallowed destination.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/server/app.js';
import { testCylo } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { processesWith, uniqueMarker } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const KEY_A = 'key-a-0123456789abcdef';
const KEY_B = 'key-b-0123456789abcdef';
const skip = sandboxSkipReason();
const cylo = testCylo({ concurrency: 2, queueLimit: 8 });
const tempRoot = mkdtempSync(join(tmpdir(), 'cylo-submissions-test-'));
const dataDir = join(tempRoot, 'data');
let app: FastifyInstance;

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}
/** A webhook receiver on loopback that answers `codes` in turn (then 200). */
async function receiver(codes: number[] = []): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = codes.shift() ?? 200;
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received, server };
}

before(async () => {
  if (skip !== undefined) return;
  app = await buildServer({ cylo, token: [KEY_A, KEY_B], logger: false, processMetrics: false, submissions: { dataDir, concurrency: 1, webhookBackoffMs: 50, webhookAttempts: 4, webhookTimeoutMs: 3000 } });
  await app.ready();
});

after(async () => {
  await app?.close();
  await cylo.close();
  rmSync(tempRoot, { recursive: true, force: true });
});

const auth = (key = KEY_A): Record<string, string> => ({ authorization: `Bearer ${key}` });
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function submit(body: unknown, key = KEY_A, query = ''): Promise<{ status: number; json: Json; location: string | undefined }> {
  const r = await app.inject({ method: 'POST', url: `/v1/submissions${query}`, headers: auth(key), payload: body as object });
  return { status: r.statusCode, json: r.json(), location: r.headers.location as string | undefined };
}
async function get(id: string, key = KEY_A): Promise<{ status: number; json: Json }> {
  const r = await app.inject({ method: 'GET', url: `/v1/submissions/${id}`, headers: auth(key) });
  return { status: r.statusCode, json: r.json() };
}
async function until(id: string, statuses: string[]): Promise<Json> {
  let last: Json = {};
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    last = (await get(id)).json;
    if (statuses.includes(last.status as string)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`submission ${id} never reached ${statuses.join('/')}: ${JSON.stringify(last)}`);
}
/** The submission once its webhook is no longer pending (the receiver may see the POST a moment
 *  before the attempt is recorded). */
async function webhookSettled(id: string): Promise<Json> {
  let s: Json = {};
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    s = (await get(id)).json;
    if (s.webhook !== null && s.webhook?.state !== 'pending') return s;
    await new Promise((r) => setTimeout(r, 25));
  }
  return s;
}
const sleeper = (marker: string): Json => ({ language: 'bash', code: 'sleep 60', args: [marker], limits: { timeoutMs: 30_000, cpuTimeMs: 30_000 } });

test('submit -> 202 { id, status } with Location; poll until done; the result is the execution result', { skip }, async () => {
  const r = await submit({ language: 'python', code: 'print(6*7)' });
  assert.equal(r.status, 202);
  assert.match(r.json.id as string, /^[A-Za-z0-9_-]{22}$/, '128 random bits, base64url');
  assert.equal(r.json.status, 'queued');
  assert.equal(r.location, `/v1/submissions/${r.json.id as string}`);
  const done = await until(r.json.id as string, ['done']);
  assert.equal(done.result.status, 'ok');
  assert.equal(done.result.run.stdout, '42\n');
  assert.equal(done.error, null);
  assert.equal(done.attempts, 1);
  assert.ok(Date.parse(done.expiresAt as string) > Date.parse(done.finishedAt as string));
  assert.equal(done.webhook, null);
});

test('?wait=true answers 200 with the finished submission', { skip }, async () => {
  const r = await submit({ language: 'bash', code: 'echo waited; exit 3' }, KEY_A, '?wait=true');
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'done');
  assert.equal(r.json.result.status, 'runtime_error');
  assert.equal(r.json.result.run.stdout, 'waited\n');
  assert.equal(r.json.result.run.exitCode, 3);
});

test('cancel: a queued one is marked cancelled and never runs; a running one is killed and marked cancelled', { skip }, async () => {
  const marker = uniqueMarker();
  const running = await submit(sleeper(marker));
  await until(running.json.id as string, ['running']);
  await waitFor('the sleeper to run in its sandbox', () => processesWith(marker).length > 0, 20_000);
  // concurrency 1: the next one waits in the database.
  const queuedMarker = uniqueMarker();
  const queued = await submit(sleeper(queuedMarker));
  assert.equal((await get(queued.json.id as string)).json.status, 'queued');
  const del1 = await app.inject({ method: 'DELETE', url: `/v1/submissions/${queued.json.id as string}`, headers: auth() });
  assert.equal(del1.statusCode, 200);
  assert.equal(del1.json().status, 'cancelled');
  const del2 = await app.inject({ method: 'DELETE', url: `/v1/submissions/${running.json.id as string}`, headers: auth() });
  assert.equal(del2.statusCode, 200);
  assert.equal(del2.json().status, 'cancelled');
  // The execution itself was stopped: its program is gone (not just the record changed).
  await waitFor('the cancelled sleeper to be killed', () => processesWith(marker).length === 0, 20_000);
  // The queue moves on; the cancelled queued one never started.
  const next = await submit({ language: 'bash', code: 'echo next' }, KEY_A, '?wait=true');
  assert.equal(next.json.result.run.stdout, 'next\n');
  const q = (await get(queued.json.id as string)).json;
  assert.equal(q.status, 'cancelled');
  assert.equal(q.startedAt, null);
  assert.deepEqual(processesWith(queuedMarker), []);
  // DELETE of a final one leaves it as it is.
  const again = await app.inject({ method: 'DELETE', url: `/v1/submissions/${next.json.id as string}`, headers: auth() });
  assert.equal(again.json().status, 'done');
});

test('batch: per-entry answers (a bad entry does not refuse the others), batch get in order; bounds', { skip }, async () => {
  const r = await app.inject({
    method: 'POST',
    url: '/v1/submissions/batch',
    headers: auth(),
    payload: { submissions: [{ language: 'bash', code: 'echo one' }, { language: 'bash' }, { language: 'bash', code: 'echo three', callbackUrl: 'http://10.0.0.1/hook' }, { language: 'bash', code: 'echo four' }] },
  });
  assert.equal(r.statusCode, 202);
  const entries = r.json().submissions as Json[];
  assert.equal(entries.length, 4);
  assert.equal(entries[0]?.status, 'queued');
  assert.equal(entries[1]?.error.code, 'CYLO_E_VALIDATION');
  assert.match(entries[1]?.error.field as string, /^submissions\[1\]/);
  assert.equal(entries[2]?.error.code, 'CYLO_E_CALLBACK_NOT_ALLOWED');
  assert.equal(entries[2]?.error.field, 'submissions[2].callbackUrl');
  const ids = [entries[0]?.id as string, entries[3]?.id as string];
  for (const id of ids) await until(id, ['done']);
  const g = await app.inject({ method: 'GET', url: `/v1/submissions/batch?ids=${ids[1]},nosuchid0000000000000,${ids[0]}`, headers: auth() });
  assert.equal(g.statusCode, 200);
  const got = g.json().submissions as Json[];
  assert.equal(got[0]?.result.run.stdout, 'four\n');
  assert.equal(got[1]?.error.code, 'CYLO_E_SUBMISSION_NOT_FOUND');
  assert.equal(got[2]?.result.run.stdout, 'one\n');

  const tooMany = await app.inject({ method: 'POST', url: '/v1/submissions/batch', headers: auth(), payload: { submissions: Array.from({ length: 21 }, () => ({ language: 'bash', code: 'true' })) } });
  assert.equal(tooMany.statusCode, 400);
  assert.equal(tooMany.json().error.code, 'CYLO_E_VALIDATION');
  assert.equal(tooMany.json().error.field, 'submissions');
  const empty = await app.inject({ method: 'POST', url: '/v1/submissions/batch', headers: auth(), payload: { submissions: [] } });
  assert.equal(empty.json().error.field, 'submissions');
  const manyIds = await app.inject({ method: 'GET', url: `/v1/submissions/batch?ids=${Array.from({ length: 21 }, (_, i) => `id${i}`).join(',')}`, headers: auth() });
  assert.equal(manyIds.statusCode, 400);
  assert.equal(manyIds.json().error.field, 'ids');
});

test('bad input: each refused with its 4xx and a code naming the field, and no id', { skip }, async () => {
  const cases: Array<[unknown, number, string, string]> = [
    [{ code: 'print(1)' }, 400, 'CYLO_E_VALIDATION', 'language'],
    [{ language: 'python', code: 'x', limits: { timeoutMs: 10_000_000 } }, 400, 'CYLO_E_LIMIT_EXCEEDED', 'limits.timeoutMs'],
    [{ language: 'cobol-9', code: 'x' }, 400, 'CYLO_E_UNKNOWN_LANGUAGE', 'language'],
    [{ language: 'python', code: 'x', callbackUrl: 'http://10.0.0.1/hook' }, 400, 'CYLO_E_CALLBACK_NOT_ALLOWED', 'callbackUrl'],
    [{ language: 'python', code: 'x', callbackUrl: 'ftp://127.0.0.1/hook' }, 400, 'CYLO_E_CALLBACK_NOT_ALLOWED', 'callbackUrl'],
    [{ language: 'python', code: 'x', surprise: 1 }, 400, 'CYLO_E_VALIDATION', 'surprise'],
  ];
  for (const [body, status, code, field] of cases) {
    const r = await submit(body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.equal(r.json.error.code, code, JSON.stringify(r.json));
    assert.equal(r.json.error.field, field, JSON.stringify(r.json));
    assert.equal(r.json.id, undefined);
  }
  for (const id of ['AAAAAAAAAAAAAAAAAAAAAA', 'short', '..%2F..%2Fetc']) {
    const r = await get(id);
    assert.equal(r.status, 404);
    assert.equal(r.json.error.code, 'CYLO_E_SUBMISSION_NOT_FOUND');
    assert.equal(r.json.error.field, 'id');
  }
});

test('owner isolation: another key gets 404 for the id (GET, DELETE, batch), no key gets 401', { skip }, async () => {
  const r = await submit({ language: 'bash', code: 'echo mine' }, KEY_A, '?wait=true');
  const id = r.json.id as string;
  assert.equal((await get(id, KEY_A)).status, 200);
  const other = await get(id, KEY_B);
  assert.equal(other.status, 404);
  assert.equal(other.json.error.code, 'CYLO_E_SUBMISSION_NOT_FOUND');
  const del = await app.inject({ method: 'DELETE', url: `/v1/submissions/${id}`, headers: auth(KEY_B) });
  assert.equal(del.statusCode, 404);
  const batch = await app.inject({ method: 'GET', url: `/v1/submissions/batch?ids=${id}`, headers: auth(KEY_B) });
  assert.equal(batch.json().submissions[0].error.code, 'CYLO_E_SUBMISSION_NOT_FOUND');
  assert.equal((await app.inject({ method: 'GET', url: `/v1/submissions/${id}` })).statusCode, 401);
  assert.equal((await get(id, 'wrong-key-0123456789')).status, 401);
});

/** The verification snippet of docs/submissions.md, as a receiver would paste it. */
async function documentedVerifier(): Promise<(secret: string, header: string, body: string) => boolean> {
  const doc = readFileSync('docs/submissions.md', 'utf8');
  const m = /<!-- verify-snippet[^\n]*\n```js\n([\s\S]*?)```\n<!-- end verify-snippet -->/.exec(doc);
  assert.ok(m?.[1] !== undefined, 'docs/submissions.md has the verification snippet');
  const file = join(tempRoot, 'verify.mjs');
  writeFileSync(file, m[1]);
  return ((await import(pathToFileURL(file).href)) as { verifyCyloSignature: (s: string, h: string, b: string) => boolean }).verifyCyloSignature;
}

test('webhook: delivered to a loopback receiver, signed; the documented snippet verifies it; the attempt is recorded', { skip }, async () => {
  const hook = await receiver();
  try {
    const r = await submit({ language: 'bash', code: 'echo hooked', callbackUrl: hook.url });
    assert.equal(r.status, 202);
    await waitFor('the webhook', () => hook.received.length >= 1, 30_000);
    const [delivery] = hook.received;
    const secret = readFileSync(join(dataDir, 'webhook-secret'), 'utf8').trim();
    const verify = await documentedVerifier();
    assert.equal(verify(secret, delivery?.headers['x-cylo-signature'] as string, delivery?.body ?? ''), true, 'the signature verifies');
    assert.equal(verify(secret, delivery?.headers['x-cylo-signature'] as string, (delivery?.body ?? '').replace('hooked', 'forged')), false, 'a changed body does not');
    const body = JSON.parse(delivery?.body ?? '{}') as Json;
    assert.equal(body.id, r.json.id);
    assert.equal(body.status, 'done');
    assert.equal(body.result.run.stdout, 'hooked\n');
    assert.equal(delivery?.headers['x-cylo-submission-id'], r.json.id);
    const state = await webhookSettled(r.json.id as string);
    assert.equal(state.webhook.state, 'delivered');
    assert.deepEqual(state.webhook.deliveries.map((d: Json) => d.statusCode), [200]);
  } finally {
    hook.server.close();
  }
});

test('webhook retries: a receiver that fails twice gets a third attempt; every attempt is recorded', { skip }, async () => {
  const hook = await receiver([500, 503]);
  try {
    const r = await submit({ language: 'bash', code: 'echo retried', callbackUrl: hook.url });
    await waitFor('three attempts', () => hook.received.length >= 3, 30_000);
    const s = await webhookSettled(r.json.id as string);
    assert.equal(s.webhook.state, 'delivered');
    assert.deepEqual(s.webhook.deliveries.map((d: Json) => [d.statusCode, d.error]), [[500, 'HTTP 500'], [503, 'HTTP 503'], [200, null]]);
    assert.deepEqual(hook.received.map((h) => h.headers['x-cylo-delivery-attempt']), ['1', '2', '3']);
    // Each attempt is signed anew, and the three bodies are the same record.
    assert.equal(new Set(hook.received.map((h) => h.body)).size, 1);
  } finally {
    hook.server.close();
  }
});

test('the OpenAPI document has every submission route, generated from the schemas that validate them', { skip }, async () => {
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json', headers: auth() })).json() as { paths: Record<string, Record<string, Json>> };
  assert.ok(doc.paths['/v1/submissions']?.post, 'POST /v1/submissions');
  assert.ok(doc.paths['/v1/submissions/{id}']?.get, 'GET /v1/submissions/{id}');
  assert.ok(doc.paths['/v1/submissions/{id}']?.delete, 'DELETE /v1/submissions/{id}');
  assert.ok(doc.paths['/v1/submissions/batch']?.post, 'POST /v1/submissions/batch');
  assert.ok(doc.paths['/v1/submissions/batch']?.get, 'GET /v1/submissions/batch');
  const body = JSON.stringify(doc.paths['/v1/submissions']?.post);
  assert.match(body, /callbackUrl/);
  assert.match(body, /"202"/);
});
