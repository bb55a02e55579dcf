// Queue mode's security, with real components only: a redis-server started here with TLS only
// (a throwaway CA and a server certificate for localhost/127.0.0.1 made with the openssl CLI) and
// requirepass, an API node with two API keys and a worker from bin/cylo, both on rediss:// and
// trusting the CA through NODE_EXTRA_CA_CERTS (certificate checks are never turned off).
// Proves: executions are answered through TLS with the password; a node given another CA, or a
// wrong password, refuses to start naming TLS or the password and the fix (no plaintext or
// unverified fallback); the password appears in no log, message or /v1/workers; one key's
// results (submissions, batches, Judge0 tokens) are not readable through another, and jobs carry
// the key's hash, never the key; a job written straight into Redis with an invalid or malicious
// request is refused by the worker with a validation error and never run; /v1/runtimes, Piston's
// runtimes and Judge0's languages list what the live workers offer, not the API node's own.
// Skipped visibly without redis-server, openssl or sandboxes. CI cost: about 20-40 s.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { SERVER_TEST_UID_BASE } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { processesWith, uniqueMarker } from '../support/processes.js';
import { startRedis, tlsMaterial, tlsSkipReason, type RedisServer } from '../support/redis.js';
import { spawnServe, stopServe, type Served } from '../support/serve.js';
import { startWorker, stopWorker, type WorkerProcess } from '../support/worker.js';
import { QUEUE_NAME, QUEUE_PREFIX } from '../../src/queue/keys.js';
import { ownerOfKey } from '../../src/submissions/view.js';

const skip = tlsSkipReason() ?? sandboxSkipReason();
const T = { timeout: 90_000 };
const PASSWORD = 'queue-secret-Zq8x3';
const KEYS = ['queue-key-alice-1', 'queue-key-bob-2'] as const;
const UID = SERVER_TEST_UID_BASE + 320;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('queue mode: TLS, passwords, owners, validation of jobs', { skip, timeout: 300_000 }, () => {
  let redis: RedisServer;
  let api: Served;
  let worker: WorkerProcess;
  let ca: Record<string, string>;
  const refusedStarts: string[] = [];

  const call = async (key: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Json; text: string }> => {
    const res = await fetch(`${api.base}${path}`, { method, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    let json: Json = {};
    try {
      json = JSON.parse(text) as Json;
    } catch {
      // SSE or plain text
    }
    return { status: res.status, json, text };
  };

  before(async () => {
    redis = await startRedis({ tls: true, password: PASSWORD });
    ca = { NODE_EXTRA_CA_CERTS: redis.caFile as string };
    const tokenFile = `${dirname(redis.caFile as string)}/tokens`;
    (await import('node:fs')).writeFileSync(tokenFile, `${KEYS.join('\n')}\n`);
    worker = await startWorker(redis.url, ['--concurrency', '2', '--uid-base', String(UID), '--uid-count', '32'], { env: ca });
    api = await spawnServe(['--host', '127.0.0.1', '--log-format', 'json', '--queue', redis.url], { ...ca, CYLO_TOKEN_FILE: tokenFile, CYLO_UID_BASE: String(UID + 32), CYLO_UID_COUNT: '32' }, { timeoutMs: 40_000 });
  });

  after(async () => {
    if (api !== undefined) await stopServe(api);
    await stopWorker(worker);
    await redis?.remove();
  });

  test('through rediss:// with the password: executions are answered (native, SSE, Piston)', T, async () => {
    assert.match(redis.url, /^rediss:\/\/:.+@localhost:\d+\/0$/);
    const r = await call(KEYS[0], 'POST', '/v1/execute', { language: 'python', code: 'print(6 * 7)' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.run.stdout, '42\n');
    const sse = await call(KEYS[0], 'POST', '/v1/execute', { language: 'bash', code: 'echo live' }, { accept: 'text/event-stream' });
    assert.match(sse.text, /event: stdout\n/, 'live events relayed over TLS');
    assert.match(sse.text, /event: result\n/);
    const piston = await call(KEYS[1], 'POST', '/api/v2/execute', { language: 'python', version: '*', files: [{ content: 'print("p")' }] });
    assert.equal(piston.json.run?.stdout, 'p\n', piston.text);
  });

  test('a server certificate the node does not trust: API node and worker refuse to start, naming TLS and the fix', T, async () => {
    // Another throwaway CA: the server's certificate is not signed by it.
    const other = tlsMaterial(dirname(redis.caFile as string), 'other-');
    const wrongCa = { NODE_EXTRA_CA_CERTS: other.ca };
    const serve = await spawnServe(['--host', '127.0.0.1', '--log-format', 'json', '--queue', redis.url], { ...wrongCa, CYLO_INSECURE_NO_AUTH: '1' }, { timeoutMs: 40_000 }).then(
      (s) => ({ started: s }),
      (e: Error) => ({ error: e.message }),
    );
    if ('started' in serve) await stopServe(serve.started);
    assert.ok('error' in serve, 'cylo serve must not start with an untrusted Redis certificate');
    assert.match(serve.error, /CYLO_E_CONFIG|queue: TLS/);
    assert.match(serve.error, /TLS: the connection to rediss:\/\/:\*\*\*@localhost:\d+\/0 failed its certificate check/);
    assert.match(serve.error, /NODE_EXTRA_CA_CERTS/);
    const w = await startWorker(redis.url, ['--uid-base', String(UID + 64), '--uid-count', '8'], { env: wrongCa, timeoutMs: 40_000 }).then(
      (x) => ({ started: x }),
      (e: Error) => ({ error: e.message }),
    );
    if ('started' in w) await stopWorker(w.started);
    assert.ok('error' in w, 'cylo worker must not start with an untrusted Redis certificate');
    assert.match(w.error, /TLS: .*certificate check.*NODE_EXTRA_CA_CERTS/s);
    refusedStarts.push(serve.error, w.error);
  });

  test('a wrong password: refused at start naming the password (never showing one)', T, async () => {
    const wrong = redis.url.replace(encodeURIComponent(PASSWORD), 'not-the-password-77');
    const serve = await spawnServe(['--host', '127.0.0.1', '--log-format', 'json', '--queue', wrong], { ...ca, CYLO_INSECURE_NO_AUTH: '1' }, { timeoutMs: 40_000 }).then(
      (s) => ({ started: s }),
      (e: Error) => ({ error: e.message }),
    );
    if ('started' in serve) await stopServe(serve.started);
    assert.ok('error' in serve, 'cylo serve must not start with a refused password');
    assert.match(serve.error, /password: the Redis server rediss:\/\/:\*\*\*@localhost:\d+\/0 refused the credentials \(WRONGPASS\)/);
    assert.doesNotMatch(serve.error, /not-the-password-77/);
    const w = await startWorker(wrong, ['--uid-base', String(UID + 64), '--uid-count', '8'], { env: ca, timeoutMs: 40_000 }).then(
      (x) => ({ started: x }),
      (e: Error) => ({ error: e.message }),
    );
    if ('started' in w) await stopWorker(w.started);
    assert.ok('error' in w, 'cylo worker must not start with a refused password');
    assert.match(w.error, /password: .*WRONGPASS/);
    assert.doesNotMatch(w.error, /not-the-password-77/);
    refusedStarts.push(serve.error, w.error);
  });

  test('the password appears in no log line, message, /v1/workers or /metrics', T, async () => {
    const workers = await call(KEYS[0], 'GET', '/v1/workers');
    assert.equal(workers.status, 200);
    assert.deepEqual(workers.json.workers.map((w: Json) => w.id), [worker.id]);
    const metrics = await call(KEYS[0], 'GET', '/metrics');
    const ready = api.logs.find((l) => l.msg === 'cylo serve ready');
    assert.match(String(ready?.queue), /^rediss:\/\/:\*\*\*@localhost:\d+\/0$/, 'the node logs the URL with *** for the password');
    const everything = [workers.text, metrics.text, JSON.stringify(api.logs), api.stderr(), JSON.stringify(worker.logs), worker.stderr(), ...refusedStarts].join('\n');
    assert.ok(!everything.includes(PASSWORD), 'the password leaked');
    assert.ok(!everything.includes(encodeURIComponent(PASSWORD)), 'the password leaked (URL-encoded)');
  });

  test("one key's results are not readable through another (submissions, batches, Judge0 tokens)", T, async () => {
    const [alice, bob] = KEYS;
    const created = await call(alice, 'POST', '/v1/submissions', { language: 'python', code: 'print("alice secret")' });
    assert.equal(created.status, 202, created.text);
    const id = created.json.id as string;
    let mine: Json = {};
    for (let i = 0; i < 600 && mine.status !== 'done'; i++) {
      mine = (await call(alice, 'GET', `/v1/submissions/${id}`)).json;
      if (mine.status !== 'done') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(mine.result?.run?.stdout, 'alice secret\n', JSON.stringify(mine));
    const theirs = await call(bob, 'GET', `/v1/submissions/${id}`);
    assert.equal(theirs.status, 404);
    assert.equal(theirs.json.error.code, 'CYLO_E_SUBMISSION_NOT_FOUND');
    assert.doesNotMatch(theirs.text, /alice secret/);
    const batch = await call(bob, 'GET', `/v1/submissions/batch?ids=${id}`);
    assert.equal(batch.json.submissions[0].error?.code, 'CYLO_E_SUBMISSION_NOT_FOUND', batch.text);
    assert.doesNotMatch(batch.text, /alice secret/);
    assert.equal((await call(bob, 'DELETE', `/v1/submissions/${id}`)).status, 404, 'nor cancelled through another key');
    // Judge0's async API: a token of one key is unknown to another.
    const token = (await call(alice, 'POST', '/judge0/submissions?wait=true', { source_code: 'print("judge0 secret")', language_id: 71 })).json.token as string;
    assert.match(token, /\S/);
    const j = await call(bob, 'GET', `/judge0/submissions/${token}`);
    assert.equal(j.status, 404, j.text);
    assert.doesNotMatch(j.text, /judge0 secret/);
    // Synchronous executions of two keys at once: each gets its own result.
    const [a, b] = await Promise.all([call(alice, 'POST', '/v1/execute', { language: 'python', code: 'print("for alice")' }), call(bob, 'POST', '/v1/execute', { language: 'python', code: 'print("for bob")' })]);
    assert.deepEqual([a.json.run?.stdout, b.json.run?.stdout], ['for alice\n', 'for bob\n']);
    // Jobs carry the key's hash (the owner), never the key.
    const redisClient = testRedis(redis);
    try {
      const queue = new Queue(QUEUE_NAME, { connection: redisClient, prefix: QUEUE_PREFIX });
      const jobs = await queue.getJobs(['completed'], 0, 1000);
      assert.ok(jobs.some((job) => (job.data as Json).owner === ownerOfKey(alice)), 'alice’s jobs carry her owner hash');
      const dump = JSON.stringify(jobs.map((job) => job.data));
      for (const key of KEYS) assert.ok(!dump.includes(key), 'an API key was written to Redis');
      await queue.close();
    } finally {
      redisClient.disconnect();
    }
  });

  test('a job written straight into Redis with an invalid or malicious request is refused by the worker and never run', T, async () => {
    const marker = uniqueMarker('');
    const valid = { v: 1, owner: null, api: 'native', stream: false };
    const injected: Array<{ name: string; data: Json; code: RegExp }> = [
      { name: 'an extra envelope key', data: { ...valid, request: { language: 'bash', code: `sleep 5.${marker}` }, shell: 'sleep 5' }, code: /^CYLO_E_VALIDATION$/ },
      { name: 'an owner that is not a hash', data: { ...valid, owner: 'alice', request: { language: 'bash', code: `sleep 5.${marker}` } }, code: /^CYLO_E_VALIDATION$/ },
      { name: 'an unknown request field', data: { ...valid, request: { language: 'bash', code: `sleep 5.${marker}`, hostMounts: ['/'] } }, code: /^CYLO_E_VALIDATION$/ },
      { name: 'a negative memory limit', data: { ...valid, request: { language: 'bash', code: `sleep 5.${marker}`, limits: { memoryBytes: -1 } } }, code: /^CYLO_E_VALIDATION$/ },
      { name: "a limit above the worker's maximum", data: { ...valid, request: { language: 'bash', code: `sleep 5.${marker}`, limits: { timeoutMs: 86_400_000 } } }, code: /^CYLO_E_(LIMIT_EXCEEDED|VALIDATION)$/ },
    ];
    const redisClient = testRedis(redis);
    let most = 0;
    const sampler = setInterval(() => (most = Math.max(most, processesWith(marker).length)), 20);
    try {
      const queue = new Queue(QUEUE_NAME, { connection: redisClient, prefix: QUEUE_PREFIX });
      const added = await Promise.all(injected.map((j, i) => queue.add('execute', j.data, { jobId: `injected-${marker}-${i}`, attempts: 1 })));
      for (const [i, job] of added.entries()) {
        let done: Job | undefined;
        for (let k = 0; k < 600 && done?.finishedOn === undefined; k++) {
          done = await Job.fromId(queue, job.id as string);
          if (done?.finishedOn === undefined) await new Promise((r) => setTimeout(r, 100));
        }
        const outcome = done?.returnvalue as Json;
        const what = injected[i] as (typeof injected)[number];
        assert.equal(outcome?.result, undefined, `${what.name}: no result (it never ran): ${JSON.stringify(outcome)}`);
        assert.match(String(outcome?.error?.code), what.code, `${what.name}: ${JSON.stringify(outcome)}`);
      }
      await queue.close();
    } finally {
      clearInterval(sampler);
      redisClient.disconnect();
    }
    assert.equal(most, 0, 'no injected program ever ran');
  });

  test('/v1/runtimes, Piston runtimes and Judge0 languages list what the live workers offer', T, async () => {
    const advertised = ((await call(KEYS[0], 'GET', '/v1/workers')).json.workers[0] as Json).runtimes as Json[];
    const listed = (await call(KEYS[0], 'GET', '/v1/runtimes')).json as Json[];
    assert.deepEqual(listed.filter((r) => r.available).map((r) => r.language).sort(), advertised.map((r) => r.language).sort());
    // With no live worker, nothing is offered (the API node's own toolchains do not count).
    assert.deepEqual(await stopWorker(worker), { code: 0, signal: null });
    const none = (await call(KEYS[0], 'GET', '/v1/runtimes')).json as Json[];
    assert.ok(none.length > 0 && none.every((r) => !r.available && /no live worker/.test(r.problem)), JSON.stringify(none.slice(0, 2)));
    assert.deepEqual((await call(KEYS[0], 'GET', '/api/v2/runtimes')).json, []);
    assert.deepEqual((await call(KEYS[0], 'GET', '/judge0/languages')).json, []);
  });
});

/** A Redis connection of the test itself, over TLS trusting the test CA (as the nodes do). */
function testRedis(redis: RedisServer): Redis {
  const url = new URL(redis.url);
  return new Redis({ host: 'localhost', port: redis.port, password: decodeURIComponent(url.password), tls: { servername: 'localhost', ca: readFileSync(redis.caFile as string) }, maxRetriesPerRequest: null });
}
