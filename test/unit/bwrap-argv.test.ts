// Unit tests for the sandbox argv: the exact outer-helper / bubblewrap / inner-helper arrays for
// a plan, flag by flag, so that dropping or reordering an isolation flag fails a test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import {
  FD_BUNDLE,
  FD_FIRST_BIND,
  FD_SECCOMP,
  FD_STATUS,
  FD_WORKSPACE,
  HELPER_IN_SANDBOX,
  WORKSPACE,
  WORKSPACE_TMP,
  buildBwrapArgv,
  buildInnerArgv,
  buildOuterArgv,
  sandboxKey,
  type SandboxPlan,
} from '../../src/sandbox/bwrap-argv.js';
import { encodeJob } from '../../src/backend/file-bundle.js';
import { filesystemLayout } from '../../src/sandbox/filesystem.js';

const HOSTILE_ARGS = ['--help', '$(rm -rf /)', '`id`', 'a b', '; reboot', '--', '--seccomp', '"quoted"', ''];

function basePlan(overrides: Partial<SandboxPlan> = {}): SandboxPlan {
  return {
    bwrapPath: '/usr/bin/bwrap',
    helperPath: '/opt/cylo/dist/native/cylo-helper',
    uid: 2_000_000_255,
    gid: 2_000_000_255,
    cgroupProcs: ['/sys/fs/cgroup/memory/cylo/x-1-1/cgroup.procs', '/sys/fs/cgroup/pids/cylo/x-1-1/cgroup.procs'],
    binds: [
      { source: '/usr', dest: '/usr' },
      { source: '/etc/ld.so.cache', dest: '/etc/ld.so.cache' },
      { source: '/root/.pyenv/versions/3.12.1', dest: '/root/.pyenv/versions/3.12.1', viaFd: true },
      { source: '/opt/jdk', dest: '/opt/jdk', viaFd: false },
      { source: '/root/.cargo', dest: '/root/.cargo', viaFd: true },
    ],
    symlinks: [{ target: 'usr/bin', link: '/bin' }],
    workspaceBytes: 64 * 1024 * 1024,
    env: { PATH: '/usr/bin:/bin', HOME: '/work', TRICKY: '$(id) `id` --unshare-all' },
    rlimits: { core: 0, nproc: 40 },
    landlock: { mode: 'on', readOnly: ['/etc/ld.so.cache', '/proc'], readExec: ['/usr', '/root/.pyenv/versions/3.12.1'], readWrite: ['/work'], devices: ['/dev'] },
    argv: ['/usr/bin/python3', 'main.py', ...HOSTILE_ARGS],
    seccomp: true,
    ...overrides,
  };
}

const EXPECTED_INNER = [
  HELPER_IN_SANDBOX, 'inner',
  '--status-fd', '4',
  '--bundle-fd', '5',
  '--workdir', '/work',
  '--mkdir', '/work/.tmp',
  '--landlock', 'on',
  '--ro', '/etc/ld.so.cache',
  '--ro', '/proc',
  '--rx', '/usr',
  '--rx', '/root/.pyenv/versions/3.12.1',
  '--dev', '/dev',
  '--rw', '/work',
];

const EXPECTED_BWRAP = [
  '/usr/bin/bwrap',
  '--unshare-user',
  '--disable-userns',
  '--unshare-pid',
  '--unshare-net',
  '--unshare-ipc',
  '--unshare-uts',
  '--unshare-cgroup',
  '--as-pid-1',
  '--die-with-parent',
  '--new-session',
  '--cap-drop', 'ALL',
  '--uid', '1000',
  '--gid', '1000',
  '--hostname', 'cylo',
  '--clearenv',
  '--ro-bind', '/usr', '/usr',
  '--ro-bind', '/etc/ld.so.cache', '/etc/ld.so.cache',
  '--ro-bind-fd', '10', '/root/.pyenv/versions/3.12.1',
  '--ro-bind', '/opt/jdk', '/opt/jdk',
  '--ro-bind-fd', '11', '/root/.cargo',
  '--symlink', 'usr/bin', '/bin',
  '--ro-bind', '/opt/cylo/dist/native/cylo-helper', '/.cylo/helper',
  '--proc', '/proc',
  '--dev', '/dev',
  '--bind-fd', '9', '/work',
  '--symlink', '/work/.tmp', '/tmp',
  '--chdir', '/work',
  '--remount-ro', '/dev',
  '--remount-ro', '/',
  '--seccomp', '3',
  '--',
  ...EXPECTED_INNER,
];

const EXPECTED_OUTER = [
  '/opt/cylo/dist/native/cylo-helper', 'outer',
  '--status-fd', '4',
  '--uid', '2000000255',
  '--gid', '2000000255',
  '--workspace', `9:${64 * 1024 * 1024}:16384`,
  '--cgroup-procs', '/sys/fs/cgroup/memory/cylo/x-1-1/cgroup.procs',
  '--cgroup-procs', '/sys/fs/cgroup/pids/cylo/x-1-1/cgroup.procs',
  '--open-fd', '10:/root/.pyenv/versions/3.12.1',
  '--open-fd', '11:/root/.cargo',
  '--',
  ...EXPECTED_BWRAP,
];

/** Every [value...] that follows `flag` in argv (up to the first "--" separator). */
function operands(argv: readonly string[], flag: string, arity: number): string[][] {
  const end = argv.indexOf('--');
  const head = end < 0 ? argv : argv.slice(0, end);
  const out: string[][] = [];
  head.forEach((a, i) => {
    if (a === flag) out.push(head.slice(i + 1, i + 1 + arity));
  });
  return out;
}

test('fd numbers and sandbox paths are the documented constants', () => {
  assert.deepEqual([FD_SECCOMP, FD_STATUS, FD_BUNDLE, FD_WORKSPACE, FD_FIRST_BIND], [3, 4, 5, 9, 10]);
  assert.deepEqual([HELPER_IN_SANDBOX, WORKSPACE, WORKSPACE_TMP], ['/.cylo/helper', '/work', '/work/.tmp']);
});

test('inner argv is exact', () => {
  assert.deepEqual(buildInnerArgv(basePlan()), EXPECTED_INNER);
});

test('bwrap argv is exact', () => {
  assert.deepEqual(buildBwrapArgv(basePlan()), EXPECTED_BWRAP);
});

test('outer argv is exact', () => {
  assert.deepEqual(buildOuterArgv(basePlan()), EXPECTED_OUTER);
});

test('every isolation flag is present exactly once, before the first "--"', () => {
  const bwrap = buildBwrapArgv(basePlan());
  const sep = bwrap.indexOf('--');
  const head = bwrap.slice(0, sep);
  for (const flag of ['--unshare-user', '--disable-userns', '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup', '--die-with-parent', '--new-session', '--clearenv', '--as-pid-1']) {
    assert.equal(head.filter((a) => a === flag).length, 1, `${flag} exactly once`);
  }
  assert.deepEqual(operands(bwrap, '--cap-drop', 1), [['ALL']]);
  assert.deepEqual(operands(bwrap, '--seccomp', 1), [[String(FD_SECCOMP)]]);
  // --disable-userns is only valid together with --unshare-user, and must come with it.
  assert.ok(head.indexOf('--unshare-user') < head.indexOf('--disable-userns'));
  // The root is read-only and the only writable place is the workspace: the fresh tmpfs the
  // outer helper mounted (its fd, with the size and inode caps in the outer argv).
  assert.deepEqual(operands(bwrap, '--remount-ro', 1), [['/dev'], ['/']]);
  assert.deepEqual(operands(bwrap, '--bind-fd', 2), [[String(FD_WORKSPACE), '/work']]);
  assert.deepEqual(operands(buildOuterArgv(basePlan()), '--workspace', 1), [[`${FD_WORKSPACE}:${64 * 1024 * 1024}:16384`]]);
  assert.equal(head.includes('--tmpfs'), false, 'no tmpfs without an inode cap');
  // No writable bind of any host path, and no share of a host namespace.
  for (const flag of ['--bind', '--bind-try', '--dev-bind', '--dev-bind-try', '--share-net', '--userns', '--pidns', '--unshare-all']) {
    assert.equal(head.includes(flag), false, `${flag} must never appear`);
  }
});

test("--clearenv empties the environment; the program's variables travel in the job, never in argv", () => {
  const plan = basePlan();
  const bwrap = buildBwrapArgv(plan);
  assert.ok(bwrap.includes('--clearenv'));
  assert.equal(bwrap.includes('--setenv'), false);
  const job = decodeJob(encodeJob(plan));
  assert.deepEqual(job.env, ['PATH=/usr/bin:/bin', 'HOME=/work', 'TRICKY=$(id) `id` --unshare-all']);
  assert.deepEqual(job.rlimits, ['core=0', 'nproc=40']);
});

test('viaFd binds use --ro-bind-fd with the matching --open-fd N:PATH in the outer argv', () => {
  const plan = basePlan();
  const outer = buildOuterArgv(plan);
  const outerHead = outer.slice(0, outer.indexOf('--'));
  const opened = operands(outerHead, '--open-fd', 1).map(([v]) => {
    const colon = (v as string).indexOf(':');
    return [(v as string).slice(0, colon), (v as string).slice(colon + 1)];
  });
  const bwrap = buildBwrapArgv(plan);
  const byFd = operands(bwrap, '--ro-bind-fd', 2);
  assert.deepEqual(opened, [
    ['10', '/root/.pyenv/versions/3.12.1'],
    ['11', '/root/.cargo'],
  ]);
  // Same fd numbers, same order, same trees.
  assert.deepEqual(
    byFd,
    opened.map(([fd, path]) => [fd, path]),
  );
  // Binds without viaFd are plain --ro-bind source dest triples.
  assert.deepEqual(operands(bwrap, '--ro-bind', 2), [
    ['/usr', '/usr'],
    ['/etc/ld.so.cache', '/etc/ld.so.cache'],
    ['/opt/jdk', '/opt/jdk'],
    ['/opt/cylo/dist/native/cylo-helper', '/.cylo/helper'],
  ]);
});

test('a plan without viaFd binds opens no fd in the outer helper', () => {
  const plan = basePlan({ binds: [{ source: '/usr', dest: '/usr' }] });
  const outer = buildOuterArgv(plan);
  assert.equal(outer.includes('--open-fd'), false);
  assert.equal(buildBwrapArgv(plan).includes('--ro-bind-fd'), false);
});

test('the outer helper joins every cgroup before the bwrap argv starts', () => {
  const outer = buildOuterArgv(basePlan());
  const sep = outer.indexOf('--');
  assert.deepEqual(operands(outer.slice(0, sep), '--cgroup-procs', 1), [['/sys/fs/cgroup/memory/cylo/x-1-1/cgroup.procs'], ['/sys/fs/cgroup/pids/cylo/x-1-1/cgroup.procs']]);
  assert.equal(outer[sep + 1], '/usr/bin/bwrap');
});

test('the program argv travels in the job as literal items, never in any command line', () => {
  const plan = basePlan({ argv: ['/usr/bin/bash', 'main.sh', '--help', '$(rm -rf /)'] });
  for (const argv of [buildOuterArgv(plan), buildBwrapArgv(plan), buildInnerArgv(plan)]) {
    assert.equal(argv.includes('$(rm -rf /)'), false);
    assert.equal(argv.includes('main.sh'), false);
  }
  // Arguments that look like separators, flags or shell syntax are kept verbatim and in order.
  const hostile = basePlan();
  assert.deepEqual(decodeJob(encodeJob(hostile)).argv, hostile.argv);
  // The inner helper's argv is the last part of bwrap's, after bwrap's own "--".
  const bwrap = buildBwrapArgv(hostile);
  assert.deepEqual(bwrap.slice(bwrap.indexOf('--') + 1), buildInnerArgv(hostile));
});

test('two plans that differ only in their job share a sandbox key (a prepared sandbox fits both)', () => {
  const a = basePlan();
  const b = basePlan({ argv: ['/usr/bin/node', 'main.js'], env: { PATH: '/usr/bin' }, rlimits: { core: 0 } });
  assert.equal(sandboxKey(a), sandboxKey(b));
  assert.notEqual(sandboxKey(a), sandboxKey(basePlan({ workspaceBytes: 1024 * 1024 })));
  assert.notEqual(sandboxKey(a), sandboxKey(basePlan({ uid: 2_000_000_256, gid: 2_000_000_256 })));
});

test('stderrToStdout travels in the job (flag bit 0), never in any argv: a prepared sandbox fits both', () => {
  // proves: the option is part of the job, so sandboxes prepared before the request arrives can
  // run it (a key that depended on it would start a sandbox on demand for every such request),
  // and it reaches the helper as the one flag bit read_job knows.
  const merged = basePlan({ stderrToStdout: true });
  const plain = basePlan();
  assert.equal(sandboxKey(merged), sandboxKey(plain));
  assert.deepEqual(buildOuterArgv(merged), buildOuterArgv(plain));
  assert.equal(decodeJob(encodeJob(merged)).flags, 1);
  assert.equal(decodeJob(encodeJob(plain)).flags, 0);
  assert.equal(decodeJob(encodeJob(basePlan({ stderrToStdout: false }))).flags, 0);
  // Everything else in the job is the same.
  const { flags: _a, ...mergedRest } = decodeJob(encodeJob(merged));
  const { flags: _b, ...plainRest } = decodeJob(encodeJob(plain));
  assert.deepEqual(mergedRest, plainRest);
});

test('nothing is ever joined into one shell string', () => {
  const plan = basePlan();
  const outer = buildOuterArgv(plan);
  // The first element is the helper, not a shell, and no "-c" script is ever built.
  assert.equal(outer[0], plan.helperPath);
  for (const shell of ['/bin/sh', '/bin/bash', 'sh', 'bash', '/usr/bin/env']) assert.equal(outer.includes(shell), false);
  assert.equal(outer.includes('-c'), false);
  // Every element that contains whitespace or shell syntax came verbatim from the plan.
  for (const a of outer) {
    assert.equal(/[\s$`;|&'"]/.test(a), false, `element ${JSON.stringify(a)} looks like a joined command line`);
  }
  // The outer argv is exactly outer options + "--" + bwrap argv, and bwrap argv ends with the inner argv.
  const bwrap = buildBwrapArgv(plan);
  assert.deepEqual(outer.slice(outer.length - bwrap.length), bwrap);
  const inner = buildInnerArgv(plan);
  assert.deepEqual(bwrap.slice(bwrap.length - inner.length), inner);
  assert.equal(bwrap[bwrap.length - inner.length - 1], '--');
});

/** Reads a job back (the helper's read_job, in TypeScript) to check what it carries. */
function decodeJob(buf: Buffer): { flags: number; argv: string[]; env: string[]; rlimits: string[] } {
  assert.equal(buf.subarray(0, 4).toString('latin1'), 'CYJ2');
  const flags = buf.readUInt32LE(4);
  let off = 8;
  const list = (): string[] => {
    const n = buf.readUInt32LE(off);
    off += 4;
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const len = buf.readUInt32LE(off);
      off += 4;
      out.push(buf.subarray(off, off + len).toString('utf8'));
      off += len;
    }
    return out;
  };
  const job = { flags, argv: list(), env: list(), rlimits: list() };
  assert.equal(off, buf.length);
  return job;
}

test('relaxed seccomp drops only --seccomp; relaxed Landlock is passed to the helper', () => {
  const strict = buildBwrapArgv(basePlan());
  const noSeccomp = buildBwrapArgv(basePlan({ seccomp: false }));
  assert.deepEqual(operands(noSeccomp, '--seccomp', 1), []);
  // Exactly the two elements "--seccomp 3" are gone; everything else (the program's own
  // "--seccomp" argument included) is unchanged.
  const at = strict.indexOf('--seccomp');
  assert.deepEqual(noSeccomp, [...strict.slice(0, at), ...strict.slice(at + 2)]);
  const off = buildInnerArgv(basePlan({ landlock: { ...basePlan().landlock, mode: 'off' } }));
  assert.deepEqual(operands(off, '--landlock', 1), [['off']]);
  const noscope = buildInnerArgv(basePlan({ landlock: { ...basePlan().landlock, mode: 'noscope' } }));
  assert.deepEqual(operands(noscope, '--landlock', 1), [['noscope']]);
});

test('filesystem layout binds /usr read-only, hides /etc secrets and binds hidden roots via fd', () => {
  const layout = filesystemLayout(['/root/.pyenv']);
  assert.deepEqual(layout.binds[0], { source: '/usr', dest: '/usr' });
  for (const b of layout.binds) {
    assert.ok(!['/etc/shadow', '/etc/passwd', '/etc', '/home', '/root', '/var', '/tmp', '/run', '/sys'].includes(b.dest), `${b.dest} must not be bound`);
  }
  const pyenv = layout.binds.find((b) => b.dest === '/root/.pyenv');
  assert.ok(pyenv !== undefined);
  // /root is 0700 on a normal host: an unprivileged uid cannot traverse it, so the bind goes via an fd.
  const rootHidden = !existsSync('/root') || (statSync('/root').mode & 0o001) === 0;
  assert.equal(pyenv.viaFd, rootHidden);
  // /usr is reachable by everyone: bound by path.
  assert.equal(layout.binds[0]?.viaFd, undefined);
  assert.deepEqual(layout.landlock.readWrite, ['/work']);
  assert.deepEqual(layout.landlock.devices, ['/dev']);
  assert.ok(layout.landlock.readOnly.includes('/proc'));
  assert.ok(layout.landlock.readExec.includes('/usr'));
  assert.ok(!layout.landlock.readExec.some((p) => p.startsWith('/etc')), 'nothing in /etc is executable');
});

test('the CPU counter: opened by the outer helper at fd 7, read by PID 1 from that fd', () => {
  // PID 1 reads the cgroup's counter around the program's exec (program-cpu.ts); the outer
  // helper opens it as root (the sandbox has no cgroup filesystem) before bubblewrap starts.
  const plan = basePlan({ cpuCounter: { path: '/sys/fs/cgroup/cpuacct/cylo/x-1-1/cpuacct.usage', format: 'v1' } });
  const outer = buildOuterArgv(plan);
  const head = outer.slice(0, outer.indexOf('--'));
  assert.deepEqual(operands(head, '--cpu-counter', 1), [['7:/sys/fs/cgroup/cpuacct/cylo/x-1-1/cpuacct.usage']]);
  const inner = buildInnerArgv(plan);
  assert.deepEqual(inner.slice(inner.indexOf('--cpu-fd'), inner.indexOf('--cpu-fd') + 4), ['--cpu-fd', '7', '--cpu-format', 'v1']);
  assert.ok(!buildInnerArgv(basePlan()).includes('--cpu-fd'), 'no counter, no option');
  // The fd is none of the others.
  assert.ok(![FD_SECCOMP, FD_STATUS, FD_BUNDLE, 6].includes(7) && 7 < FD_FIRST_BIND);
});

test('Landlock TCP ports (an environment build with network) reach the helper as --connect-tcp, and never share a prepared sandbox', () => {
  // proves: the build's port rules are passed to PID 1 (without them its npm/pip could not
  // connect at all), and a plan with them has its own key, so it never runs in a sandbox
  // prepared without them (or the reverse: a program in one prepared with them)
  const plain = basePlan();
  const net = basePlan({ landlock: { ...plain.landlock, connectTcp: [80, 443] } });
  const inner = buildInnerArgv(net);
  assert.deepEqual(inner.slice(inner.length - 4), ['--connect-tcp', '80', '--connect-tcp', '443']);
  assert.equal(buildInnerArgv(plain).includes('--connect-tcp'), false);
  assert.notEqual(sandboxKey(net), sandboxKey(plain));
});
