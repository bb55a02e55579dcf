// A bare `cylo` and `cylo --help` through the real bin/cylo (the first-user trial: a bare `cylo`
// printed the usage and exited 125 with no word on what was wrong). The project's status for
// usage errors is 125 (README's exit-code table: `cylo exec` passes the program's own status
// through, so 1 and 2 may be the program's); a bare `cylo` is one: the command list on stderr,
// nothing on stdout, 125, and a last line saying a command is missing. `cylo --help` is not an
// error: the same list on stdout, nothing on stderr, 0. No sandbox; three short node processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const T = { timeout: 60_000 };
const BIN = resolve('bin/cylo');
const COMMANDS = ['exec', 'doctor', 'runtimes', 'env', 'watch', 'mcp', 'serve', 'worker', 'daemon'];

function cylo(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeout: 50_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The command list: every command on a line of its own, as `cylo --help` shows them. */
function assertCommandList(text: string): void {
  assert.match(text, /^Usage: cylo \[options\] \[command\]/);
  for (const name of COMMANDS) assert.match(text, new RegExp(`^  ${name}\\b`, 'm'), name);
}

test('bare cylo: the command list on stderr, nothing on stdout, exit 125, and what is missing', T, () => {
  // Fails without the change on its last line (the old usage ended at the command list).
  const r = cylo([]);
  assert.equal(r.code, 125);
  assert.equal(r.stdout, '');
  assertCommandList(r.stderr);
  assert.match(r.stderr, /\ncylo: no command given; run one of the commands above \(e\.g\. cylo exec hello\.py, or cylo doctor to check this host\)\n$/);
});

test('cylo --help: the same list on stdout, nothing on stderr, exit 0', T, () => {
  const r = cylo(['--help']);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, '');
  assertCommandList(r.stdout);
  assert.doesNotMatch(r.stdout, /no command given/);
  // The bare usage is exactly this list plus its last line.
  assert.equal(cylo([]).stderr, `${r.stdout}cylo: no command given; run one of the commands above (e.g. cylo exec hello.py, or cylo doctor to check this host)\n`);
});

test('an unknown command stays a usage error naming it (125), without the "no command" line', T, () => {
  const r = cylo(['bogus']);
  assert.equal(r.code, 125);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /unknown command 'bogus'/);
  assert.doesNotMatch(r.stderr, /no command given/);
});

test('cylo help NAME with an unknown NAME names it (125); cylo help exec is exec\'s help (0)', T, () => {
  // Fails without the change: commander printed the command list and nothing about 'bogus'.
  const r = cylo(['help', 'bogus']);
  assert.equal(r.code, 125);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /\ncylo: unknown command 'bogus'; the commands are exec, doctor, runtimes, env, watch, mcp, serve, worker, daemon \(cylo --help describes them\)\n$/);
  const ok = cylo(['help', 'exec']);
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /^Usage: cylo exec /);
  assert.doesNotMatch(ok.stderr, /unknown command/);
});
