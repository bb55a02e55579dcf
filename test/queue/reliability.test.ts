// Queue mode under failure, with real components only (a redis-server started here, an API node
// and worker processes from bin/cylo): a worker SIGKILLed mid-job (its job is re-run once on the
// other worker, never by two at once), a worker's SIGTERM (drain: its running job finishes, it
// takes no new one, exit 0), Redis stopped and restarted under load (503 + Retry-After while it
// is down, recovery by itself), and no live worker left (refused at once). Skipped visibly
// without redis-server or sandboxes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { SERVER_TEST_UID_BASE } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { cgroupsNamed, processesWith, readProcess, uniqueMarker } from '../support/processes.js';
import { redisSkipReason, startRedis, type RedisServer } from '../support/redis.js';
import { spawnServe, stopServe, type Served } from '../support/serve.js';
import { waitFor } from '../support/wait.js';
import { startWorker, stopWorker, type WorkerProcess } from '../support/worker.js';

const skip = redisSkipReason() ?? sandboxSkipReason();
const T = { timeout: 60_000 };
const json = { 'content-type': 'application/json' };
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// Short locks so that a killed worker's job is taken again within seconds.
const FAST_STALL = ['--concurrency', '1', '--lock', '2s', '--stalled-interval', '500ms', '--uid-count', '32'];

describe('queue mode: failures', { skip, timeout: 150_000 }, () => {
  let redis: RedisServer;
  let api: Served;
  const workers: WorkerProcess[] = [];
  let nextUid = SERVER_TEST_UID_BASE + 256;
  const addWorker = async (): Promise<WorkerProcess> => {
    const w = await startWorker(redis.url, [...FAST_STALL, '--uid-base', String(nextUid)]);
    nextUid += 32;
    workers.push(w);
    return w;
  };
  const execute = async (body: unknown): Promise<{ status: number; json: Json; headers: Headers }> => {
    const res = await fetch(`${api.base}/v1/execute`, { method: 'POST', headers: json, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Json, headers: res.headers };
  };

  before(async () => {
    redis = await startRedis();
    await addWorker();
    await addWorker();
    api = await spawnServe(['--host', '127.0.0.1', '--log-format', 'json', '--queue', redis.url], { CYLO_UID_BASE: String(SERVER_TEST_UID_BASE + 448), CYLO_UID_COUNT: '32' }, { timeoutMs: 40_000 });
  });

  after(async () => {
    if (api !== undefined) await stopServe(api);
    for (const w of workers) await stopWorker(w);
    await redis?.remove();
  });

  test('SIGKILL of a worker mid-job: the job runs again once on the other worker and is answered', T, async () => {
    const marker = uniqueMarker('');
    const pending = execute({ language: 'bash', code: `sleep 1.${marker}; echo done`, limits: { timeoutMs: 20_000 } });
    await waitFor('the job to start', () => processesWith(marker).length > 0, 20_000);
    const first = workers.find((w) => processesWith(marker).some((p) => isDescendant(p.pid, w.pid)));
    assert.ok(first !== undefined, 'the running worker is found');
    first.child.kill('SIGKILL');
    await first.exited;
    // Never two at once: the killed worker's sandbox died with it (bubblewrap --die-with-parent)
    // before the job can be taken again (its lock must expire first).
    let most = 0;
    const sampler = setInterval(() => (most = Math.max(most, processesWith(marker).filter((p) => p.cmdline[0] === 'sleep').length)), 20);
    const { status, json: result } = await pending;
    clearInterval(sampler);
    assert.equal(status, 200, JSON.stringify(result));
    assert.equal(result.status, 'ok');
    assert.equal(result.run.stdout, 'done\n');
    assert.ok(most <= 1, `at most one copy of the program at a time (saw ${most})`);
    workers.splice(workers.indexOf(first), 1);
    await addWorker();
  });

  test('SIGTERM drains a worker: its running job finishes, it takes no new job, exits 0', T, async () => {
    const marker = uniqueMarker('');
    const [a] = workers as [WorkerProcess, WorkerProcess];
    const before = await finishedBy(api.base, a.id);
    // Two jobs: one on each worker (concurrency 1 each).
    const jobs = [0, 1].map(() => execute({ language: 'bash', code: `sleep 1.${marker}; echo finished` }));
    await waitFor('both jobs running', () => processesWith(marker).filter((p) => p.cmdline[0] === 'sleep').length === 2, 20_000);
    a.child.kill('SIGTERM');
    // A job sent during the drain goes to the other worker once it is free.
    const late = execute({ language: 'python', code: 'print("late")' });
    for (const r of await Promise.all(jobs)) {
      assert.equal(r.json.status, 'ok', JSON.stringify(r.json));
      assert.equal(r.json.run.stdout, 'finished\n', 'the draining worker finished its job');
    }
    assert.deepEqual(await a.exited, { code: 0, signal: null }, a.stderr());
    assert.ok(a.logs.some((l) => l.msg === 'drained'));
    const lateResult = await late;
    assert.equal(lateResult.json.run.stdout, 'late\n');
    assert.equal(await finishedBy(api.base, a.id), before + 1, 'the draining worker finished its one job and took no new one');
    assert.deepEqual(cgroupsNamed(`x-${a.pid}-`), [], 'no cgroup of the drained worker remains');
    workers.splice(workers.indexOf(a), 1);
    await addWorker();
  });

  test('Redis stopped and restarted under load: 503 + Retry-After while down, then it recovers by itself', T, async () => {
    assert.equal((await execute({ language: 'python', code: 'print(1)' })).json.status, 'ok');
    // Under load: executions in flight when Redis goes away are answered (a result, or 503 with
    // Retry-After when their job's fate is unknown), never left hanging.
    const marker = uniqueMarker('');
    const inFlight = [0, 1, 2, 3].map(() => execute({ language: 'bash', code: `sleep 1.${marker}; echo ok` }));
    await waitFor('jobs running', () => processesWith(marker).length > 0, 20_000);
    await redis.stop();
    for (const r of await Promise.all(inFlight)) {
      assert.ok(r.status === 200 || (r.status === 503 && r.json.error.code === 'CYLO_E_QUEUE_UNAVAILABLE' && r.headers.get('retry-after') === '2'), JSON.stringify(r.json));
    }
    const down = await execute({ language: 'python', code: 'print(2)' });
    assert.equal(down.status, 503, JSON.stringify(down.json));
    assert.equal(down.json.error.code, 'CYLO_E_QUEUE_UNAVAILABLE');
    assert.equal(down.headers.get('retry-after'), '2');
    assert.doesNotMatch(down.json.error.message, /password/i);
    // Where the queue's Redis is, is the operator's (logged), not the client's.
    assert.doesNotMatch(down.json.error.message, new RegExp(`${new URL(redis.url).port}|redis://|127\\.0\\.0\\.1`), down.json.error.message);
    await redis.restart();
    // Workers reconnect and advertise again; the API node reconnects: answers come back.
    let answered: Json | undefined;
    for (let i = 0; i < 100 && answered === undefined; i++) {
      const r = await execute({ language: 'python', code: 'print(3)' });
      if (r.status === 200) answered = r.json;
      else await sleep(200);
    }
    assert.equal(answered?.run?.stdout, '3\n', 'recovered without a restart of any node');
    // Both workers are back in the (new, empty) Redis's registry by themselves.
    await waitForAsync('both workers advertised again', async () => ((await (await fetch(`${api.base}/v1/workers`)).json()) as Json).workers?.length === 2, 15_000);
    // A load after the restart: all answered.
    const load = await Promise.all(Array.from({ length: 6 }, (_, i) => execute({ language: 'python', code: `print(${i})` })));
    assert.deepEqual(load.map((r) => r.json.run?.stdout), ['0\n', '1\n', '2\n', '3\n', '4\n', '5\n'], JSON.stringify(load.map((r) => r.json)));
  });

  test('no live worker: a request is refused at once with CYLO_E_NO_WORKER', T, async () => {
    for (const w of workers.splice(0)) assert.deepEqual(await stopWorker(w), { code: 0, signal: null });
    // Routing uses the registry read of the last second (docs/scaling.md, Routing): wait until the
    // API node's fresh read (GET /v1/workers, which also refreshes its routing) shows none. The test
    // used to rely on each stopped worker taking about 2 s to exit (ioredis's disconnect timer).
    await waitForAsync('the API node to list no live worker', async () => ((await (await fetch(`${api.base}/v1/workers`)).json()) as Json).workers?.length === 0, 15_000);
    const res = await execute({ language: 'python', code: 'print(1)' });
    assert.equal(res.status, 503);
    assert.equal(res.json.error.code, 'CYLO_E_NO_WORKER');
    assert.match(res.json.error.message, /no live worker/);
  });
});

/** Polls an async probe until it holds (or throws after `timeoutMs`). */
async function waitForAsync(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Jobs the API node saw finished by this worker (its per-worker throughput counter). */
async function finishedBy(base: string, workerId: string): Promise<number> {
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const line = metrics.split('\n').find((l) => l.startsWith(`cylo_jobs_finished_total{worker="${workerId}"}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

/** True when `pid` descends from `ancestor` (walking the ppids in /proc). */
function isDescendant(pid: number, ancestor: number): boolean {
  let current: number | undefined = pid;
  for (let i = 0; i < 64 && current !== undefined && current > 1; i++) {
    if (current === ancestor) return true;
    current = readProcess(current)?.ppid;
  }
  return false;
}
