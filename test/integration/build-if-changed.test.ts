// scripts/build-if-changed.sh, which scripts/setup.sh runs instead of a plain `npm run build` (the
// first-user trial: every setup rebuilt everything). The real script runs in a small temporary
// project whose package.json `build` writes the four outputs the script watches and counts its
// runs (cylo's real build takes minutes under load and would rewrite the dist/ that other tests
// run from). Proves: the first run builds; a second run with nothing changed skips, saying so;
// a changed source file, a changed lock file and an output rewritten by a build run some other
// way (npm run build, npm test) each build again, naming the change; --force builds. No sandbox,
// no root; a few npm runs, seconds in all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const T = { timeout: 120_000 };
const SCRIPT = resolve('scripts/build-if-changed.sh');
const root = mkdtempSync(join(tmpdir(), 'cylo-build-if-changed-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

/** The stand-in build: writes each watched output and appends a line to builds.log. */
const BUILD = `
const fs = require('node:fs');
for (const f of ['dist/native/cylo-helper', 'dist/src/cli/main.js', 'dist/src/cli-bundle/inputs.json', 'dist/web/index.html']) {
  fs.mkdirSync(require('node:path').dirname(f), { recursive: true });
  fs.writeFileSync(f, 'built ' + Date.now() + '\\n');
}
fs.appendFileSync('builds.log', 'build\\n');
`;

/** A fresh project with sources, a lock file and the stand-in build. */
function project(name: string): string {
  const dir = join(root, name);
  const files: Record<string, string> = {
    'package.json': JSON.stringify({ name: 'stand-in', private: true, scripts: { build: 'node build.cjs' } }),
    'package-lock.json': '{"lockfileVersion":3}\n',
    'build.cjs': BUILD,
    'src/a.ts': 'export const a = 1;\n',
    'native/helper.c': 'int main(void) { return 0; }\n',
  };
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** Runs the script in DIR; its exit code, output and how many builds the project has seen. */
function run(dir: string, args: string[] = []): { code: number | null; out: string; builds: number } {
  const path = `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`;
  const r = spawnSync('bash', [SCRIPT, ...args], { cwd: dir, encoding: 'utf8', env: { PATH: path, HOME: dir, LC_ALL: 'C' }, timeout: 100_000 });
  const log = join(dir, 'builds.log');
  const builds = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0;
  return { code: r.status, out: `${r.stdout}${r.stderr}`, builds };
}

test('builds once, then skips while nothing changed, saying so', T, () => {
  // Fails with a plain `npm run build` in setup.sh: every run builds (2 builds, not 1).
  const dir = project('same');
  const first = run(dir);
  assert.equal(first.code, 0, first.out);
  assert.equal(first.builds, 1);
  const again = run(dir);
  assert.equal(again.code, 0, again.out);
  assert.equal(again.builds, 1, again.out);
  assert.match(again.out, /cylo setup: build up to date \(no source, lock file, node or compiler change since the last setup build; scripts\/build-if-changed\.sh --force rebuilds\)/);
});

test('a changed source or lock file builds again, naming the file', T, () => {
  // Fails when the sources or the lock file are not part of the record.
  const dir = project('inputs');
  run(dir);
  appendFileSync(join(dir, 'native/helper.c'), '/* edited */\n');
  const source = run(dir);
  assert.equal(source.code, 0, source.out);
  assert.equal(source.builds, 2);
  assert.match(source.out, /building \(changed since the last setup build: [0-9a-f]{64} {2}native\/helper\.c\)/);
  writeFileSync(join(dir, 'package-lock.json'), '{"lockfileVersion":3,"packages":{}}\n');
  const lock = run(dir);
  assert.equal(lock.builds, 3, lock.out);
  assert.match(lock.out, /changed since the last setup build: [0-9a-f]{64} {2}package-lock\.json\)/);
  assert.equal(run(dir).builds, 3, 'and then up to date again');
});

test('an output rewritten by a build run another way, or removed, builds again; --force builds', T, () => {
  // Fails when only the inputs are compared: a source edited, built by `npm run build`, then
  // reverted would leave dist/ built from the edit while the record still matched the sources.
  const dir = project('outputs');
  run(dir);
  writeFileSync(join(dir, 'dist/src/cli/main.js'), 'another build\n');
  const rewritten = run(dir);
  assert.equal(rewritten.builds, 2, rewritten.out);
  assert.match(rewritten.out, /changed since the last setup build: output dist\/src\/cli\/main\.js /);
  rmSync(join(dir, 'dist/web/index.html'));
  const removed = run(dir);
  assert.equal(removed.builds, 3, removed.out);
  assert.match(removed.out, /changed since the last setup build: output dist\/web\/index\.html missing\)/);
  const forced = run(dir, ['--force']);
  assert.equal(forced.builds, 4, forced.out);
  assert.match(forced.out, /building \(--force\)/);
});
