// The execution pool with real sandboxes: with concurrency 2, never more than two sandboxes run
// at once (seen from the host, not only from stats()), two concurrent executions get different
// uids, and a later execution reuses the uid (and cgroup) of a slot that became free.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCylo } from '../../src/cylo.js';
import { CyloError } from '../../src/errors.js';
import { TEST_UID_BASE, TEST_UID_COUNT, TIGHT_LIMITS } from '../support/cylo.js';
import { sandboxSkipReason, skipWithoutSandbox } from '../support/host.js';
import { settledBusyCgroups, processesWith, uniqueMarker } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const T = { timeout: 30_000 };
// Its own instance (concurrency 2) in the second half of this process's test uid range.
const cylo = sandboxSkipReason() === undefined ? createCylo({ defaultLimits: { ...TIGHT_LIMITS }, uidBase: TEST_UID_BASE + TEST_UID_COUNT, uidCount: 64, concurrency: 2, queueLimit: 8 }) : undefined;

test.after(async () => {
  await cylo?.close({ graceMs: 0 });
});

test('pool (real sandboxes): concurrency 2 holds, concurrent runs have different uids, later runs reuse them', T, async (t) => {
  if (skipWithoutSandbox(t) || cylo === undefined) return;
  const markers = Array.from({ length: 5 }, () => uniqueMarker());
  const results = markers.map((m) => cylo.execute({ language: 'bash', code: 'sleep 0.6; echo done', args: [m], limits: { timeoutMs: 10_000 } }));
  const uidOf = new Map<string, number>();
  let peakAlive = 0;
  let peakRunning = 0;
  let peakQueued = 0;
  let finished = false;
  const all = Promise.all(results).finally(() => {
    finished = true;
  });
  while (!finished) {
    const s = cylo.stats();
    peakRunning = Math.max(peakRunning, s.running);
    peakQueued = Math.max(peakQueued, s.queued);
    let alive = 0;
    const uidsNow = new Set<number>();
    for (const m of markers) {
      const procs = processesWith(m);
      if (procs.length === 0) continue;
      alive += 1;
      const uid = procs[0]?.uids[0] as number;
      for (const p of procs) assert.equal(p.uids[0], uid, 'every process of one execution has its uid');
      uidOf.set(m, uid);
      uidsNow.add(uid);
    }
    assert.equal(uidsNow.size, alive, 'executions alive at the same time have different uids');
    peakAlive = Math.max(peakAlive, alive);
    await sleep(15);
  }
  const done = await all;
  for (const r of done) assert.equal(r.status, 'ok');
  assert.ok(peakAlive <= 2, `at most 2 sandboxes alive at once from the host (saw ${peakAlive})`);
  assert.equal(peakAlive, 2, 'and two did run side by side');
  assert.equal(peakRunning, 2);
  assert.ok(peakQueued >= 2, `the others waited in the queue (peak ${peakQueued})`);
  assert.ok(uidOf.size >= 4, `the host saw most executions (${uidOf.size} of 5)`);
  const distinct = new Set(uidOf.values());
  assert.equal(distinct.size, 2, `five executions on two slots used two uids: ${[...uidOf.values()].join(', ')}`);
  for (const uid of distinct) assert.ok(uid >= TEST_UID_BASE + TEST_UID_COUNT && uid < TEST_UID_BASE + TEST_UID_COUNT + 64, `uid ${uid} from this instance's range`);
  // slots are reset after their caller has the result: wait until both are idle again
  await waitFor('both slots to be idle', () => cylo.stats().idleSlots === 2);
  const s = cylo.stats();
  assert.deepEqual({ running: s.running, queued: s.queued, idleSlots: s.idleSlots, retiredSlots: s.retiredSlots }, { running: 0, queued: 0, idleSlots: 2, retiredSlots: 0 });
  assert.deepEqual(await settledBusyCgroups(), []);
});

test('pool (real sandboxes): a background process left by one execution does not survive into the next on the same slot', T, async (t) => {
  if (skipWithoutSandbox(t) || cylo === undefined) return;
  const marker = uniqueMarker();
  // Detach a sleeper (its own session, reparented away from the program) and exit at once.
  const first = await cylo.execute({ language: 'bash', code: `(setsid bash -c 'sleep 30; :' ${marker} >/dev/null 2>&1 &) ; sleep 0.2; echo started`, limits: { timeoutMs: 5000 } });
  assert.equal(first.status, 'ok', first.run?.stderr);
  assert.equal(first.run?.stdout, 'started\n');
  assert.deepEqual(processesWith(marker), [], 'the detached sleeper died with its execution');
  const second = await cylo.execute({ language: 'bash', code: 'echo next', limits: { timeoutMs: 5000 } });
  assert.equal(second.status, 'ok', 'the slot was reset and serves the next execution');
  assert.equal(cylo.stats().retiredSlots, 0);
});

test('pool (real sandboxes): a full queue is CYLO_E_QUEUE_FULL; a queued execution aborted never starts', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const small = createCylo({ defaultLimits: { ...TIGHT_LIMITS }, uidBase: TEST_UID_BASE + TEST_UID_COUNT + 64, uidCount: 8, concurrency: 1, queueLimit: 1 });
  try {
    const blocker = new AbortController();
    const running = small.execute({ language: 'bash', code: 'sleep 30', limits: { timeoutMs: 20_000 } }, { signal: blocker.signal });
    running.catch(() => {});
    while (small.stats().running === 0) await sleep(10);
    const marker = uniqueMarker();
    const queuedAbort = new AbortController();
    const queued = small.execute({ language: 'bash', code: 'sleep 30', args: [marker] }, { signal: queuedAbort.signal });
    while (small.stats().queued === 0) await sleep(10);
    await assert.rejects(small.execute({ language: 'bash', code: 'true' }), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_QUEUE_FULL');
    queuedAbort.abort();
    await assert.rejects(queued, (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_CANCELLED');
    assert.equal(small.stats().queued, 0);
    assert.deepEqual(processesWith(marker), [], 'the aborted one never started');
    blocker.abort();
    await assert.rejects(running, (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_CANCELLED');
  } finally {
    await small.close({ graceMs: 0 });
  }
});
