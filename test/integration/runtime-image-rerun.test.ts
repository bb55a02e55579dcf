// scripts/guest/runtime-image.sh run again (the first-user trial: every scripts/setup.sh rebuilt
// the microVM runtime image, ~40 s). The real script, with the real dpkg, apt-cache and mkfs.ext4,
// builds a tiny image (one package, busybox-static: no dependencies, 2 MB) into a temporary
// CYLO_GUEST_DIR — never the machine's guest directory, which other tests boot VMs from. Proves:
// a second run with the same inputs keeps the image (same inode, same bytes) and says so; each
// input changing makes it rebuild and name the change: the asked package list, the script's own
// content, a package's installed version (dpkg-query seen through a wrapper on PATH that reports
// an upgrade: the installed system is not changed), the image file replaced since; --force
// rebuilds. No sandbox, no root. Costs a few seconds (each build is ~1 s of tar + mkfs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const T = { timeout: 120_000 };
const SCRIPT = resolve('scripts/guest/runtime-image.sh');
const PACKAGE = 'busybox-static';

/** Why the script cannot run here (it refuses, saying why, on such hosts), or undefined. */
function skipReason(): string | undefined {
  for (const tool of ['mkfs.ext4', 'dpkg-query', 'apt-cache']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} not found (a Debian host with e2fsprogs)`;
  }
  if (spawnSync('dpkg-query', ['-W', '-f=${Status}', PACKAGE], { encoding: 'utf8' }).stdout !== 'install ok installed') return `${PACKAGE} is not installed (scripts/setup.sh installs it)`;
  if (!lstatSync('/lib').isSymbolicLink()) return 'this host has no merged /usr (the script supports only those)';
  return undefined;
}
const skip = skipReason();

const root = mkdtempSync(join(tmpdir(), 'cylo-runtime-image-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

interface Run {
  code: number | null;
  out: string;
}

/** Runs SCRIPT (or a copy) with CYLO_GUEST_DIR=dir, the given arguments and extra PATH entries. */
function run(dir: string, args: string[], options: { script?: string; pathFirst?: string } = {}): Run {
  const path = [options.pathFirst, process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'].filter((p) => p !== undefined).join(':');
  const r = spawnSync('bash', [options.script ?? SCRIPT, ...args], { encoding: 'utf8', env: { PATH: path, CYLO_GUEST_DIR: dir, LC_ALL: 'C' }, timeout: 100_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The image's identity: a rebuild writes a new file and renames it over the old one. */
function image(dir: string): { ino: number; mtimeMs: number } {
  const s = statSync(join(dir, 'runtimes.ext4'));
  return { ino: s.ino, mtimeMs: s.mtimeMs };
}

/** A fresh guest directory with one built image; the first run must build. */
function built(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  const first = run(dir, ['--package', PACKAGE]);
  assert.equal(first.code, 0, first.out);
  assert.match(first.out, /runtimes\.ext4 \(\d+ KiB used; \d+ files of 1 packages\)/);
  assert.ok(existsSync(join(dir, 'runtimes.inputs')), 'the record of the inputs is written after a build');
  return dir;
}

test('a second run with the same inputs keeps the image and says so', { ...T, skip }, () => {
  // Fails with the old script, which rebuilt the image on every run (a new inode each time).
  const dir = built('same');
  const before = image(dir);
  const again = run(dir, ['--package', PACKAGE]);
  assert.equal(again.code, 0, again.out);
  assert.match(again.out, /runtimes\.ext4 is up to date \(same script, mkfs and 1 package versions as its last build; --force rebuilds\)/);
  assert.doesNotMatch(again.out, /Creating regular file|KiB used/);
  assert.deepEqual(image(dir), before);
  // runtimes.packages: one "name version" line per package (cylo doctor counts the lines).
  assert.match(readFileSync(join(dir, 'runtimes.packages'), 'utf8'), new RegExp(`^${PACKAGE} \\S+\\n$`));
});

test('another package list rebuilds, naming it', { ...T, skip }, () => {
  // Fails when the asked packages are not part of the record (the old image would be kept).
  const dir = built('list');
  const before = image(dir);
  const other = run(dir, ['--package', PACKAGE, '--package', 'cpio']);
  assert.equal(other.code, 0, other.out);
  assert.match(other.out, /rebuilding \(changed since the last build: asked busybox-static cpio\)/);
  assert.notEqual(image(dir).ino, before.ino);
});

test("a change to the script's own content rebuilds", { ...T, skip }, () => {
  // A copy of the script with one more comment line: same packages, another build recipe.
  const dir = built('script');
  const before = image(dir);
  const copy = join(root, 'runtime-image-edited.sh');
  copyFileSync(SCRIPT, copy);
  appendFileSync(copy, '# edited\n');
  const edited = run(dir, ['--package', PACKAGE], { script: copy });
  assert.equal(edited.code, 0, edited.out);
  assert.match(edited.out, /rebuilding \(changed since the last build: script [0-9a-f]{64}\)/);
  assert.notEqual(image(dir).ino, before.ino);
});

test("a package's installed version changing rebuilds, naming the package", { ...T, skip }, () => {
  // dpkg-query through a wrapper that reports busybox-static one version later, as after an
  // `apt-get upgrade`; everything else is the real dpkg-query. Fails when versions are not recorded.
  const dir = built('version');
  const before = image(dir);
  const bin = join(root, 'upgraded-bin');
  mkdirSync(bin, { recursive: true });
  const real = spawnSync('sh', ['-c', 'command -v dpkg-query'], { encoding: 'utf8' }).stdout.trim();
  writeFileSync(join(bin, 'dpkg-query'), `#!/bin/sh\n"${real}" "$@" | sed -E 's/^(${PACKAGE}(:[a-z0-9]+)? [^ ]+)$/\\1+upgraded/'\n`);
  chmodSync(join(bin, 'dpkg-query'), 0o755);
  const upgraded = run(dir, ['--package', PACKAGE], { pathFirst: bin });
  assert.equal(upgraded.code, 0, upgraded.out);
  assert.match(upgraded.out, new RegExp(`rebuilding \\(changed since the last build: ${PACKAGE}:\\S+ \\S+\\+upgraded\\)`));
  assert.notEqual(image(dir).ino, before.ino);
  assert.match(readFileSync(join(dir, 'runtimes.packages'), 'utf8'), /\+upgraded\n$/);
});

test('an image replaced since the last build is rebuilt; --force rebuilds', { ...T, skip }, () => {
  // Fails when only the inputs are compared: a truncated image would be kept.
  const dir = built('replaced');
  writeFileSync(join(dir, 'runtimes.ext4'), 'not an image');
  const replaced = run(dir, ['--package', PACKAGE]);
  assert.equal(replaced.code, 0, replaced.out);
  assert.match(replaced.out, /rebuilding \(changed since the last build: image \d+ /);
  assert.ok(statSync(join(dir, 'runtimes.ext4')).size > 1024 * 1024, 'a real image again');
  const before = image(dir);
  const forced = run(dir, ['--package', PACKAGE, '--force']);
  assert.equal(forced.code, 0, forced.out);
  assert.match(forced.out, /rebuilding \(--force\)/);
  assert.notEqual(image(dir).ino, before.ino);
});
