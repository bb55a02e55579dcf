// The slowness factor for hosts much slower than a developer machine: the cgroup-v2 guest
// (test/guest/cgroup-v2.test.ts) runs under software emulation (QEMU TCG), where starting
// Python costs seconds of CPU. CYLO_TEST_SLOW=<factor> (a number >= 1; default 1) stretches the
// time limits of tests that only need a program to finish — never a limit a test proves is
// enforced (those keep their figure: a CPU-time limit of 300 ms must still stop at 300 ms).

/** The factor from CYLO_TEST_SLOW: 1 when unset; throws on a value that is not a number >= 1. */
export function slowFactor(env: NodeJS.ProcessEnv = process.env): number {
  const text = env['CYLO_TEST_SLOW'];
  if (text === undefined || text === '') return 1;
  const factor = Number(text);
  if (!Number.isFinite(factor) || factor < 1) throw new Error(`CYLO_TEST_SLOW: expected a number >= 1 (got ${JSON.stringify(text)})`);
  return factor;
}

const FACTOR = slowFactor();

/** A time budget in ms for "long enough to finish", stretched by CYLO_TEST_SLOW. */
export function slow(ms: number): number {
  return Math.round(ms * FACTOR);
}
