// The toolchain probe cache (src/util/probe-cache.ts, fast start of issue 13): a second
// registry (as a second cylo process would) takes the probe's answer from the cache instead of
// running the toolchain again; any change to the binary makes it probe again; a cache file that
// is not root-only (group/world-writable, a symlink) or an entry whose binary changed is never
// trusted. The "toolchain" is a shell script that logs each time it runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeRegistry } from '../../src/runtimes/registry.js';
import type { RuntimeDefinitionInput } from '../../src/runtimes/definition.js';

const root = typeof process.getuid === 'function' && process.getuid() === 0;
const dir = mkdtempSync(join(tmpdir(), 'cylo-probe-cache-')); // 0700, root's when run as root
test.after(() => rmSync(dir, { recursive: true, force: true }));
const log = join(dir, 'runs.log');
const tool = join(dir, 'faketool');
const cacheFile = join(dir, 'probes.json');

/** The toolchain: `faketool --resolve` prints its real path and a root; `--version` a version. */
function writeTool(version: string): void {
  writeFileSync(tool, `#!/bin/sh\necho "$1" >> ${log}\nif [ "$1" = --resolve ]; then echo ${tool}; echo ${dir}; else echo "faketool ${version}"; fi\n`, { mode: 0o755 });
}
const definition: RuntimeDefinitionInput = {
  id: 'faketool',
  extension: '.fake',
  entry: 'main.fake',
  package: 'faketool',
  binary: { candidates: [tool], resolve: ['{bin}', '--resolve'] },
  version: { argv: ['{bin}', '--version'], pattern: 'faketool (\\S+)' },
  run: { argv: ['{bin}', '{entry}'] },
};
const runs = (): number => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').length : 0);
const resolveFresh = async (file: string | false = cacheFile) => new RuntimeRegistry([definition], file).resolve('faketool');

test('a second registry takes the probe from the cache; a changed binary is probed again', { skip: root ? false : 'needs root (the cache is only used by root)' }, async () => {
  writeTool('1.0');
  const first = await resolveFresh();
  assert.equal(first.available, true, first.problem);
  assert.equal(runs(), 2, 'the first resolution ran --resolve and --version');
  const second = await resolveFresh();
  // Were the cache not read, the tool would run twice more.
  assert.equal(runs(), 2, 'the second resolution ran nothing');
  assert.deepEqual({ ...second, definition: undefined }, { ...first, definition: undefined }, 'the same answer as the probe');
  writeTool('2.0'); // a new version in place: its size, mtime, ctime change
  const third = await resolveFresh();
  assert.equal(runs(), 4, 'a changed binary is probed again');
  assert.equal(third.version, '2.0');
  const uncached = await resolveFresh(false);
  assert.equal(runs(), 6, 'probeCache false never uses the cache');
  assert.equal(uncached.version, '2.0');
});

test('a cache file others could write, a symlinked one, or an entry whose binary changed is not trusted', { skip: root ? false : 'needs root (the cache is only used by root)' }, async () => {
  writeTool('3.0');
  await resolveFresh();
  let before = runs();
  chmodSync(cacheFile, 0o666); // world-writable: anyone could have planted an entry
  await resolveFresh();
  assert.equal(runs(), before + 2, 'a world-writable cache file is ignored');
  chmodSync(cacheFile, 0o600);
  await resolveFresh(); // rewritten (0600, by rename)
  before = runs();
  await resolveFresh();
  assert.equal(runs(), before, 'a root-only cache file is used');
  // The same file reached through a symlink: open(O_NOFOLLOW) refuses it.
  const link = join(dir, 'link.json');
  symlinkSync(cacheFile, link);
  await resolveFresh(link);
  assert.equal(runs(), before + 2, 'a symlinked cache file is not followed');
  unlinkSync(link);
  // An entry whose stamp no longer matches its binary (edited by hand, or the binary changed
  // behind a key that did not see it): the probe runs.
  const entries = JSON.parse(readFileSync(cacheFile, 'utf8')) as Array<{ stamp: string; version: string }>;
  for (const e of entries) {
    e.stamp = '0:0:0:0:0';
    e.version = 'planted';
  }
  writeFileSync(cacheFile, JSON.stringify(entries), { mode: 0o600 });
  before = runs();
  const r = await resolveFresh();
  assert.equal(runs(), before + 2, 'a stale entry is probed again');
  assert.equal(r.version, '3.0');
});
