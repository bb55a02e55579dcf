// The API node's bound and worker registry against a real redis-server (no worker process: a
// heartbeat written with the registry's own function stands for one, so jobs stay waiting).
// Proves: (1) requests one after the other on one API node, faster than the background depth
// read, stop at exactly queueLimit jobs waiting although the bound is no longer read from Redis
// per request (bound.ts: the estimate counts this node's own adds; with only the last read, all
// 15 would pass); the rest are refused CYLO_E_QUEUE_FULL; (2) the registry lists a
// worker while its heartbeat key lives and drops its id from the set once the key expired.
// Skipped visibly without redis-server. Cost: about 2 s.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { CyloError } from '../../src/errors.js';
import { connect, parseQueueUrl } from '../../src/queue/connection.js';
import { WORKERS_SET, workerKey } from '../../src/queue/keys.js';
import { QueueClient } from '../../src/queue/producer.js';
import { liveWorkers, writeHeartbeat, type WorkerInfo } from '../../src/queue/registry.js';
import { redisSkipReason, startRedis, type RedisServer } from '../support/redis.js';
import { waitForAsync } from '../support/wait.js';

const skip = redisSkipReason();
const LIMIT = 10;

const info = (id: string): WorkerInfo => ({ id, host: 'test', pid: 1, runtimes: [{ language: 'python', aliases: ['py'], version: '3' }], concurrency: 1, running: 0, completed: 0, startedAt: new Date().toISOString(), draining: false });

describe('queue bound and worker registry (real Redis)', { skip, timeout: 60_000 }, () => {
  let redis: RedisServer;
  let commands: Redis;

  before(async () => {
    redis = await startRedis();
    commands = connect(parseQueueUrl(redis.url), 'blocking', 'test-bound-registry');
    commands.on('error', () => {});
  });
  after(async () => {
    commands?.disconnect();
    await redis?.remove();
  });

  test(`15 requests one after the other stop at queueLimit (${LIMIT}) waiting; the others get CYLO_E_QUEUE_FULL`, { timeout: 30_000 }, async () => {
    // A "worker" that never takes a job: its heartbeat only (routing needs a live worker).
    await writeHeartbeat(commands, info('bound-test-worker'));
    const client = new QueueClient({ connection: parseQueueUrl(redis.url), queueLimit: LIMIT, log: () => {} });
    const controller = new AbortController();
    const all: Array<Promise<unknown>> = [];
    try {
      await client.ready();
      const refused: CyloError[] = [];
      const waiting = async (): Promise<number> => (await client.depth()).waiting;
      for (let i = 0; i < 15; i++) {
        const decided = refused.length + (await waiting());
        all.push(
          client.execute({ language: 'python', code: 'print(1)' }, { owner: null, api: 'native', signal: controller.signal }).catch((e: unknown) => {
            if (e instanceof CyloError && e.code === 'CYLO_E_QUEUE_FULL') refused.push(e);
          }),
        );
        // This request decided (refused, or its job waiting in Redis) before the next one; polled
        // without a pause so that the 15 fit in few background reads (each read is a round trip).
        const deadline = Date.now() + 10_000;
        while (refused.length + (await waiting()) <= decided) assert.ok(Date.now() < deadline, `request ${i + 1} neither admitted nor refused within 10 s`);
      }
      assert.equal(await waiting(), LIMIT, 'exactly queueLimit jobs waiting');
      assert.equal(refused.length, 15 - LIMIT);
      assert.match(refused[0]?.message ?? '', /queueLimit 10/);
    } finally {
      controller.abort();
      await Promise.all(all);
      await client.close();
      await commands.del(workerKey('bound-test-worker'));
    }
  });

  test('the registry lists a worker while its heartbeat lives, then drops its id from the set', { timeout: 20_000 }, async () => {
    await writeHeartbeat(commands, info('registry-test-a'));
    await writeHeartbeat(commands, info('registry-test-b'));
    assert.deepEqual((await liveWorkers(commands)).map((w) => w.id).filter((id) => id.startsWith('registry-test')), ['registry-test-a', 'registry-test-b']);
    // b's heartbeat expires (as when its worker is SIGKILLed and stops beating).
    await commands.pexpire(workerKey('registry-test-b'), 1);
    await waitForAsync('the heartbeat key to expire', async () => (await commands.exists(workerKey('registry-test-b'))) === 0, 5000);
    assert.deepEqual((await liveWorkers(commands)).map((w) => w.id).filter((id) => id.startsWith('registry-test')), ['registry-test-a']);
    // The read removed b's id: the set stays O(live workers).
    assert.equal(await commands.sismember(WORKERS_SET, 'registry-test-b'), 0);
    assert.equal(await commands.sismember(WORKERS_SET, 'registry-test-a'), 1);
  });
});
