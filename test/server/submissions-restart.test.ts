// Submissions survive the service: the real `bin/cylo serve` process on one data directory,
// killed with SIGKILL twice while submissions run and wait, then stopped gracefully; after each
// start every submission goes on, and in the end each one is done (re-run once) or, if it was
// running at both kills, done with CYLO_E_INTERNAL and a message. None is lost. And a data
// directory that cannot be used stops `cylo serve` with a clear message (exit 125).
//
// The programs only sleep or echo, with small limits.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER_TEST_UID_BASE } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { processesWith, uniqueMarker } from '../support/processes.js';
import { type Served, spawnServe, stopServe } from '../support/serve.js';
import { waitFor } from '../support/wait.js';

const skip = sandboxSkipReason();
const root = mkdtempSync(join(tmpdir(), 'cylo-restart-test-'));
const dataDir = join(root, 'data');
const ENV = { CYLO_DATA_DIR: dataDir, CYLO_UID_BASE: String(SERVER_TEST_UID_BASE), CYLO_UID_COUNT: '32', CYLO_CONCURRENCY: '2' };
const served: Served[] = [];

after(() => {
  for (const s of served) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

async function start(): Promise<Served> {
  const s = await spawnServe(['--host', '127.0.0.1', '--log-format', 'json', '--grace', '500ms'], ENV, { timeoutMs: 60_000, strictJson: true });
  served.push(s);
  return s;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function submit(s: Served, body: Json): Promise<string> {
  const r = await fetch(`${s.base}/v1/submissions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(r.status, 202);
  return ((await r.json()) as Json).id as string;
}

async function get(s: Served, id: string): Promise<Json> {
  const r = await fetch(`${s.base}/v1/submissions/${id}`);
  assert.equal(r.status, 200, `submission ${id} exists`);
  return (await r.json()) as Json;
}

async function until(s: Served, id: string, statuses: string[]): Promise<Json> {
  const deadline = Date.now() + 60_000;
  let last: Json = {};
  while (Date.now() < deadline) {
    last = await get(s, id);
    if (statuses.includes(last.status as string)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`submission ${id} never reached ${statuses.join('/')}: ${JSON.stringify(last)}`);
}

async function kill9(s: Served): Promise<void> {
  s.child.kill('SIGKILL');
  assert.equal((await s.exited).signal, 'SIGKILL');
}

const limits = { timeoutMs: 20_000, cpuTimeMs: 20_000, pids: 16 };

test('kill -9 twice, then a graceful stop: every submission ends done (re-run once) or internal_error; none is lost', { skip, timeout: 240_000 }, async () => {
  const stubborn = uniqueMarker(); // running at both kills
  const rerun = uniqueMarker(); // running at the first kill only
  // 1st service: concurrency 2 -> `stuck` and `second` run, `third` and `fourth` wait.
  const a = await start();
  const stuck = await submit(a, { language: 'bash', code: 'sleep 60', args: [stubborn], limits });
  const second = await submit(a, { language: 'bash', code: 'sleep 1; echo second', args: [rerun], limits });
  const third = await submit(a, { language: 'bash', code: 'sleep 1; echo third', limits });
  const fourth = await submit(a, { language: 'bash', code: 'echo fourth', limits });
  await waitFor('both to run', () => processesWith(stubborn).length > 0 && processesWith(rerun).length > 0, 20_000);
  assert.equal((await get(a, third)).status, 'queued');
  await kill9(a);

  // 2nd service: the two that were running run again (attempt 2); `second` finishes.
  const b = await start();
  const secondDone = await until(b, second, ['done']);
  assert.equal(secondDone.attempts, 2);
  assert.equal(secondDone.result.run.stdout, 'second\n');
  assert.equal((await get(b, stuck)).attempts, 2);
  await waitFor('the stubborn one to run again', () => processesWith(stubborn).length > 0, 20_000);
  await until(b, third, ['running', 'done']);
  await kill9(b);

  // 3rd service: `stuck` was running at both kills -> done with an internal error; the rest run.
  const c = await start();
  const stuckDone = await until(c, stuck, ['done']);
  assert.equal(stuckDone.result, null);
  assert.equal(stuckDone.error.code, 'CYLO_E_INTERNAL');
  assert.match(stuckDone.error.message as string, /stopped twice while running this submission/);
  assert.equal(stuckDone.attempts, 2);
  assert.equal((await until(c, third, ['done'])).result.run.stdout, 'third\n');
  assert.equal((await until(c, fourth, ['done'])).result.run.stdout, 'fourth\n');

  // Graceful stop: running ones are stopped at the end of the grace period and go back to the
  // queue (the attempt not counted); queued ones stay queued. After the restart all run.
  const slow = uniqueMarker();
  const slow1 = await submit(c, { language: 'bash', code: 'sleep 2; echo slow1', args: [slow], limits });
  const slow2 = await submit(c, { language: 'bash', code: 'sleep 2; echo slow2', args: [slow], limits });
  const waiting = await submit(c, { language: 'bash', code: 'echo waiting', limits });
  await waitFor('both slow ones to run', () => processesWith(slow).length >= 2, 20_000);
  assert.equal((await stopServe(c)).code, 0);
  const d = await start();
  for (const [id, out] of [[slow1, 'slow1\n'], [slow2, 'slow2\n'], [waiting, 'waiting\n']] as const) {
    const done = await until(d, id, ['done']);
    assert.equal(done.result.run.stdout, out);
    assert.equal(done.attempts, 1, `${id}: stopped by a graceful shutdown, not counted as an attempt`);
  }
  assert.equal((await stopServe(d)).code, 0);
});

test('a data directory that cannot be used stops cylo serve: exit 125 and the reason with the fix', { skip, timeout: 60_000 }, () => {
  const file = join(root, 'a-file');
  writeFileSync(file, 'x');
  const open = join(root, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  const garbage = join(root, 'garbage');
  mkdirSync(garbage, { mode: 0o700 });
  writeFileSync(join(garbage, 'cylo.db'), 'x'.repeat(4096));
  const cases: Array<[string, RegExp]> = [
    [file, /^cylo: dataDir: .*a-file exists and is not a directory; remove it or set --data-dir or CYLO_DATA_DIR/m],
    [open, /^cylo: dataDir: .*open is writable by group or others \(mode 777\); run chmod 700/m],
    [garbage, /^cylo: dataDir: the submission database .*garbage\/cylo\.db cannot be used/m],
  ];
  for (const [dir, pattern] of cases) {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, CYLO_DATA_DIR: dir, CYLO_UID_BASE: String(SERVER_TEST_UID_BASE + 64), CYLO_UID_COUNT: '8', CYLO_CONCURRENCY: '1' };
    const r = spawnSync(process.execPath, ['bin/cylo', 'serve', '--port', '0', '--log-format', 'json'], { env, encoding: 'utf8', timeout: 50_000 });
    assert.equal(r.status, 125, `${dir}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stdout, /cylo serve ready/);
  }
});
