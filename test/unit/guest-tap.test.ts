// The guest runner's reading of node:test TAP (test/support/guest.ts): the cgroup-v2 guest job
// passes or fails on it, so a failure nested in a subtest, a skip that hides a missing layer and
// a run that never finished must each be seen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summariseTap } from '../support/guest.js';

const TAP = `TAP version 13
# Subtest: outer
    # Subtest: inner
    not ok 1 - inner
ok 1 - a bomb is contained # SKIP pre-flight failed, hostile tests not run: memory limit not in force
ok 2 - scoping # SKIP Landlock ABI < 6
ok 3 - fine
1..3
# tests 4
# suites 1
# pass 1
# fail 1
# cancelled 0
# skipped 2
# todo 0
`;

test('summariseTap: counts, nested failures, and skips that hide a missing layer', () => {
  const s = summariseTap(TAP);
  assert.ok(s !== undefined);
  assert.deepEqual([s.tests, s.pass, s.fail, s.skipped], [4, 1, 1, 2]);
  assert.deepEqual(s.failures, ['not ok 1 - inner']);
  // Only the pre-flight skip is bad: a test that does not apply (ABI < 6) may skip.
  assert.equal(s.badSkips.length, 1);
  assert.match(s.badSkips[0] ?? '', /pre-flight failed/);
});

test('summariseTap: a run without its summary lines is undefined (the guest never finished)', () => {
  assert.equal(summariseTap(TAP.split('# tests')[0] ?? ''), undefined);
});
