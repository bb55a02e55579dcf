// bin/cylo's own start: which entry it loads (the CLI bundle or tsc's modules) and what it says
// when that entry cannot be loaded. Each test copies the real bin/cylo into a fresh directory
// with a small dist/ tree of its own (entry files that print which one ran, or that import
// something missing), and runs it with the real node: the thing under test is bin/cylo, whose
// paths are all relative to itself. No sandbox needed; each case is one short node process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
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

const BUNDLE = 'dist/src/cli-bundle/cylo.mjs';
const COMPILED = 'dist/src/cli/main.js';
const RECORD = 'dist/src/cli-bundle/inputs.json';

/** A tree with both entries (each prints which one ran) and, when `record`, the bundle's record of
 *  its inputs as scripts/build-cli.js writes it, taken from the compiled entry as it is now. */
function bothEntries(record: boolean): string {
  const dir = tree({ [BUNDLE]: "console.log('ran: bundle');\n", [COMPILED]: "console.log('ran: compiled');\n" });
  if (record) {
    const st = statSync(join(dir, COMPILED));
    writeFileSync(join(dir, RECORD), JSON.stringify({ inputs: [[COMPILED, st.size, st.mtimeMs]] }));
  }
  return dir;
}

test('C1: the bundle runs when every input it records is unchanged', T, (t) => {
  // The positive case (the real build's is test/integration/cli-start.test.ts).
  const dir = bothEntries(true);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(runCylo(dir).stdout, 'ran: bundle\n');
});

test('C1: a stale bundle with a newer mtime than tsc\'s output does not run', T, (t) => {
  // The finding: a bundle copied or unpacked after a newer dist/src (its mtime in the future
  // here) ran old code. The compiled entry was rewritten after the record (another build):
  // fails with the old bin/cylo, which compared mtimes and ran the bundle.
  const dir = bothEntries(true);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, COMPILED), "console.log('ran: compiled');\n// a newer build\n");
  const future = new Date(Date.now() + 3_600_000);
  utimesSync(join(dir, BUNDLE), future, future);
  assert.equal(runCylo(dir).stdout, 'ran: compiled\n');
});

test('C1: an input rewritten with the same size (a tsc run that changed nothing) also sends it to the compiled modules', T, (t) => {
  // The mtime is part of the record: a file of the same size but another mtime is not trusted.
  const dir = bothEntries(true);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const past = new Date(Date.now() - 3_600_000);
  utimesSync(join(dir, COMPILED), past, past);
  const future = new Date(Date.now() + 3_600_000);
  utimesSync(join(dir, BUNDLE), future, future);
  assert.equal(runCylo(dir).stdout, 'ran: compiled\n');
});

test('C1: a bundle without its record of inputs does not run', T, (t) => {
  // A bundle that cannot show what it was built from (an older build-cli.js, a partial copy);
  // fails with the old bin/cylo (equal or newer mtime was enough).
  const dir = bothEntries(false);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const future = new Date(Date.now() + 3_600_000);
  utimesSync(join(dir, BUNDLE), future, future);
  assert.equal(runCylo(dir).stdout, 'ran: compiled\n');
});
