// Closing queue nodes while their Redis is down, with real components only (a redis-server
// started here and SIGKILLed by its pid, `cylo serve --queue` and `cylo worker` from bin/cylo):
// - both nodes, Redis killed while a job runs on the worker, then SIGTERM: each exits 0 and logs
//   once that it closed without Redis (the worker: the job it held stays active in Redis, for
//   BullMQ's stalled-job check), and the job's program is gone. Before the fix the worker never
//   exited: its draining heartbeat and BullMQ's close waited for Redis forever (ioredis's
//   offline queue; a disconnect() while reconnecting never ends the connection);
// - a worker and an API node started while Redis is unreachable, then SIGTERM: each exits 0
//   (before: the worker ignored the signal, waiting for Redis to start; the API node's close
//   waited for its queue events connection's start).
// Each test has a timeout, so a regression fails instead of hanging. Skipped visibly without
// redis-server or sandboxes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnCyloChild, stopCyloChild, type ChildExit, type CyloChild } from '../support/cylo-child.js';
import { SERVER_TEST_UID_BASE } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { processesWith, uniqueMarker } from '../support/processes.js';
import { freePort, redisSkipReason, startRedis, type RedisServer } from '../support/redis.js';
import { spawnServe, stopServe, type Served } from '../support/serve.js';
import { waitFor } from '../support/wait.js';
import { startWorker, stopWorker, type WorkerProcess } from '../support/worker.js';

const skip = redisSkipReason() ?? sandboxSkipReason();
/** A close that hangs fails the test at this bound (the fix takes a few seconds). */
const BOUND = { timeout: 30_000 };
const WORKER_ARGS = ['--concurrency', '1', '--lock', '2s', '--stalled-interval', '500ms', '--uid-count', '32', '--uid-base', String(SERVER_TEST_UID_BASE + 256)];
const SERVE_ENV = { CYLO_UID_BASE: String(SERVER_TEST_UID_BASE + 448), CYLO_UID_COUNT: '32' };
const logged = (logs: Array<Record<string, unknown>>, pattern: RegExp): Array<Record<string, unknown>> => logs.filter((l) => pattern.test(String(l.msg)));

describe('queue mode: closing while Redis is down', { skip, timeout: 150_000 }, () => {
  describe('Redis SIGKILLed under an API node and a worker running a job', () => {
    let redis: RedisServer;
    let api: Served;
    let worker: WorkerProcess;

    before(async () => {
      redis = await startRedis();
      worker = await startWorker(redis.url, WORKER_ARGS);
      api = await spawnServe(['--host', '127.0.0.1', '--log-format', 'json', '--grace', '2s', '--queue', redis.url], SERVE_ENV, { timeoutMs: 40_000 });
    });

    after(async () => {
      // Only a regression leaves them running: stopped (then killed) by their pids.
      if (api !== undefined) await stopServe(api, 2000);
      await stopWorker(worker, 2000);
      await redis?.remove();
    });

    test('SIGTERM: both exit 0, each says it closed without Redis, the job stays for another worker', BOUND, async () => {
      const marker = uniqueMarker('');
      const pending = fetch(`${api.base}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'bash', code: `sleep 20.${marker}; echo done`, limits: { timeoutMs: 25_000 } }) }).then(async (r) => ({ status: r.status, json: (await r.json()) as { error?: { code?: string } } }));
      await waitFor('the job to run on the worker', () => processesWith(marker).length > 0, 15_000);
      const pid = redis.pid();
      assert.ok(pid !== undefined);
      process.kill(pid, 'SIGKILL');
      await waitFor('the worker to see Redis gone', () => logged(worker.logs, /^queue: Redis error on /).length > 0 || undefined, 10_000);
      api.child.kill('SIGTERM');
      worker.child.kill('SIGTERM');
      const [apiExit, workerExit] = await Promise.all([api.exited, worker.exited]);
      assert.deepEqual(apiExit, { code: 0, signal: null }, api.stderr());
      assert.deepEqual(workerExit, { code: 0, signal: null }, worker.stderr());
      // The waiting client was answered (not left hanging): the queue is gone or the node stops.
      const answer = await pending;
      assert.equal(answer.status, 503, JSON.stringify(answer.json));
      assert.match(String(answer.json.error?.code), /^CYLO_E_(QUEUE_UNAVAILABLE|SHUTTING_DOWN)$/);
      // One line each, naming what stays in Redis.
      const workerLine = logged(worker.logs, /unreachable while this worker stopped/);
      assert.equal(workerLine.length, 1, JSON.stringify(worker.logs.slice(-5)));
      assert.equal(workerLine[0]?.code, 'CYLO_E_QUEUE_UNAVAILABLE');
      assert.equal(workerLine[0]?.held, 1, 'the running job is counted as held');
      assert.match(String(workerLine[0]?.msg), /stay active in Redis.*stalled-job check/);
      const apiLine = logged(api.logs, /unreachable while this API node closes/);
      assert.equal(apiLine.length, 1, JSON.stringify(api.logs.slice(-5)));
      assert.equal(apiLine[0]?.code, 'CYLO_E_QUEUE_UNAVAILABLE');
      // The job's program died with its worker (its sandbox was stopped).
      assert.deepEqual(processesWith(marker), []);
    });
  });

  describe('nodes started while Redis is unreachable', () => {
    let url: string;
    let api: Served | undefined;
    let worker: CyloChild<true> | undefined;

    before(async () => {
      // A loopback port nothing listens on (released by the kernel's pick): connection refused.
      url = `redis://127.0.0.1:${await freePort()}/0`;
    });

    after(async () => {
      if (api !== undefined) await stopServe(api, 2000);
      if (worker !== undefined) await stopCyloChild(worker.child, worker.exited, 2000);
    });

    test('SIGTERM: the worker waiting for Redis and the API node exit 0', BOUND, async () => {
      // The worker is "up" once it logs Redis's refusal (its start waits for Redis).
      worker = await spawnCyloChild(['worker', '--queue', url, ...WORKER_ARGS], { what: 'cylo worker', ready: (entry) => (/^queue: Redis error on /.test(String(entry.msg)) ? true : undefined), timeoutMs: 25_000 });
      api = await spawnServe(['--host', '127.0.0.1', '--log-format', 'json', '--grace', '2s', '--queue', url], SERVE_ENV, { timeoutMs: 25_000 });
      worker.child.kill('SIGTERM');
      api.child.kill('SIGTERM');
      const exits: ChildExit[] = await Promise.all([worker.exited, api.exited]);
      assert.deepEqual(exits, [
        { code: 0, signal: null },
        { code: 0, signal: null },
      ], `${worker.stderr()}\n${api.stderr()}\n${JSON.stringify(worker.logs.slice(-3))}\n${JSON.stringify(api.logs.slice(-5))}`);
      assert.equal(logged(worker.logs, /^stop requested before the worker was ready/).length, 1, JSON.stringify(worker.logs.slice(-5)));
      assert.equal(logged(api.logs, /unreachable while this API node closes/).length, 1, JSON.stringify(api.logs.slice(-5)));
    });
  });
});
