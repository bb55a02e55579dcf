// Redis and BullMQ errors never kill a queue node (src/queue/error-log.ts), with a real
// redis-server started here (a password, to check it never reaches a log) and real processes:
// - a QueueClient closed at every point of its start (its Queue's ready wait and INFO version
//   check) leaves the process alive; before KeptErrorConnection, BullMQ's close removed the
//   listeners and the pending check's failure was an unhandled 'error' event (the bench deaths;
//   reproduced here in child processes);
// - `cylo serve --queue` and `cylo worker` stay alive while Redis is stopped, say so in their
//   logs (once per connection, without the password), say when it is back, and run executions
//   accepted before the outage and after it.
// Skipped visibly without redis-server or sandboxes. Cost in CI: about 20-40 s (one worker, one
// API node, one Redis restart; the close loop takes a second or two).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { SERVER_TEST_UID_BASE } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { redisSkipReason, startRedis, type RedisServer } from '../support/redis.js';
import { spawnServe, stopServe, type Served } from '../support/serve.js';
import { waitFor } from '../support/wait.js';
import { startWorker, stopWorker, type WorkerProcess } from '../support/worker.js';

const PASSWORD = 'queue-errors-secret-7f3a';
const json = { 'content-type': 'application/json' };
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('queue mode: Redis errors are logged, never fatal', { skip: redisSkipReason(), timeout: 150_000 }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis({ password: PASSWORD });
  });
  after(async () => {
    await redis?.remove();
  });

  test('a QueueClient closed at any point of its start: the process lives on', { timeout: 60_000 }, async () => {
    // Proves: no unhandled 'error' event from a BullMQ RedisConnection closed while its start
    // (ready wait, INFO version check) was pending. Without KeptErrorConnection on the Queue,
    // this loop killed its process with "Stream isn't writeable and enableOfflineQueue options
    // is false" (checked by hand: 60 closes, the process died within them).
    // In a child process of its own: the failure comes after close() returned, as an unhandled
    // 'error' event, and what must be seen is whether the process dies of it. A Redis without
    // a password: with AUTH in the start the window moves (not hit by hand).
    const plain = await startRedis();
    try {
      const producer = new URL('../../src/queue/producer.js', import.meta.url).href;
      const connection = new URL('../../src/queue/connection.js', import.meta.url).href;
      const script = [
        `const { QueueClient } = await import(${JSON.stringify(producer)});`,
        `const { parseQueueUrl } = await import(${JSON.stringify(connection)});`,
        'for (let i = 0; i < 150; i++) {',
        `  const client = new QueueClient({ connection: parseQueueUrl(${JSON.stringify(plain.url)}), queueLimit: 10, log: () => {} });`,
        '  await new Promise((r) => setTimeout(r, i % 8));', // every stage of the connection's start
        '  await client.close();',
        '}',
        'await new Promise((r) => setTimeout(r, 500));',
        'console.log("alive");',
      ].join('\n');
      // Three processes of 150 closes each: without the fix 2 of 3 such processes died by hand
      // (the window is a race), so this fails without it almost always.
      for (let run = 0; run < 3; run++) {
        const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 50_000 });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, 'alive\n', r.stderr);
      }
    } finally {
      await plain.remove();
    }
  });

  describe('serve --queue and a worker through a Redis outage', { skip: sandboxSkipReason() }, () => {
    let api: Served;
    let worker: WorkerProcess;
    const execute = async (body: unknown): Promise<{ status: number; json: Json }> => {
      const res = await fetch(`${api.base}/v1/execute`, { method: 'POST', headers: json, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as Json };
    };
    const logged = (logs: Array<Record<string, unknown>>, pattern: RegExp): boolean => logs.some((l) => pattern.test(String(l.msg)));

    before(async () => {
      worker = await startWorker(redis.url, ['--concurrency', '1', '--uid-base', String(SERVER_TEST_UID_BASE + 320), '--uid-count', '32']);
      api = await spawnServe(['--host', '127.0.0.1', '--log-format', 'json', '--queue', redis.url], { CYLO_UID_BASE: String(SERVER_TEST_UID_BASE + 384), CYLO_UID_COUNT: '32' }, { timeoutMs: 40_000 });
    });
    after(async () => {
      if (api !== undefined) await stopServe(api);
      await stopWorker(worker);
    });

    test('both stay alive, log the outage and the recovery (no password), and run work before and after', { timeout: 90_000 }, async () => {
      // Proves: an execution accepted before the outage is answered; while Redis is down both
      // processes keep running and each logs a warning naming the Redis error (fails without the
      // listeners of error-log.ts: no such line); once it is back they log so and a new execution
      // is answered, without a restart of either process.
      const first = await execute({ language: 'python', code: 'print("before")' });
      assert.equal(first.json.run?.stdout, 'before\n', JSON.stringify(first.json));
      await redis.stop();
      await waitFor('the API node to log the outage', () => logged(api.logs, /^queue: Redis error on /) || undefined, 30_000);
      await waitFor('the worker to log the outage', () => logged(worker.logs, /^queue: Redis error on /) || undefined, 30_000);
      const down = await execute({ language: 'python', code: 'print(1)' });
      assert.equal(down.status, 503, JSON.stringify(down.json));
      await redis.restart();
      await waitFor('the API node to log the recovery', () => logged(api.logs, /^queue: Redis connection of .* is back$/) || undefined, 30_000);
      await waitFor('the worker to log the recovery', () => logged(worker.logs, /^queue: Redis connection of .* is back$/) || undefined, 30_000);
      let answered: Json | undefined;
      for (let i = 0; i < 100 && answered === undefined; i++) {
        const r = await execute({ language: 'python', code: 'print("after")' });
        if (r.status === 200) answered = r.json;
        else await sleep(200);
      }
      assert.equal(answered?.run?.stdout, 'after\n', JSON.stringify(answered));
      // Alive: neither process has exited (an unhandled 'error' event would have ended it).
      for (const p of [api.child, worker.child]) assert.equal(p.exitCode, null, `pid ${p.pid} exited`);
      // The outage was logged once per connection, not once per reconnection attempt.
      const warnings = api.logs.filter((l) => /^queue: Redis error on /.test(String(l.msg)));
      assert.ok(warnings.length <= 16, `${warnings.length} warnings: one per retry?`);
      const everything = JSON.stringify([...api.logs, ...worker.logs]) + api.stderr() + worker.stderr();
      assert.ok(!everything.includes(PASSWORD), 'the Redis password appears in a log');
      assert.match(JSON.stringify(warnings[0]), /redis:\/\/:\*\*\*@/);
    });
  });
});
