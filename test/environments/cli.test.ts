// `cylo env build|list|rm`, `cylo exec --env` and `cylo runtimes` as an operator runs them (the
// real bin/cylo, real sandboxes): build from a wheel made at test time, list it with its
// package, run a program with it, remove it.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { makeWheel } from '../support/packages.js';

const skip = sandboxSkipReason();
let root: string;
let envs: string;

before(() => {
  root = mkdtempSync('/tmp/cylo-envs-cli-');
  envs = join(root, 'environments');
  mkdirSync(join(root, 'from'));
  makeWheel(join(root, 'from'), 'clitiny', '0.3.0', 'ANSWER = 42\n');
});
after(() => {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

/** bin/cylo with this test's uid range (+160, 16 uids) and environments directory. */
function cylo(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env, CYLO_UID_BASE: String(TEST_UID_BASE + TEST_UID_COUNT + 32), CYLO_UID_COUNT: '16', CYLO_ENVIRONMENTS_DIR: envs };
  return spawnSync(process.execPath, ['bin/cylo', ...args], { encoding: 'utf8', env, timeout: 120_000 });
}

test('cylo env build, list, exec --env, runtimes, rm', { skip: skip ?? false, timeout: 300_000 }, () => {
  const built = cylo('env', 'build', 'clienv', '--lang', 'python', '--packages', 'clitiny', '--from', join(root, 'from'));
  // proves: the command builds and says what it holds
  assert.equal(built.status, 0, built.stderr);
  assert.match(built.stdout, /clitiny 0\.3\.0/);
  const list = cylo('env', 'list', '--json');
  assert.equal(list.status, 0, list.stderr);
  const entry = (JSON.parse(list.stdout) as Array<{ name: string; packages: unknown[] }>).find((e) => e.name === 'clienv');
  assert.deepEqual(entry?.packages, [{ name: 'clitiny', version: '0.3.0' }]);
  const run = cylo('exec', '--lang', 'python', '--env', 'clienv', '-c', 'import clitiny; print(clitiny.ANSWER)');
  assert.equal(run.stdout, '42\n', run.stderr);
  const runtimes = cylo('runtimes');
  assert.match(runtimes.stdout, /python clienv: clitiny 0\.3\.0/);
  // proves: rm removes it, a second rm and a run with it are refused with the code's exit
  assert.equal(cylo('env', 'rm', 'clienv').status, 0);
  assert.equal(existsSync(join(envs, 'clienv')), false);
  const again = cylo('env', 'rm', 'clienv');
  assert.notEqual(again.status, 0);
  assert.match(again.stderr, /no environment named clienv/);
  const gone = cylo('exec', '--lang', 'python', '--env', 'clienv', '-c', 'print(1)');
  assert.notEqual(gone.status, 0);
  assert.match(gone.stderr, /no environment named "clienv"/);
});
