// Unit tests for the compile-stage parts of a sandbox plan: the inner helper's --emit/--mkdir
// flags, and the filesystem layout of mounts (npm packages at /.cylo/node_modules) and of a
// runtime's configuration tree under /etc (readable, not executable).
import { test } from 'node:test';
import { encodeJob } from '../../src/backend/file-bundle.js';
import assert from 'node:assert/strict';
import { FD_EMIT, WORKSPACE, buildInnerArgv, type SandboxPlan } from '../../src/sandbox/bwrap-argv.js';
import { filesystemLayout } from '../../src/sandbox/filesystem.js';

function plan(overrides: Partial<SandboxPlan> = {}): SandboxPlan {
  return {
    bwrapPath: '/usr/bin/bwrap',
    helperPath: '/opt/cylo/cylo-helper',
    uid: 2_000_000_001,
    gid: 2_000_000_001,
    cgroupProcs: [],
    binds: [{ source: '/usr', dest: '/usr' }],
    symlinks: [],
    workspaceBytes: 1 << 20,
    env: {},
    rlimits: {},
    landlock: { mode: 'on', readOnly: [], readExec: ['/usr'], readWrite: [WORKSPACE], devices: ['/dev'] },
    argv: ['/usr/bin/gcc', '-o', '.build/main', 'main.c'],
    seccomp: true,
    ...overrides,
  };
}

test('a run stage has no emit flags and no extra directories', () => {
  const argv = buildInnerArgv(plan());
  assert.ok(!argv.includes('--emit-fd') && !argv.includes('--emit'));
  assert.equal(argv.filter((a) => a === '--mkdir').length, 1); // the workspace's .tmp only
});

test('a compile stage asks PID 1 to emit the artifacts on FD_EMIT, capped; the compiler argv is in the job', () => {
  const compilePlan = plan({ emit: { paths: ['.build/main', '.build/lib'], maxBytes: 4096 }, mkdirs: ['/work/.build'] });
  const flags = buildInnerArgv(compilePlan);
  const at = flags.indexOf('--emit-fd');
  assert.deepEqual(flags.slice(at, at + 8), ['--emit-fd', String(FD_EMIT), '--emit-max', '4096', '--emit', '.build/main', '--emit', '.build/lib']);
  assert.deepEqual(flags.slice(flags.lastIndexOf('--mkdir'), flags.lastIndexOf('--mkdir') + 2), ['--mkdir', '/work/.build']);
  assert.equal(flags.includes('/usr/bin/gcc'), false);
  assert.ok(encodeJob(compilePlan).includes(Buffer.from('/usr/bin/gcc')));
  assert.equal(FD_EMIT, 6);
});

test('mounts are bound at their own destination; /etc roots are readable but not executable', () => {
  const layout = filesystemLayout(['/etc/java-17-openjdk', '/opt/tool'], [{ source: '/srv/cylo/node_modules/typescript', dest: '/.cylo/node_modules/typescript' }]);
  assert.deepEqual(
    layout.binds.find((b) => b.dest === '/.cylo/node_modules/typescript'),
    { source: '/srv/cylo/node_modules/typescript', dest: '/.cylo/node_modules/typescript', viaFd: true }, // /srv/cylo does not exist here: not reachable, so via an fd
  );
  assert.ok(layout.landlock.readOnly.includes('/etc/java-17-openjdk'));
  assert.ok(!layout.landlock.readExec.includes('/etc/java-17-openjdk'));
  assert.ok(layout.landlock.readExec.includes('/.cylo/node_modules/typescript'));
  assert.ok(layout.landlock.readExec.includes('/opt/tool'));
});
