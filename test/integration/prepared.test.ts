// Prepared sandboxes: an idle pool slot starts its next sandbox ahead of time (bubblewrap, PID 1
// waiting for its job on a pipe), and the next execution whose sandbox is identical apart from
// its job runs in it. Checked from the host (the waiting processes exist, run as the slot's uid
// and carry no request data on their command lines) and through the counters; with
// `prewarm: false` no sandbox is started ahead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCylo, type Cylo } from '../../src/cylo.js';
import { TEST_UID_BASE, TEST_UID_COUNT, TIGHT_LIMITS } from '../support/cylo.js';
import { sandboxSkipReason, skipWithoutSandbox } from '../support/host.js';
import { isPreparedSandboxProcess, uniqueMarker } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { openCgroups } from '../../src/sandbox/cgroups.js';
import type { ExecutionResult } from '../../src/api/result.js';

const T = { timeout: 30_000 };
const make = (prewarm: boolean, offset: number): Cylo | undefined =>
  sandboxSkipReason() === undefined ? createCylo({ defaultLimits: { ...TIGHT_LIMITS }, uidBase: TEST_UID_BASE + TEST_UID_COUNT + offset, uidCount: 8, concurrency: 1, prewarm }) : undefined;
const warmCylo = make(true, 64);
const coldCylo = make(false, 72);

test.after(async () => {
  await warmCylo?.close({ graceMs: 0 });
  await coldCylo?.close({ graceMs: 0 });
});

/** Processes in this test process's cylo cgroups that are a prepared sandbox waiting. */
function waitingSandboxes(): number[] {
  const driver = openCgroups();
  return driver
    .list()
    .filter((n) => n.startsWith(`x-${process.pid}-`))
    .flatMap((n) => driver.open(n).pids())
    .filter((pid) => isPreparedSandboxProcess(pid));
}

test('an idle slot waits with a prepared sandbox, and the next execution runs in it', T, async (t) => {
  if (skipWithoutSandbox(t) || warmCylo === undefined) return;
  await warmCylo.warm();
  const marker = uniqueMarker();
  // Serial executions with a pause: each one should find the sandbox its slot prepared.
  for (let i = 0; i < 4; i++) {
    await sleep(100);
    const r: ExecutionResult = await warmCylo.execute({ language: 'bash', code: 'echo "$1"', args: [marker] });
    assert.equal(r.status, 'ok', r.run?.message ?? '');
    assert.equal(r.run?.stdout, `${marker}\n`);
  }
  const stats = warmCylo.stats();
  assert.ok(stats.sandboxesPrepared >= 3, `stages in a prepared sandbox: ${stats.sandboxesPrepared} (on demand: ${stats.sandboxesStartedOnDemand})`);
  // After the last run the slot prepared its next sandbox: bwrap and PID 1, as the slot's uid,
  // with nothing of any request on their command lines.
  const waiting = await waitFor('the next prepared sandbox', () => {
    const pids = waitingSandboxes();
    return pids.length >= 2 ? pids : undefined;
  });
  for (const pid of waiting) {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    assert.ok(!cmdline.includes(marker), 'no request data on a command line');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    assert.ok(uid >= TEST_UID_BASE, `runs as a sandbox uid, not ${uid}`);
  }
});

test('a request whose sandbox differs (workspace size) does not use the prepared one', T, async (t) => {
  if (skipWithoutSandbox(t) || warmCylo === undefined) return;
  await sleep(100);
  const before = warmCylo.stats();
  const r = await warmCylo.execute({ language: 'bash', code: 'echo other', limits: { workspaceBytes: 1024 * 1024 } });
  assert.equal(r.status, 'ok', r.run?.message ?? '');
  const after = warmCylo.stats();
  assert.equal(after.sandboxesPrepared, before.sandboxesPrepared);
  assert.equal(after.sandboxesStartedOnDemand, before.sandboxesStartedOnDemand + 1);
});

test('with prewarm: false no sandbox is started ahead', T, async (t) => {
  if (skipWithoutSandbox(t) || coldCylo === undefined) return;
  for (let i = 0; i < 2; i++) {
    await sleep(50);
    assert.equal((await coldCylo.execute({ language: 'bash', code: 'echo cold' })).status, 'ok');
  }
  assert.equal(coldCylo.stats().sandboxesPrepared, 0);
  assert.equal(coldCylo.stats().sandboxesStartedOnDemand, 2);
});
