// Where `cylo exec`'s own options may go (issue 13, decided in docs/cli section of README.md):
// anywhere before `--`, also after FILE (as git, gcc and most tools read them), so
// `cylo exec main.py x --json` is cylo's --json, never an argument handed to the program
// silently; an option cylo does not know is refused (125) with the way to pass it on:
// `cylo exec main.py -- --verbose`. After `--`, everything is the program's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';

const T = { timeout: 60_000 };
const BIN = resolve('bin/cylo');
const dir = mkdtempSync(join(tmpdir(), 'cylo-option-order-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'args.py'), 'import sys\nprint(sys.argv[1:])\n');

function cyloExec(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'exec', ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CYLO_UID_BASE: String(TEST_UID_BASE + TEST_UID_COUNT + 112), CYLO_UID_COUNT: '8' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}

test('cylo\'s options after FILE are cylo\'s: --json and --timeout apply, the program gets only its own arguments', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const r = await cyloExec(['args.py', 'x', '--json', '--timeout', '5', 'y']);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { status: string; run: { stdout: string } };
  assert.equal(result.status, 'ok');
  assert.equal(result.run.stdout, "['x', 'y']\n");
});

// Proves a typo'd option gets commander's suggestion first, on the message's one line (the JSON
// error object's message has no newline), still with the way to pass it to the program; fails
// when the suggestion comes after the pass-through hint or is lost. No sandbox needed: refused
// before anything runs.
test('a typo\'d option is refused with the option it probably meant first, on one line', T, async () => {
  const refused = await cyloExec(['args.py', '--tiemout', '5']);
  assert.equal(refused.code, 125);
  assert.match(refused.stderr, /^error: unknown option '--tiemout': did you mean --timeout\? \(to pass --tiemout to the program instead, put it after --: cylo exec FILE -- --tiemout\)\n/);
  const asJson = await cyloExec(['args.py', '--json', '--tiemout', '5']);
  assert.equal(asJson.code, 125);
  assert.equal(asJson.stderr, '');
  const message = (JSON.parse(asJson.stdout) as { error: { message: string } }).error.message;
  assert.equal(message, "unknown option '--tiemout': did you mean --timeout? (to pass --tiemout to the program instead, put it after --: cylo exec FILE -- --tiemout)");
});

// Proves a bad --isolation value is refused naming the flag (not the request's field
// `isolation`), on stderr and as the JSON error's field; fails when the message or field say
// `isolation`. Refused by the request's validation, before any sandbox.
test('a bad --isolation value is refused naming --isolation', T, async () => {
  const refused = await cyloExec(['--isolation', 'vm', 'args.py']);
  assert.equal(refused.code, 125);
  assert.match(refused.stderr, /^cylo: --isolation: expected one of namespaces, microvm \(got [^)]*"vm"\)\n$/);
  const asJson = await cyloExec(['--json', '--isolation', 'vm', 'args.py']);
  assert.equal(asJson.code, 125);
  const error = (JSON.parse(asJson.stdout) as { error: { code: string; field: string } }).error;
  assert.deepEqual([error.code, error.field], ['CYLO_E_VALIDATION', '--isolation']);
});

test('an option cylo does not know, after FILE, is refused with the way to pass it to the program; after -- it is the program\'s', T, async (t) => {
  const refused = await cyloExec(['args.py', '--verbose']);
  assert.equal(refused.code, 125);
  assert.match(refused.stderr, /^error: unknown option '--verbose'; cylo exec takes its own options anywhere before --, so to pass --verbose to the program put it after --: cylo exec FILE -- --verbose\n/);
  const asJson = await cyloExec(['args.py', '--json', '--verbose']);
  assert.equal(asJson.code, 125);
  assert.match((JSON.parse(asJson.stdout) as { error: { message: string } }).error.message, /cylo exec FILE -- --verbose$/);
  if (skipWithoutSandbox(t)) return;
  const passed = await cyloExec(['args.py', '--', '--verbose', '--timeout', '5']);
  assert.equal(passed.code, 0, passed.stderr);
  assert.equal(passed.stdout, "['--verbose', '--timeout', '5']\n");
});
