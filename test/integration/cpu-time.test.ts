// The CPU figure and the CPU-time limit on a real sandbox (issue 12, item 6): `cpuMs` is the
// program's own CPU (the cgroup counter from its exec to its exit, the sandbox's setup left
// out). Only invariants that hold on any machine are asserted (no timing thresholds): the
// mechanism itself is unit-tested with a counter the test controls (test/unit/program-cpu.test.ts)
// and the figure for an empty program is measured by the benchmark (bench/).
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { closeSharedCylos, getCylo } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { slow } from '../support/slow.js';

after(closeSharedCylos);
const T = { timeout: slow(60_000) };

async function skipUnlessC(t: TestContext): Promise<boolean> {
  if (skipWithoutSandbox(t)) return true;
  const r = await getCylo().registry.resolve('c');
  if (r.available) return false;
  t.skip(`c not installed: apt-get install ${r.definition.package}`);
  return true;
}

// Burns CPU until its own CPU clock says 150 ms since main() started, then prints that figure.
const BURN = `#include <stdio.h>
#include <time.h>
static double ms(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
int main(void) { double start = ms(), now; volatile unsigned long x = 0; do { x++; now = ms(); } while (now - start < 150); printf("%.3f\\n", now - start); return 0; }
`;

test("cpuMs is at least the CPU the program measured itself: the subtraction never eats the program's time", T, async (t) => {
  // Proves the start of the program's CPU is taken no later than main() (and its end no earlier
  // than its exit): a start read late (after the program ran a while) or an end read early
  // would report less than the program itself used.
  if (await skipUnlessC(t)) return;
  const r = await getCylo().execute({ language: 'c', code: BURN });
  assert.equal(r.status, 'ok', JSON.stringify(r));
  const own = Number(r.run?.stdout.trim());
  assert.ok(own >= 150, r.run?.stdout);
  assert.ok((r.run?.cpuMs ?? 0) >= own, `cpuMs ${r.run?.cpuMs} < the program's own ${own} ms`);
});

test("the CPU-time limit stops a busy loop once the program's own CPU reaches it", T, async (t) => {
  // Proves the limit still holds with the new baseline: the program is stopped by the CPU
  // limit (not the wall clock, which is far away), and the figure reported reached the limit.
  if (await skipUnlessC(t)) return;
  const r = await getCylo().execute({ language: 'c', code: 'int main(void) { for (;;) {} }', limits: { cpuTimeMs: 300, timeoutMs: 2000 } });
  assert.equal(r.status, 'timeout', JSON.stringify(r));
  assert.match(r.run?.message ?? '', /CPU time limit of 300 ms exceeded/);
  assert.ok((r.run?.cpuMs ?? 0) >= 300, `cpuMs ${r.run?.cpuMs}`);
  assert.equal(r.run?.signal, 'SIGKILL');
});
