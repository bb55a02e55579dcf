// cpuShare (issue 20): each execution's CPU per wall-clock second is capped by cgroup v2's
// cpu.max; on a cgroup-v1 host the option is refused, never silently ignored. Runs on both host
// kinds: this machine (v1 hybrid) proves the refusal, the cgroup-v2 guest
// (test/guest/cgroup-v2.test.ts) the cap.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { openCgroups } from '../../src/sandbox/cgroups.js';
import type { Cylo } from '../../src/index.js';
import { testCylo } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { slow } from '../support/slow.js';

const SHARE = 0.25;
let cylo: Cylo | undefined;
after(async () => cylo?.close({ graceMs: 0 }));

// Two processes that spin until the wall-clock limit ends the run: without a cap they use up to
// two CPUs per wall second (at least one on a one-CPU machine).
const SPIN = `
import os
os.fork()
while True:
    pass
`;

test('cpuShare 0.25: two busy processes use at most a generous multiple of a quarter CPU per wall second (v2); refused on v1', { timeout: slow(60_000) }, async (t) => {
  if (skipWithoutSandbox(t)) return;
  cylo = testCylo({ cpuShare: SHARE }, 320);
  if (openCgroups().version === 'v1') {
    // Proves the refusal: the option cannot be enforced here, so no execution runs at all.
    await assert.rejects(cylo.execute({ language: 'python', code: 'print(1)' }), (e: Error & { code?: string }) => e.code === 'CYLO_E_SANDBOX_UNAVAILABLE' && /cpuShare needs cgroup v2/.test(e.message));
    return;
  }
  const timeoutMs = slow(4000);
  const r = await cylo.execute({ language: 'python', code: SPIN, limits: { timeoutMs, cpuTimeMs: 2 * timeoutMs, pids: 8 } });
  assert.equal(r.status, 'timeout', JSON.stringify(r));
  const run = r.run;
  assert.ok(run !== null);
  t.diagnostic(`cpuMs ${run.cpuMs} over wallMs ${run.wallMs}: ${(run.cpuMs / run.wallMs).toFixed(3)} CPUs (share ${SHARE})`);
  // One-sided and generous: twice the share. Uncapped, the two spinners use >= 1 CPU per second.
  assert.ok(run.cpuMs <= 2 * SHARE * run.wallMs, `cpuMs ${run.cpuMs} > ${2 * SHARE} x wallMs ${run.wallMs}`);
  assert.ok(run.cpuMs > 0, 'the program ran');
});
