// Unit tests of the ExecutionPool with fake slots (the pool is generic over its slot type):
// the concurrency bound, FIFO order, the queue bound, cancellation while queued and while
// running, slot reuse, retirement of a slot whose reset fails, and close().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { ExecutionPool, type PoolSlot } from '../../src/engine/pool.js';
import { CyloError } from '../../src/errors.js';

class FakeSlot implements PoolSlot {
  resets = 0;
  destroyed = false;
  failReset = false;
  constructor(readonly id: number) {}
  async reset(): Promise<void> {
    this.resets += 1;
    if (this.failReset) throw new Error('reset failed: a process would not die');
  }
  async destroy(): Promise<void> {
    this.destroyed = true;
  }
}

function fakePool(options: { concurrency?: number; queueLimit?: number } = {}): { pool: ExecutionPool<FakeSlot>; created: FakeSlot[] } {
  const created: FakeSlot[] = [];
  const pool = new ExecutionPool<FakeSlot>({
    ...options,
    createSlot: async () => {
      const s = new FakeSlot(created.length);
      created.push(s);
      return s;
    },
  });
  return { pool, created };
}

/** A promise that resolves when `finish()` is called (holds a task running). */
function gate(): { promise: Promise<void>; finish: () => void } {
  let finish!: () => void;
  const promise = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return { promise, finish };
}

const hasCode = (code: string) => (e: unknown): boolean => e instanceof CyloError && e.code === code;

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await tick();
}

test('pool: at most `concurrency` tasks run at once; the rest wait', async () => {
  const { pool } = fakePool({ concurrency: 2, queueLimit: 10 });
  let active = 0;
  let peak = 0;
  const gates = Array.from({ length: 6 }, () => gate());
  const runs = gates.map((g) =>
    pool.run(async () => {
      active += 1;
      peak = Math.max(peak, active);
      await g.promise;
      active -= 1;
    }),
  );
  await settle();
  assert.equal(active, 2);
  assert.deepEqual({ running: pool.stats().running, queued: pool.stats().queued }, { running: 2, queued: 4 });
  for (const g of gates) {
    g.finish();
    await settle();
    assert.ok(active <= 2);
  }
  await Promise.all(runs);
  assert.equal(peak, 2);
  assert.deepEqual({ running: pool.stats().running, queued: pool.stats().queued, completed: pool.stats().completed }, { running: 0, queued: 0, completed: 6 });
});

test('pool: queued tasks start in FIFO order', async () => {
  const { pool } = fakePool({ concurrency: 1, queueLimit: 10 });
  const order: number[] = [];
  const first = gate();
  const runs = [pool.run(async () => {
    order.push(0);
    await first.promise;
  })];
  await settle();
  for (let i = 1; i <= 5; i++) runs.push(pool.run(async () => void order.push(i)));
  await settle();
  assert.deepEqual(order, [0]);
  first.finish();
  await Promise.all(runs);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
});

test('pool: beyond the queue bound, CYLO_E_QUEUE_FULL (and the queued ones still run)', async () => {
  const { pool } = fakePool({ concurrency: 1, queueLimit: 2 });
  const g = gate();
  const started: string[] = [];
  const running = pool.run(async () => {
    started.push('a');
    await g.promise;
  });
  await settle();
  const queued = [pool.run(async () => void started.push('b')), pool.run(async () => void started.push('c'))];
  await assert.rejects(pool.run(async () => void started.push('d')), hasCode('CYLO_E_QUEUE_FULL'));
  assert.equal(pool.stats().queued, 2);
  g.finish();
  await Promise.all([running, ...queued]);
  assert.deepEqual(started, ['a', 'b', 'c']);
});

test('pool: queueLimit 0 means no waiting at all', async () => {
  const { pool } = fakePool({ concurrency: 1, queueLimit: 0 });
  const g = gate();
  const running = pool.run(() => g.promise);
  await settle();
  await assert.rejects(pool.run(async () => {}), hasCode('CYLO_E_QUEUE_FULL'));
  g.finish();
  await running;
});

test('pool: aborting a queued task rejects it with CYLO_E_CANCELLED and it never starts', async () => {
  const { pool } = fakePool({ concurrency: 1, queueLimit: 10 });
  const g = gate();
  const running = pool.run(() => g.promise);
  await settle();
  const controller = new AbortController();
  let started = false;
  const queued = pool.run(async () => {
    started = true;
  }, controller.signal);
  let laterStarted = false;
  const later = pool.run(async () => {
    laterStarted = true;
  });
  await settle();
  assert.equal(pool.stats().queued, 2);
  controller.abort();
  await assert.rejects(queued, hasCode('CYLO_E_CANCELLED'));
  assert.equal(pool.stats().queued, 1, 'the cancelled task left the queue');
  g.finish();
  await running;
  await later;
  assert.equal(started, false, 'the cancelled task never ran');
  assert.equal(laterStarted, true, 'the task behind it still ran');
});

test('pool: an already-aborted signal is refused before anything starts', async () => {
  const { pool, created } = fakePool({ concurrency: 1 });
  let started = false;
  await assert.rejects(
    pool.run(async () => {
      started = true;
    }, AbortSignal.abort()),
    hasCode('CYLO_E_CANCELLED'),
  );
  assert.equal(started, false);
  assert.equal(created.length, 0, 'no slot was created for it');
});

test('pool: aborting a running task reaches the task through the signal it was given', async () => {
  const { pool } = fakePool({ concurrency: 1 });
  const controller = new AbortController();
  let seen: AbortSignal | undefined;
  const running = pool.run(
    (_slot, signal) =>
      new Promise<string>((resolve, reject) => {
        seen = signal;
        signal?.addEventListener('abort', () => reject(new CyloError('CYLO_E_CANCELLED', 'task saw the abort')), { once: true });
        void resolve;
      }),
    controller.signal,
  );
  await settle();
  assert.equal(seen, controller.signal);
  controller.abort();
  await assert.rejects(running, /task saw the abort/);
  await settle();
  assert.equal(pool.stats().running, 0, 'its worker is free again');
  assert.equal(pool.stats().idleSlots, 1, 'and its slot was reset and kept');
});

test('pool: slots are created on demand, reset after each use and reused', async () => {
  const { pool, created } = fakePool({ concurrency: 2 });
  const used: number[] = [];
  for (let i = 0; i < 5; i++) {
    await pool.run(async (slot) => void used.push(slot.id));
    await settle(); // the slot is reset (possibly after the caller has its result), then idle
  }
  assert.equal(created.length, 1, 'one slot served five sequential tasks');
  assert.deepEqual(used, [0, 0, 0, 0, 0]);
  assert.equal(created[0]?.resets, 5, 'reset after every use');
  // Two at once need two slots; afterwards both are idle and reused.
  const g = gate();
  const pair: number[] = [];
  const both = [pool.run(async (s) => {
    pair.push(s.id);
    await g.promise;
  }), pool.run(async (s) => {
    pair.push(s.id);
    await g.promise;
  })];
  await settle();
  assert.equal(new Set(pair).size, 2, 'two concurrent tasks get different slots');
  g.finish();
  await Promise.all(both);
  await settle();
  assert.equal(created.length, 2);
  assert.equal(pool.stats().idleSlots, 2);
  await pool.run(async () => {});
  assert.equal(created.length, 2, 'no new slot while an idle one exists');
});

test('pool: a failing task still releases (and resets) its slot', async () => {
  const { pool, created } = fakePool({ concurrency: 1 });
  await assert.rejects(pool.run(async () => {
    throw new Error('task failed');
  }), /task failed/);
  await settle();
  assert.equal(created[0]?.resets, 1);
  assert.deepEqual({ running: pool.stats().running, idle: pool.stats().idleSlots }, { running: 0, idle: 1 });
});

test('pool: warm() creates idle slots ahead, up to the concurrency', async () => {
  const { pool, created } = fakePool({ concurrency: 3 });
  await pool.warm(10);
  assert.equal(created.length, 3);
  assert.equal(pool.stats().idleSlots, 3);
  await pool.run(async () => {});
  await settle();
  assert.equal(created.length, 3);
});

test('pool: a slot whose reset fails is retired: destroyed, counted, never handed out again', async () => {
  const { pool, created } = fakePool({ concurrency: 1, queueLimit: 4 });
  const g = gate();
  const first = pool.run(async (slot) => {
    slot.failReset = true; // e.g. a process of the execution survived the kill
    await g.promise;
    return slot.id;
  });
  await settle();
  // queued behind it: must get a new slot, not the broken one
  const second = pool.run(async (slot) => slot.id);
  g.finish();
  assert.equal(await first, 0);
  assert.equal(await second, 1, 'the next task got a fresh slot');
  await settle();
  assert.equal(created[0]?.destroyed, true, 'the broken slot was destroyed');
  assert.equal(created[1]?.destroyed, false);
  const s = pool.stats();
  assert.equal(s.retiredSlots, 1);
  assert.equal(s.idleSlots, 1);
  for (let i = 0; i < 3; i++) {
    assert.equal(await pool.run(async (slot) => slot.id), 1, 'the retired slot is never reused');
    await settle();
  }
});

test('pool: a slot that fails to be created frees its worker for the next task', async () => {
  let n = 0;
  const pool = new ExecutionPool<FakeSlot>({
    concurrency: 1,
    createSlot: async () => {
      n += 1;
      if (n === 1) throw new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', 'no cgroup');
      return new FakeSlot(n);
    },
  });
  await assert.rejects(pool.run(async () => {}), hasCode('CYLO_E_SANDBOX_UNAVAILABLE'));
  assert.equal(pool.stats().running, 0);
  assert.equal(await pool.run(async (s) => s.id), 2);
});

test('pool: close() rejects queued tasks with CYLO_E_SHUTTING_DOWN, waits for running ones, destroys slots', async () => {
  const { pool, created } = fakePool({ concurrency: 2, queueLimit: 10 });
  // one idle slot, then two running tasks (one reuses the idle slot) and two queued
  await pool.warm(1);
  const g = gate();
  let finished = 0;
  const running = [0, 1].map(() =>
    pool.run(async () => {
      await g.promise;
      finished += 1;
    }),
  );
  await settle();
  const queuedStarted: boolean[] = [];
  const queued = [0, 1].map(() => pool.run(async () => void queuedStarted.push(true)));
  await settle();
  assert.equal(pool.stats().queued, 2);
  let closed = false;
  const closing = pool.close().then(() => {
    closed = true;
  });
  for (const q of queued) await assert.rejects(q, hasCode('CYLO_E_SHUTTING_DOWN'));
  await settle();
  assert.equal(closed, false, 'close() waits for the running tasks');
  await assert.rejects(pool.run(async () => {}), hasCode('CYLO_E_SHUTTING_DOWN'), 'no new task after close()');
  g.finish();
  await Promise.all(running);
  await closing;
  assert.equal(finished, 2, 'the running tasks finished normally');
  assert.deepEqual(queuedStarted, []);
  assert.ok(created.length === 2 && created.every((s) => s.destroyed), 'every slot destroyed');
  assert.deepEqual({ running: pool.stats().running, queued: pool.stats().queued, idle: pool.stats().idleSlots }, { running: 0, queued: 0, idle: 0 });
});

test('pool: a slot released after close() began is destroyed without a reset (one-shot exec: no cleaning for a next use)', async () => {
  // Proves the fast path of a one-shot `cylo exec` (which closes as soon as it has its result):
  // the slot is not reset (kill, then fresh cgroup directories) before it is destroyed.
  // Fails if release resets before destroying.
  const { pool, created } = fakePool({ concurrency: 1 });
  const result = await pool.run(async () => 'done');
  const closing = pool.close(); // before the release that run() deferred to setImmediate
  await closing;
  assert.equal(result, 'done');
  assert.equal(created[0]?.destroyed, true, 'the slot was destroyed');
  assert.equal(created[0]?.resets, 0, 'and not reset first');
  assert.equal(pool.stats().running, 0);
});

test('pool: close() with idle slots only destroys them at once', async () => {
  const { pool, created } = fakePool({ concurrency: 2 });
  await pool.warm();
  await pool.close();
  assert.ok(created.length === 2 && created.every((s) => s.destroyed));
});

test('pool: defaults to one slot per core and a queue of 16 per slot', () => {
  const p = new ExecutionPool({ createSlot: async (): Promise<FakeSlot> => new FakeSlot(0) });
  assert.ok(p.concurrency >= 1, 'defaults to the number of cores');
  assert.equal(p.queueLimit, p.concurrency * 16);
});

// Proves the slot preference: an idle slot `prefer` accepts is handed before the last freed
// one, and without a match the last freed one still is.
test('an execution gets the idle slot its preference accepts, else the last freed', async () => {
  const { pool } = fakePool({ concurrency: 3 });
  await pool.warm(3);
  const used = async (prefer?: (s: FakeSlot) => boolean): Promise<number> => pool.run(async (s) => s.id, undefined, prefer);
  assert.equal(await used((s) => s.id === 0), 0); // not the last created (2)
  await settle();
  assert.equal(await used((s) => s.id === 1), 1);
  await settle();
  assert.equal(await used(() => false), 1, 'no match: the last freed');
  await settle();
});
