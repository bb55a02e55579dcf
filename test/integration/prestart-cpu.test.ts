// A pre-started runtime's CPU before its handover is not the program's: an environment's
// pre-imports can cost seconds of CPU (pandas about one; a heavy operator's list more), and the
// request's RLIMIT_CPU (its cpuTimeMs in whole seconds, plus one: the per-process backstop behind
// the cgroup check) is set at the handover. A stage of an environment with pre-imports gets
// PREIMPORT_CPU_SLACK_S more seconds of that backstop, cold or pre-started alike (so that the
// program sees one limit either way), which leaves the program its budget.
// Here a built environment's module burns 2.5 s of CPU when imported and is the environment's
// pre-import; a request with cpuTimeMs 1000 (RLIMIT_CPU 2 s) burns 0.3 s and prints one line.
// Without the fix the kernel kills the runtime (past its hard CPU limit) at its first clock tick.
// No timing assertion: CPU seconds are counted by the kernel, not measured by the test.
// CI cost: about 10 s (one small build, two runs, 5 s of CPU burnt by the two pre-imports).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createCylo, type Cylo } from '../../src/cylo.js';
import type { ExecuteRequest } from '../../src/api/request.js';
import type { ExecutionResult } from '../../src/api/result.js';
import { TEST_UID_BASE, TEST_UID_COUNT, TIGHT_LIMITS } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { makeWheel } from '../support/packages.js';

const skip = sandboxSkipReason();
const MEMORY = 256 * 1024 * 1024; // PREIMPORT_MIN_MEMORY_BYTES: pre-imports happen from here on
let root: string;
let cylo: Cylo | undefined;

before(async () => {
  if (skip !== undefined) return;
  root = mkdtempSync('/tmp/cylo-prestart-cpu-');
  const from = join(root, 'from');
  mkdirSync(from);
  makeWheel(from, 'cpuburn', '1.0.0', 'import time\nt0 = time.process_time()\nwhile time.process_time() - t0 < 2.5:\n    pass\n');
  cylo = createCylo({ environmentsDir: join(root, 'environments'), defaultLimits: { ...TIGHT_LIMITS, timeoutMs: 20_000, cpuTimeMs: 1000, memoryBytes: MEMORY }, uidBase: TEST_UID_BASE + TEST_UID_COUNT, uidCount: 8, concurrency: 1, prestart: true, preimport: { cpuburn: ['cpuburn'] } });
  await cylo.buildEnvironment({ name: 'cpuburn', language: 'python', packages: ['cpuburn'], from });
});

after(async () => {
  await cylo?.close({ graceMs: 0 });
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

/** Runs `request` until one run is handed to a pre-started runtime (the first teaches the slot). */
async function runPrestarted(c: Cylo, request: ExecuteRequest): Promise<ExecutionResult> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const before = c.stats().runtimesPrestarted;
    const r = await c.execute(request);
    if (c.stats().runtimesPrestarted === before + 1) return r;
  }
  throw new Error('the request was never handed to a pre-started runtime');
}

test('a pre-import that spent more CPU than the request\'s RLIMIT_CPU leaves the program its whole budget', { skip: skip ?? false, timeout: 180_000 }, async () => {
  // The program itself burns 0.3 s of CPU (well inside its 1 s): the kernel checks CPU limits on
  // its clock ticks, which a program that ends within a few ms may never meet.
  const code = 'import sys, time\nt0 = time.process_time()\nwhile time.process_time() - t0 < 0.3:\n    pass\nprint("cpuburn" in sys.modules)';
  const request: ExecuteRequest = { language: 'python', environment: 'cpuburn', code, limits: { cpuTimeMs: 1000, memoryBytes: MEMORY } };
  const r = await runPrestarted(cylo as Cylo, request);
  // proves: the runtime was pre-imported (the module is there before the program imports it),
  // and the program ran to its end under cpuTimeMs 1000 although the runtime had already spent
  // 2.5 s of CPU (fails without the slack: killed by the kernel, no output)
  assert.equal(r.status, 'ok', JSON.stringify(r.run));
  assert.equal(r.run?.stdout, 'True\n');
});
