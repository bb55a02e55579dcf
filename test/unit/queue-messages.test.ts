// Queue mode's pure parts: the Redis URL (passwords, TLS, the redacted form logs show) and the
// checks applied to what comes out of Redis (job envelopes, outcomes, live events), which is not
// trusted more than an HTTP client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQueueUrl } from '../../src/queue/connection.js';
import { decodeEvent, encodeEvent, parseJobData, parseJobOutcome } from '../../src/queue/job-schema.js';
import { offers, type WorkerInfo } from '../../src/queue/registry.js';
import { CyloError } from '../../src/errors.js';

test('queue URLs: host, port, db, user and password, rediss:// turns TLS on; the password is never displayed', () => {
  const plain = parseQueueUrl('redis://10.0.0.5:6380/3');
  assert.deepEqual(plain.redis, { host: '10.0.0.5', port: 6380, db: 3 });
  assert.equal(plain.display, 'redis://10.0.0.5:6380/3');
  const secret = parseQueueUrl('rediss://cylo:s%40cret@redis.example:6390/0');
  assert.equal(secret.redis.password, 's@cret', 'percent-decoded');
  assert.equal(secret.redis.username, 'cylo');
  assert.deepEqual(secret.redis.tls, { servername: 'redis.example' }, 'TLS with the host name checked');
  assert.equal(secret.display, 'rediss://cylo:***@redis.example:6390/0');
  assert.ok(!secret.display.includes('cret'));
  assert.equal(parseQueueUrl('redis://:pw@localhost').redis.port, 6379, 'default port');
});

test('queue URLs: anything else is refused with CYLO_E_CONFIG naming the field and the form', () => {
  for (const bad of ['http://x:1', 'redis://', 'redis://h/abc', 'redis://h/0?tls=1', 'not a url']) {
    assert.throws(() => parseQueueUrl(bad), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_CONFIG' && e.field === 'queue' && /redis:\/\//.test(e.message), bad);
  }
});

test('job data from Redis: only the exact envelope is accepted (extra keys, bad owner, bad api refused)', () => {
  const good = { v: 1, request: { language: 'python', code: 'print(1)' }, owner: null, api: 'native', stream: false };
  assert.deepEqual(parseJobData(good), good);
  for (const bad of [{ ...good, extra: 1 }, { ...good, owner: 'not-a-hash' }, { ...good, api: 'shell' }, { ...good, v: 2 }, { ...good, request: 'x' }, null]) {
    assert.throws(() => parseJobData(bad), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_VALIDATION', JSON.stringify(bad));
  }
});

test('job outcomes: a result or an error with a catalogued code, never both, never neither', () => {
  const base = { v: 1, worker: 'w1', startedAt: 1, finishedAt: 2 };
  assert.equal(parseJobOutcome(JSON.stringify({ ...base, result: { id: 'x', status: 'ok' } })).result?.status, 'ok');
  assert.equal(parseJobOutcome({ ...base, error: { code: 'CYLO_E_CANCELLED', message: 'm' } }).error?.code, 'CYLO_E_CANCELLED');
  for (const bad of [base, { ...base, result: { id: 'x', status: 'ok' }, error: { code: 'CYLO_E_CANCELLED', message: 'm' } }, { ...base, error: { code: 'CYLO_E_MADE_UP', message: 'm' } }, 'not json']) {
    assert.throws(() => parseJobOutcome(bad), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_INTERNAL');
  }
});

test('live events: encoded and decoded exactly (bytes in base64); anything else is dropped', () => {
  const out = { type: 'stdout' as const, executionId: 'e', stage: 'run' as const, data: Buffer.from([0xff, 0x00, 0x41]), test: 2 };
  assert.deepEqual(decodeEvent(encodeEvent(out)), out);
  const state = { type: 'state' as const, executionId: 'e', from: 'Init' as const, to: 'MountRamdisk' as const, atMs: 1.5 };
  assert.deepEqual(decodeEvent(encodeEvent(state)), state);
  for (const bad of ['{}', 'x', JSON.stringify({ ...state, to: 'Hacked' }), JSON.stringify({ type: 'stdout', executionId: 'e', stage: 'run', data: 1 })]) assert.equal(decodeEvent(bad), undefined, bad);
});

test('routing: a language is offered by a live, not draining, worker (id or alias)', () => {
  const worker = (draining: boolean): WorkerInfo => ({ id: 'w', host: 'h', pid: 1, runtimes: [{ language: 'python', aliases: ['py'], version: '3.11' }], concurrency: 1, running: 0, completed: 0, startedAt: '', draining });
  assert.equal(offers([worker(false)], 'python'), true);
  assert.equal(offers([worker(false)], 'PY'), true);
  assert.equal(offers([worker(false)], 'go'), false);
  assert.equal(offers([worker(true)], 'python'), false, 'a draining worker takes no new job');
  assert.equal(offers([], 'python'), false);
});
