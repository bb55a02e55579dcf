// `cylo exec --output PATTERN --output-dir DIR` as a real process: the files the program wrote
// land under DIR (directories created, bytes exact, the program's exit code kept); a symlink
// already in DIR at a file's name, or in place of one of its directories, is never followed
// (the target is untouched) and the file is reported as not written (exit 125); --json carries
// the files too. Each test says what it proves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { pngWriterPython, PNG_SIGNATURE } from '../support/png.js';

const T = { timeout: 30_000 };

/** Runs `node bin/cylo exec ...args` (uids: the cli-exec test's range, never at the same time). */
function cyloExec(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['bin/cylo', 'exec', ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CYLO_UID_BASE: String(TEST_UID_BASE + TEST_UID_COUNT + 112), CYLO_UID_COUNT: '8' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  child.stdin.end('');
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cylo-cli-output-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const PROGRAM = `${pngWriterPython('plot.png')}\nimport os\nos.makedirs('out/sub')\nopen('out/sub/r.csv', 'w').write('1,2\\n')\nprint('done')\nraise SystemExit(3)`;

test('--output writes the matching files under --output-dir, with their directories, and keeps the exit code', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: the CLI asks for the files and writes exactly their bytes where they belong
  const dir = tempDir(t);
  const target = join(dir, 'results');
  const r = await cyloExec(['--lang', 'python', '-c', PROGRAM, '--output', '*.png', '--output', 'out/**', '--output-dir', target]);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, 'done\n');
  assert.ok(readFileSync(join(target, 'plot.png')).subarray(0, 8).equals(PNG_SIGNATURE));
  assert.equal(readFileSync(join(target, 'out/sub/r.csv'), 'utf8'), '1,2\n');
  // An existing regular file is replaced (as cp would).
  const again = await cyloExec(['--lang', 'python', '-c', "open('out.txt', 'w').write('new')", '--output', 'out.txt', '--output-dir', target]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(readFileSync(join(target, 'out.txt'), 'utf8'), 'new');
});

test('a symlink already in the output directory is never followed: not at a file name, not as a directory', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: lstat checks + O_EXCL temp + rename: the link's target keeps its content, the
  // link stays a link, and the user is told (exit 125); the other files are still written
  const dir = tempDir(t);
  const victim = join(dir, 'victim.txt');
  writeFileSync(victim, 'original');
  const victimDir = join(dir, 'elsewhere');
  mkdirSync(victimDir);
  const out = join(dir, 'out');
  mkdirSync(out);
  symlinkSync(victim, join(out, 'plot.png'));
  symlinkSync(victimDir, join(out, 'out'));
  const r = await cyloExec(['--lang', 'python', '-c', `${PROGRAM}\n`, '--output', '*.png', '--output', 'out/**', '--output', '*.py', '--output-dir', out]);
  assert.equal(r.code, 125, r.stderr);
  assert.equal(readFileSync(victim, 'utf8'), 'original');
  assert.ok(lstatSync(join(out, 'plot.png')).isSymbolicLink());
  assert.equal(existsSync(join(victimDir, 'sub')), false);
  assert.match(r.stderr, /cylo: --output: plot\.png: not written: .*a symlink: not followed/);
  assert.match(r.stderr, /cylo: --output: out\/sub\/r\.csv: not written: .*a symlink: not followed/);
  assert.ok(existsSync(join(out, 'main.py')), 'the other files are still written');
});

test('--json carries the files in the result and writes them too', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const dir = tempDir(t);
  const r = await cyloExec(['--json', '--lang', 'python', '-c', "open('a.txt', 'w').write('A')", '--output', 'a.txt', '--output-dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { run: { files: Array<{ name: string; content: string }> } };
  assert.deepEqual(result.run.files.map((f) => f.name), ['a.txt']);
  assert.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'A');
});
