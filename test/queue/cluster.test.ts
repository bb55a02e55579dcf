// Queue mode end to end, with real components only: a redis-server started here, one API node
// (`bin/cylo serve --queue`) and two worker processes (`bin/cylo worker`), all on loopback.
// Proves: every API reaches the workers through Redis with correct results (native, Piston,
// Judge0 wait=true, test cases), both workers take work, SSE frames are relayed live from the
// worker, a client's disconnect kills the program on the worker, a full queue answers 503 with
// Retry-After, a language no live worker offers is refused at once, GET /v1/workers lists them,
// and nothing is left on the workers afterwards. Skipped visibly without redis-server or sandboxes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SERVER_TEST_UID_BASE } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { processesWith, strayProcesses, uniqueMarker } from '../support/processes.js';
import { redisSkipReason, startRedis, type RedisServer } from '../support/redis.js';
import { spawnServe, stopServe, type Served } from '../support/serve.js';
import { waitFor } from '../support/wait.js';
import { startWorker, stopWorker, type WorkerProcess } from '../support/worker.js';

const skip = redisSkipReason() ?? sandboxSkipReason();
const T = { timeout: 60_000 };
const TOKEN = 'queue-cluster-token-1';
const UIDS = [SERVER_TEST_UID_BASE, SERVER_TEST_UID_BASE + 64];
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('queue mode: one API node, two workers', { skip, timeout: 120_000 }, () => {
  let redis: RedisServer;
  let api: Served;
  let bounded: Served;
  const workers: WorkerProcess[] = [];

  const post = async (path: string, body: unknown, base = api.base, signal?: AbortSignal): Promise<{ status: number; json: Json; headers: Headers }> => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: auth, body: JSON.stringify(body), ...(signal === undefined ? {} : { signal }) });
    return { status: res.status, json: (await res.json()) as Json, headers: res.headers };
  };

  before(async () => {
    redis = await startRedis();
    for (const uid of UIDS) workers.push(await startWorker(redis.url, ['--concurrency', '2', '--uid-base', String(uid), '--uid-count', '64', '--metrics-port', '0']));
    const env = { CYLO_TOKEN: TOKEN, CYLO_UID_BASE: String(SERVER_TEST_UID_BASE + 128), CYLO_UID_COUNT: '64' };
    api = await spawnServe(['--host', '127.0.0.1', '--log-format', 'json', '--queue', redis.url], env, { timeoutMs: 40_000 });
    // A second API node on the same queue with a bound of 2 waiting jobs (an API node is cheap:
    // it runs no sandbox).
    bounded = await spawnServe(['--host', '127.0.0.1', '--log-format', 'json', '--queue', redis.url, '--queue-limit', '2'], env, { timeoutMs: 40_000 });
  });

  after(async () => {
    for (const s of [api, bounded]) if (s !== undefined) await stopServe(s);
    for (const w of workers) await stopWorker(w);
    await redis?.remove();
  });

  test('a mixed load through every API: all answered, results correct, both workers used', T, async () => {
    const jobs: Array<Promise<void>> = [];
    for (let i = 0; i < 6; i++) {
      jobs.push(post('/v1/execute', { language: 'python', code: `import time; time.sleep(0.2); print(${i} * 7)` }).then(({ status, json }) => {
        assert.equal(status, 200, JSON.stringify(json));
        assert.equal(json.status, 'ok');
        assert.equal(json.run.stdout, `${i * 7}\n`);
      }));
    }
    jobs.push(post('/v1/execute', { language: 'bash', code: 'read x; echo "got $x"; exit 3', stdin: 'hello' }).then(({ json }) => {
      assert.equal(json.status, 'runtime_error');
      assert.equal(json.run.exitCode, 3);
      assert.equal(json.run.stdout, 'got hello\n');
    }));
    jobs.push(post('/v1/execute', { language: 'c', code: '#include <stdio.h>\nint main(void){printf("c ok\\n");return 0;}' }).then(({ json }) => {
      assert.equal(json.status, 'ok', JSON.stringify(json));
      assert.equal(json.run.stdout, 'c ok\n');
    }));
    jobs.push(post('/api/v2/execute', { language: 'python', version: '*', files: [{ content: 'print("piston")' }] }).then(({ status, json }) => {
      assert.equal(status, 200, JSON.stringify(json));
      assert.equal(json.run.stdout, 'piston\n');
    }));
    jobs.push(post('/judge0/submissions?wait=true', { source_code: 'print(input()[::-1])', language_id: 71, stdin: 'abc' }).then(({ status, json }) => {
      assert.equal(status, 201, JSON.stringify(json));
      assert.equal(json.stdout, 'cba\n');
      assert.equal(json.status.description, 'Accepted');
    }));
    jobs.push(post('/v1/execute', { language: 'python', code: 'print(int(input()) * 2)', tests: [{ stdin: '1', expectedOutput: '2' }, { stdin: '5', expectedOutput: '11' }] }).then(({ json }) => {
      assert.deepEqual(json.tests.map((c: Json) => c.verdict), ['accepted', 'wrong_answer'], JSON.stringify(json.tests));
    }));
    jobs.push(post('/v1/execute', { language: 'python', code: 'while True: pass', limits: { timeoutMs: 500, cpuTimeMs: 500 } }).then(({ json }) => {
      assert.match(json.status, /timeout/);
    }));
    await Promise.all(jobs);
    // Both workers ran jobs (the API node's per-worker throughput counter, from each outcome).
    const metrics = await (await fetch(`${api.base}/metrics`, { headers: auth })).text();
    for (const w of workers) assert.match(metrics, new RegExp(`cylo_jobs_finished_total\\{worker="${w.id}"\\} [1-9]`), `worker ${w.id} ran jobs:\n${metrics.split('\n').filter((l) => l.includes('jobs_finished')).join('\n')}`);
    assert.match(metrics, /cylo_job_wait_seconds_count [1-9]/);
  });

  test('GET /v1/workers lists both live workers with their runtimes and load', T, async () => {
    const res = await fetch(`${api.base}/v1/workers`, { headers: auth });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Json;
    assert.deepEqual(body.workers.map((w: Json) => w.id).sort(), workers.map((w) => w.id).sort());
    for (const w of body.workers) {
      assert.equal(w.concurrency, 2);
      assert.ok(w.runtimes.some((r: Json) => r.language === 'python'), 'python advertised');
    }
    assert.equal(typeof body.queue.waiting, 'number');
    // Each worker's own /metrics (loopback): the jobs it finished since it started.
    for (const w of workers) {
      const port = w.logs.find((l) => l.msg === 'cylo worker ready')?.metricsPort as number;
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(text, /cylo_worker_jobs_finished_total\{outcome="result"\} [1-9]/, `worker ${w.id} metrics`);
      assert.match(text, /cylo_worker_jobs_running 0/);
    }
  });

  test('SSE through the queue: output frames arrive while the program runs, then the result', T, async () => {
    const res = await fetch(`${api.base}/v1/execute`, { method: 'POST', headers: { ...auth, accept: 'text/event-stream' }, body: JSON.stringify({ language: 'bash', code: 'echo first; sleep 0.5; echo second' }) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const text = await res.text();
    const frames = [...text.matchAll(/event: (\w+)\ndata: (.*)\n\n/g)].map((m) => ({ event: m[1], data: JSON.parse(m[2] as string) as Json }));
    const stdout = frames.filter((f) => f.event === 'stdout').map((f) => f.data.data).join('');
    assert.equal(stdout, 'first\nsecond\n', 'the live output, relayed from the worker');
    assert.ok(frames.some((f) => f.event === 'state' && f.data.to === 'Processing'), 'state frames relayed');
    const last = frames.at(-1);
    assert.equal(last?.event, 'result');
    assert.equal(last?.data.run.stdout, 'first\nsecond\n');
    // The first output frame came before the result (live, not replayed at the end).
    assert.ok(frames.findIndex((f) => f.event === 'stdout') < frames.length - 1);
  });

  test('a client that disconnects cancels its job: the program on the worker is killed', T, async () => {
    const marker = uniqueMarker('');
    const controller = new AbortController();
    const pending = post('/v1/execute', { language: 'bash', code: `sleep 30.${marker}`, limits: { timeoutMs: 40_000 } }, api.base, controller.signal).catch((e: unknown) => e);
    await waitFor('the program to run on a worker', () => processesWith(marker).length > 0, 20_000);
    controller.abort();
    await pending;
    // Proves the cancel reached the worker: the sandbox is gone long before its 30 s.
    await waitFor('the worker to kill the cancelled program', () => processesWith(marker).length === 0, 10_000);
  });

  test('a full queue (queueLimit 2) answers 503 CYLO_E_QUEUE_FULL with Retry-After', T, async () => {
    const marker = uniqueMarker('');
    const controllers: AbortController[] = [];
    const started: Array<Promise<unknown>> = [];
    // 4 slots busy (2 workers x 2), then 2 waiting: the queue is at its bound.
    for (let i = 0; i < 6; i++) {
      const c = new AbortController();
      controllers.push(c);
      started.push(post('/v1/execute', { language: 'bash', code: `sleep 20.${marker}`, limits: { timeoutMs: 30_000 } }, bounded.base, c.signal).catch((e: unknown) => e));
      if (i === 3) await waitFor('4 programs running', () => processesWith(marker).length >= 4, 20_000);
    }
    for (let i = 0; i < 200; i++) {
      const depth = ((await (await fetch(`${bounded.base}/v1/workers`, { headers: auth })).json()) as Json).queue as { waiting: number };
      if (depth.waiting >= 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const refused = await post('/v1/execute', { language: 'python', code: 'print(1)' }, bounded.base);
    assert.equal(refused.status, 503, JSON.stringify(refused.json));
    assert.equal(refused.json.error.code, 'CYLO_E_QUEUE_FULL');
    assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
    for (const c of controllers) c.abort();
    await Promise.all(started);
    await waitFor('every cancelled program gone', () => processesWith(marker).length === 0, 30_000);
  });

  test('a language no live worker offers is refused at once with CYLO_E_NO_WORKER', T, async () => {
    const res = await post('/v1/execute', { language: 'cobol', code: 'x' });
    assert.equal(res.status, 503);
    assert.equal(res.json.error.code, 'CYLO_E_NO_WORKER');
    assert.match(res.json.error.message, /python/, 'names what the live workers offer');
    assert.equal(res.headers.get('retry-after'), '5');
  });

  test('interactive sessions are refused in queue mode with a clear error', T, async () => {
    const res = await post('/v1/sessions', { language: 'python' });
    assert.equal(res.status, 400);
    assert.equal(res.json.error.code, 'CYLO_E_UNSUPPORTED');
    assert.match(res.json.error.message, /queue mode/);
  });

  test('nothing is left on either worker', T, async () => {
    for (const [i, w] of workers.entries()) {
      const uid = UIDS[i] as number;
      const stray = await waitFor(`worker ${w.id} idle`, () => (strayProcesses(uid, 64, w.pid).length === 0 ? [] : false), 15_000).catch(() => strayProcesses(uid, 64, w.pid));
      assert.deepEqual(stray, [], `no program left on worker ${w.id}`);
    }
  });
});
