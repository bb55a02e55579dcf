// bin/cylo's own start: which entry it loads (the CLI bundle or tsc's modules) and what it says
// when that entry cannot be loaded. Each test copies the real bin/cylo into a fresh directory
// with a small dist/ tree of its own (entry files that print which one ran, or that import
// something missing), and runs it with the real node: the thing under test is bin/cylo, whose
// paths are all relative to itself. No sandbox needed; each case is one short node process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const T = { timeout: 60_000 };

/** A fresh directory with bin/cylo and the given files (path relative to it -> contents). */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'cylo-entry-'));
  mkdirSync(join(dir, 'bin'));
  copyFileSync('bin/cylo', join(dir, 'bin', 'cylo'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** Runs DIR/bin/cylo --version; its exit code, stdout and stderr. */
function runCylo(dir: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(dir, 'bin', 'cylo'), '--version'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('C2: no entry file at all reads "not built yet"', T, (t) => {
  // Proves the one case that is "not built": bin/cylo with no dist/ beside it.
  const dir = tree({});
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = runCylo(dir);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /not built yet; run scripts\/setup\.sh/);
});

test('C2: a built cylo whose package is missing names the package and says npm ci, not "not built"', T, (t) => {
  // Fails with the old bin/cylo, which read every ERR_MODULE_NOT_FOUND as "not built yet".
  const dir = tree({ 'dist/src/cli/main.js': "import 'cylo-test-no-such-package';\n" });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = runCylo(dir);
  assert.equal(r.code, 125);
  assert.doesNotMatch(r.stderr, /not built/);
  assert.match(r.stderr, /the package cylo-test-no-such-package is missing from node_modules .*run npm ci in /);
});

test('C2: a built cylo with one of its own modules missing says the build is incomplete', T, (t) => {
  // Fails with the old bin/cylo ("not built yet" although the entry exists).
  const dir = tree({ 'dist/src/cli/main.js': "import './program.js';\n" });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = runCylo(dir);
  assert.equal(r.code, 125);
  assert.doesNotMatch(r.stderr, /not built yet/);
  assert.match(r.stderr, /the build is incomplete \(.*program\.js is missing\); run npm run build/);
});

test('C2: any other failure of the entry is not hidden behind a build message', T, (t) => {
  // An error that is not a missing module (here a throw at load) reaches stderr as itself.
  const dir = tree({ 'dist/src/cli/main.js': "throw new Error('cylo-test-boom');\n" });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = runCylo(dir);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /cylo-test-boom/);
  assert.doesNotMatch(r.stderr, /not built|npm ci|incomplete/);
});
