// Unit tests of the environments' pure parts and the sandbox argv they shape: the package masks
// and the binds inside them in bubblewrap's order, the fd numbering kept, Debian versions, the
// packages a built tree holds, and the store refusing an unsafe directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBwrapArgv, buildOuterArgv, FD_FIRST_BIND, type SandboxPlan } from '../../src/sandbox/bwrap-argv.js';
import { upstreamVersion } from '../../src/environments/debian.js';
import { environmentPackages } from '../../src/environments/packages.js';
import { EnvironmentStore } from '../../src/environments/store.js';
import { filesystemLayout } from '../../src/sandbox/filesystem.js';
import { systemPackageTrees } from '../../src/sandbox/host-packages.js';

const DIST = '/usr/lib/python3/dist-packages';

function plan(): SandboxPlan {
  return {
    bwrapPath: '/usr/bin/bwrap',
    helperPath: '/opt/cylo/helper',
    uid: 2_000_000_001,
    gid: 2_000_000_001,
    cgroupProcs: [],
    binds: [
      { source: '/usr', dest: '/usr' },
      { source: `${DIST}/numpy`, dest: `${DIST}/numpy`, viaFd: true },
      { source: '/root/.pyenv', dest: '/root/.pyenv', viaFd: true },
      { source: '/srv/env/tree', dest: '/.cylo/environment' },
    ],
    masks: [DIST],
    symlinks: [],
    workspaceBytes: 1 << 20,
    env: {},
    rlimits: {},
    landlock: { mode: 'on', readOnly: [], readExec: ['/usr'], readWrite: ['/work'], devices: ['/dev'] },
    argv: ['/usr/bin/python3'],
    seccomp: true,
  };
}

test('a mask is an empty 0555 tmpfs made after the binds outside it, before the binds inside it, then remounted read-only', () => {
  const a = buildBwrapArgv(plan());
  const at = (...seq: string[]): number => a.findIndex((_, i) => seq.every((s, j) => a[i + j] === s));
  const usr = at('--ro-bind', '/usr', '/usr');
  const tmpfs = at('--perms', '0555', '--tmpfs', DIST);
  const numpy = at('--ro-bind-fd', String(FD_FIRST_BIND), `${DIST}/numpy`);
  const remount = at('--remount-ro', DIST);
  // proves: without this order the tmpfs would hide the environment's bind, or /usr would hide the tmpfs
  assert.ok(usr >= 0 && tmpfs > usr && numpy > tmpfs && remount > numpy, JSON.stringify({ usr, tmpfs, numpy, remount }));
  // proves: binds outside the mask come before it, and fd numbers follow plan.binds, not the emission order
  assert.ok(at('--ro-bind-fd', String(FD_FIRST_BIND + 1), '/root/.pyenv') < tmpfs);
  assert.ok(at('--ro-bind', '/srv/env/tree', '/.cylo/environment') < tmpfs);
  const outer = buildOuterArgv(plan());
  assert.ok(outer.includes(`${FD_FIRST_BIND}:${DIST}/numpy`) && outer.includes(`${FD_FIRST_BIND + 1}:/root/.pyenv`));
});

test('every sandbox layout masks the host\'s package directories that exist', () => {
  // proves: the masks are part of every plan, prepared sandboxes included (roots: none)
  const layout = filesystemLayout([]);
  assert.deepEqual(layout.masks, systemPackageTrees());
  for (const m of layout.masks) assert.match(m, /^\/usr\/(lib|local\/lib|share)\//);
  // an environment bound inside /usr needs no Landlock rule of its own (the helper's are bounded)
  const withEnv = filesystemLayout([], [{ source: `${DIST}/numpy`, dest: `${DIST}/numpy` }]);
  assert.deepEqual(withEnv.landlock.readExec, layout.landlock.readExec);
});

test('Debian versions become the upstream version a program sees', () => {
  assert.equal(upstreamVersion('1:1.24.2-1+deb12u1'), '1.24.2');
  assert.equal(upstreamVersion('1.5.3+dfsg-2'), '1.5.3');
  assert.equal(upstreamVersion('3.6.3-1+b1'), '3.6.3');
  assert.equal(upstreamVersion('2022.7.1-1'), '2022.7.1');
});

test('a built tree\'s packages come from dist-info METADATA and node_modules package.json', () => {
  const f = (name: string, content: string) => ({ name, content: Buffer.from(content) });
  const py = [f('out/Foo_Bar-1.0.dist-info/METADATA', 'Metadata-Version: 2.1\nName: Foo-Bar\nVersion: 1.0\n'), f('out/foo_bar/__init__.py', ''), f('out/x/y.dist-info/METADATA', 'Name: nested\n')];
  assert.deepEqual(environmentPackages('python', py, 'out'), [{ name: 'Foo-Bar', version: '1.0' }]);
  const js = [f('out/node_modules/a/package.json', '{"name":"a","version":"1.0.0"}'), f('out/node_modules/@s/b/package.json', '{"name":"@s/b","version":"2.0.0"}'), f('out/node_modules/a/node_modules/c/package.json', '{"name":"c"}'), f('out/node_modules/.package-lock.json', '{}'), f('out/node_modules/bad/package.json', 'not json')];
  assert.deepEqual(environmentPackages('javascript', js, 'out'), [{ name: '@s/b', version: '2.0.0' }, { name: 'a', version: '1.0.0' }]);
});

test('the store refuses an environments directory or environment writable by others', () => {
  const dir = mkdtempSync('/tmp/cylo-envstore-');
  try {
    const env = join(dir, 'x');
    mkdirSync(join(env, 'tree'), { recursive: true });
    writeFileSync(join(env, 'manifest.json'), JSON.stringify({ name: 'x', language: 'python', packages: [], created: 'now', build: { tool: 'pip', requested: [], from: null, network: false } }));
    chmodSync(dir, 0o755);
    chmodSync(env, 0o755);
    chmodSync(join(env, 'manifest.json'), 0o644);
    const store = new EnvironmentStore(dir);
    assert.equal(store.list()[0]?.name, 'x');
    // proves: a tree another user could swap is never mounted into a sandbox
    chmodSync(join(env, 'tree'), 0o777);
    assert.throws(() => store.read('x'), { code: 'CYLO_E_ENVIRONMENT_STORE' });
    chmodSync(join(env, 'tree'), 0o755);
    chmodSync(dir, 0o777);
    assert.throws(() => store.list(), { code: 'CYLO_E_ENVIRONMENT_STORE' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
