// cgroup v2, proven (issue 20): boots a guest with a PURE cgroup-v2 hierarchy (Debian's cloud
// kernel, the host's /usr and this project read-only over virtiofs, memory, pids and cpu
// enabled; scripts/guest/cgroup-v2.sh) and runs cylo's isolation, limits, CPU, hostile, seccomp
// and cgroup suites inside it. The guest's TAP streams to this test's stderr as it comes; the
// test fails when any guest test fails, when a guest test skipped because a layer was missing
// (no sandbox, no cgroups, a failed pre-flight: on this guest those are failures), or when the
// guest never reported. Skipped, visibly, only where QEMU or the guest kernel cannot run at all.
// CYLO_GUEST_SLOW (default 6) is the guest's CYLO_TEST_SLOW: software emulation starts Python
// in seconds, so budgets "to finish in" are stretched (never a limit a test proves).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { guestSkipReason, summariseTap } from '../support/guest.js';

/** The suites the guest runs (compiled paths, relative to the project). */
export const GUEST_FILES = [
  'dist/test/unit/cgroups.test.js',
  'dist/test/integration/isolation.test.js',
  'dist/test/integration/limits.test.js',
  'dist/test/integration/limits-named.test.js',
  'dist/test/integration/cpu-time.test.js',
  'dist/test/integration/cpu-share.test.js',
  'dist/test/security/hostile-filesystem.test.js',
  'dist/test/security/hostile-network.test.js',
  'dist/test/security/hostile-outputs.test.js',
  'dist/test/security/hostile-resources.test.js',
  'dist/test/security/hostile-syscalls.test.js',
  'dist/test/security/seccomp-allow-list.test.js',
  // The zygote's runtime under cgroup v2 and an older kernel (6.1: clone3 set_tid, pidfd_getfd,
  // setns by pidfd, Landlock ABI 2): about 1.8 min here.
  'dist/test/security/zygote.test.js',
];

const SLOW = process.env['CYLO_GUEST_SLOW'] ?? '6';
const LIMIT_S = Number(process.env['CYLO_GUEST_TIMEOUT'] ?? '2400');

test('the isolation, limits, hostile and cgroup suites pass on a pure cgroup-v2 guest', { timeout: (LIMIT_S + 120) * 1000 }, async (t) => {
  const reason = guestSkipReason();
  if (reason !== undefined) {
    t.skip(`cgroup-v2 guest cannot boot here: ${reason}`);
    return;
  }
  const started = Date.now();
  const child = spawn('scripts/guest/cgroup-v2.sh', ['--env', `CYLO_TEST_SLOW=${SLOW}`, '--doctor', '--', '--test-reporter=tap', ...GUEST_FILES], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CYLO_GUEST_TIMEOUT: String(LIMIT_S) },
  });
  let output = '';
  let partial = '';
  // Streamed line by line as it comes, prefixed: a slow guest shows its progress in CI's log.
  const relay = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    output += text;
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) process.stderr.write(`guest| ${line}\n`);
  };
  child.stdout.on('data', relay);
  child.stderr.on('data', relay);
  const [code] = (await once(child, 'close')) as [number | null];
  if (partial !== '') process.stderr.write(`guest| ${partial}\n`);
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const summary = summariseTap(output.replace(/\r/g, ''));
  assert.ok(summary !== undefined, `the guest reported no test summary (exit ${code}, ${minutes} min); see the guest| lines above`);
  t.diagnostic(`guest: ${summary.tests} tests, ${summary.pass} pass, ${summary.fail} fail, ${summary.skipped} skipped, in ${minutes} min (boot included)`);
  assert.deepEqual(summary.failures, [], 'guest tests failed');
  assert.deepEqual(summary.badSkips, [], 'guest tests skipped for a missing layer');
  assert.equal(summary.fail, 0);
  assert.ok(summary.pass > 0, 'the guest passed tests');
  assert.equal(code, 0, `the guest run exited ${code}`);
});
