// The native helper's refusal paths, exercised by running the built binary directly with bad
// input (no bubblewrap, no Node sandbox code): each case asserts that the helper refuses with a
// non-zero exit and a clear message (on the status fd, like in a real sandbox, or on stderr)
// and never runs the program. Every case names the check it proves; each would fail if that
// check were removed (the message would differ, a marker file would appear, the program would
// print its marker, or the helper would hang until the timeout). Two positive controls show that
// the same harness does see a program that runs.
//
// Safety on this shared host: the outer mode refuses before any cgroup join, mount or uid
// change (every option is checked first), and the program is always a harmless /bin/echo or
// /bin/true. The inner mode is PID 1 of a sandbox: its artifact step kills "every other
// process" (kill(-1)), so every inner case that gets past the PID-1 check runs inside its own
// PID namespace (unshare --pid --fork --kill-child), where kill(-1) reaches nothing else; the
// only inner case run directly on the host is the one proving the PID-1 check, and it passes no
// --emit option, so even without that check nothing would be killed. Files are only unpacked
// into a temporary directory. Skipped visibly where the host cannot do this.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultHelperPath } from '../../src/sandbox/host-check.js';
import { encodeBundle, encodeJob, type BundleFile, type SandboxJob } from '../../src/backend/file-bundle.js';
import { FD_BUNDLE, FD_EMIT, FD_STATUS, HELPER_ENV, runHelper, type Outcome } from '../support/helper-process.js';
import { waitFor } from '../support/wait.js';

const HELPER = defaultHelperPath();
/** Printed by the program: its presence on stdout means the helper ran it. */
const MARKER = `helper-ran-the-program-${process.pid}`;
/** An unprivileged uid/gid for the outer mode (only the positive control ever switches to it). */
const ID = String(2_000_000_000 + 60_000 + (process.pid % 5000));
const ENV = HELPER_ENV;
const OPTS = { timeout: 15_000 };

/** Asserts a refusal: exit 127, exactly one "E" line on the status fd (or, with no status fd, the
 *  message on stderr) matching MESSAGE, and no sign of the program ("R" or its output). */
function assertRefused(o: Outcome, message: RegExp, proves: string, where: 'status' | 'stderr' = 'status'): void {
  const context = `${proves}\n${JSON.stringify(o, (k, v: unknown) => (k === 'artifact' ? undefined : v), 1)}`;
  assert.equal(o.timedOut, false, `hung instead of refusing: ${context}`);
  assert.equal(o.code, 127, `exit code: ${context}`);
  if (where === 'status') {
    assert.equal(o.status.length, 1, `one status line: ${context}`);
    assert.match(o.status[0] ?? '', /^E/, context);
    assert.match(o.status[0] ?? '', message, context);
  } else {
    assert.deepEqual(o.status, [], context);
    assert.match(o.stderr, /^cylo-helper: /, context);
    assert.match(o.stderr, message, context);
  }
  assert.ok(!o.status.some((l) => l === 'R' || l.startsWith('R ')), `the program was started: ${context}`);
  assert.ok(!o.stdout.includes(MARKER), `the program ran: ${context}`);
}

function helperSkip(t: TestContext): boolean {
  if (process.platform !== 'linux') t.skip(`needs Linux (this is ${process.platform})`);
  else if (!existsSync(HELPER)) t.skip(`${HELPER} is missing: build it with npm run build:native`);
  else return false;
  return true;
}

function rootSkip(t: TestContext): boolean {
  if (helperSkip(t)) return true;
  if (process.getuid?.() === 0) return false;
  t.skip('needs root (the outer mode switches to an unprivileged uid; the inner cases need a PID namespace)');
  return true;
}

/** `unshare --pid --fork --kill-child`: the inner mode's own PID namespace (see the header). */
const UNSHARE = ['unshare', '--pid', '--fork', '--kill-child', '--'];
let unshareReason: string | null | undefined;

function pidNamespaceSkip(t: TestContext): boolean {
  if (rootSkip(t)) return true;
  if (unshareReason === undefined) {
    const r = spawnSync(UNSHARE[0] as string, [...UNSHARE.slice(1), '/bin/true'], { env: ENV, timeout: 5000 });
    unshareReason = r.status === 0 ? null : `cannot make a PID namespace with unshare (${r.error?.message ?? (r.stderr.toString().trim() || `exit ${r.status}`)})`;
  }
  if (unshareReason === null) return false;
  t.skip(unshareReason);
  return true;
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'cylo-helper-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const ECHO_JOB: SandboxJob = { argv: ['/bin/echo', MARKER], env: {}, rlimits: {} };
const jobAndFiles = (job: SandboxJob, files: BundleFile[] = []): Buffer => Buffer.concat([encodeJob(job), ...encodeBundle(files)]);
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
};
/** Status lines without PID 1's "W <bytes> <inodes>" (the workspace's free space, checked by
 *  the positive control), for tests about the other lines. */
const withoutWorkspace = (lines: string[]): string[] => lines.filter((l) => !l.startsWith('W '));
/** A valid workspace for the outer mode: fd 9, 1 MiB, 1024 inodes. */
const WORKSPACE_OPTION = ['--workspace', `9:${1 << 20}:1024`];
const outer = (...args: string[]): string[] => [HELPER, 'outer', '--status-fd', String(FD_STATUS), ...WORKSPACE_OPTION, ...args];
/** The inner mode as in a sandbox (without Landlock: no rules are given, and none is needed to
 *  prove these checks), in its own PID namespace. */
const inner = (workdir: string, ...args: string[]): string[] => [...UNSHARE, HELPER, 'inner', '--status-fd', String(FD_STATUS), '--bundle-fd', String(FD_BUNDLE), '--workdir', workdir, '--landlock', 'off', ...args];
/** The same with a /proc of that PID namespace (as bubblewrap's --proc gives the sandbox): a
 *  pre-started runtime's command line is rewritten through /proc/PID. */
const innerWithProc = (workdir: string): string[] => ['unshare', '--pid', '--fork', '--kill-child', '--mount-proc', '--', ...inner(workdir).slice(UNSHARE.length)];

// ---------------------------------------------------------------------------------------------
// mode dispatch (main.c)
// ---------------------------------------------------------------------------------------------

test('no arguments and an unknown mode: usage on stderr, exit 2', OPTS, async (t) => {
  if (helperSkip(t)) return;
  // proves: main() refuses anything but outer|inner|net|landlock-abi
  for (const argv of [[HELPER], [HELPER, 'shell', '/bin/echo', MARKER]]) {
    const o = await runHelper(argv);
    assert.equal(o.code, 2, JSON.stringify(o));
    assert.match(o.stderr, /usage: cylo-helper outer\|inner\|net\|spawner\|landlock-abi/);
    assert.ok(!o.stdout.includes(MARKER));
  }
});

// ---------------------------------------------------------------------------------------------
// outer mode (outer.c): refused before any cgroup join, mount or identity change
// ---------------------------------------------------------------------------------------------

interface RefusalCase {
  name: string;
  /** The check the case proves (it fails if that check is removed). */
  proves: string;
  argv: string[];
  message: RegExp;
  where?: 'status' | 'stderr';
}

const OUTER_CASES: RefusalCase[] = [
  {
    name: 'no --uid',
    proves: 'parse_outer_options: uid and gid are required (without it setresuid(-1) keeps root; only the later "could not drop root" would catch it)',
    argv: outer('--gid', ID, '--', '/bin/echo', MARKER),
    message: /^Eouter: --uid and --gid must be unprivileged \(> 0\)$/,
  },
  {
    name: 'uid 0',
    proves: 'parse_id: uid 0 (root) is refused while parsing',
    argv: outer('--uid', '0', '--gid', ID, '--', '/bin/echo', MARKER),
    message: /^Eouter: --uid must be an unprivileged id \(1 to 4294967294\), got 0$/,
  },
  {
    name: 'gid 0',
    proves: 'parse_id: gid 0 (root group) is refused while parsing',
    argv: outer('--uid', ID, '--gid', '0', '--', '/bin/echo', MARKER),
    message: /^Eouter: --gid must be an unprivileged id \(1 to 4294967294\), got 0$/,
  },
  {
    name: 'uid 2^32 (wraps to 0 in a uid_t)',
    proves: 'parse_id: the upper bound (2^32 became uid 0 after the cast)',
    argv: outer('--uid', '4294967296', '--gid', ID, '--', '/bin/echo', MARKER),
    message: /--uid must be an unprivileged id \(1 to 4294967294\), got 4294967296$/,
  },
  {
    name: 'uid 4294967295 ((uid_t)-1: "leave unchanged" to setresuid)',
    proves: 'parse_id: the upper bound ((uid_t)-1 would keep root)',
    argv: outer('--uid', '4294967295', '--gid', ID, '--', '/bin/echo', MARKER),
    message: /--uid must be an unprivileged id \(1 to 4294967294\), got 4294967295$/,
  },
  {
    name: 'negative uid',
    proves: 'parse_id: negative ids (-5 would become uid 4294967291)',
    argv: outer('--uid', '-5', '--gid', ID, '--', '/bin/echo', MARKER),
    message: /--uid must be an unprivileged id \(1 to 4294967294\), got -5$/,
  },
  {
    name: 'non-numeric uid, reported on stderr when there is no status fd',
    proves: 'parse_num: the whole string must be a number ("12abc" would be read as uid 12)',
    argv: [HELPER, 'outer', '--uid', '12abc', '--gid', ID, '--', '/bin/echo', MARKER],
    message: /^cylo-helper: bad number for --uid: 12abc\n$/,
    where: 'stderr',
  },
  {
    name: 'a --status-fd that is not open, reported on stderr',
    proves: 'set_status_fd: the fd is checked before use (without it every later refusal is written into a closed fd and lost)',
    argv: [HELPER, 'outer', '--status-fd', '17', '--uid', ID, '--gid', ID, ...WORKSPACE_OPTION, '--', '/bin/echo', MARKER],
    message: /^cylo-helper: --status-fd 17: not an open descriptor\n$/,
    where: 'stderr',
  },
  {
    name: 'a --status-fd on stdout',
    proves: 'set_status_fd: status lines never go into the program\'s own output streams',
    argv: [HELPER, 'outer', '--status-fd', '1', '--uid', ID, '--gid', ID, ...WORKSPACE_OPTION, '--', '/bin/echo', MARKER],
    message: /^cylo-helper: --status-fd 1: must be 3 or above \(never stdio\)\n$/,
    where: 'stderr',
  },
  {
    name: 'no -- and bubblewrap argv',
    proves: 'parse_outer_options: the "--" separator is required',
    argv: outer('--uid', ID, '--gid', ID),
    message: /^Eouter: missing -- and the bubblewrap argv$/,
  },
  {
    name: 'an unknown option',
    proves: 'parse_outer_options: unknown options are refused, not ignored',
    argv: outer('--uid', ID, '--gid', ID, '--keep-root', 'yes', '--', '/bin/echo', MARKER),
    message: /^Eunknown outer option --keep-root$/,
  },
  {
    name: '--open-fd onto fd 2',
    proves: 'open_fd_option: the target fd must be >= 3 (never over stdio)',
    argv: outer('--uid', ID, '--gid', ID, '--open-fd', '2:/usr', '--', '/bin/echo', MARKER),
    message: /^E--open-fd target must be >= 3$/,
  },
  {
    name: '--open-fd with a relative path',
    proves: 'open_fd_option: the tree must be an absolute path',
    argv: outer('--uid', ID, '--gid', ID, '--open-fd', '10:usr', '--', '/bin/echo', MARKER),
    message: /^E--open-fd wants an absolute path, got usr$/,
  },
  {
    name: 'a missing --workspace',
    proves: 'parse_outer_options: the workspace tmpfs is required (bubblewrap would otherwise bind whatever fd 9 is)',
    argv: [HELPER, 'outer', '--status-fd', String(FD_STATUS), '--uid', ID, '--gid', ID, '--', '/bin/echo', MARKER],
    message: /^Eouter: --workspace is required \(the sandbox's only writable place\)$/,
  },
  {
    name: 'a --workspace without its inode cap',
    proves: 'workspace_option: fd, bytes and inodes are all required',
    argv: outer('--uid', ID, '--gid', ID, '--workspace', '9:1048576', '--', '/bin/echo', MARKER),
    message: /^E--workspace wants N:BYTES:INODES, got 9:1048576$/,
  },
  {
    name: 'a --workspace of 0 inodes',
    proves: 'workspace_option: a tmpfs with nr_inodes=0 would have no inode cap at all',
    argv: outer('--uid', ID, '--gid', ID, '--workspace', '9:1048576:0', '--', '/bin/echo', MARKER),
    message: /^E--workspace: bytes and inodes must be positive$/,
  },
  {
    name: 'a --workspace on the fd of an --open-fd tree',
    proves: 'parse_outer_options: the workspace fd cannot replace a read-only tree (or the reverse)',
    argv: outer('--uid', ID, '--gid', ID, '--open-fd', '9:/usr', '--', '/bin/echo', MARKER),
    message: /^Eouter: --workspace and --open-fd both use fd 9$/,
  },
  {
    name: '--cpu-counter onto fd 2',
    proves: 'cpu_counter_option: the target fd must be >= 3 (never over stdio)',
    argv: outer('--uid', ID, '--gid', ID, '--cpu-counter', '2:/sys/fs/cgroup/cpu.stat', '--', '/bin/echo', MARKER),
    message: /^E--cpu-counter target must be >= 3$/,
  },
  {
    name: '--cpu-counter with a relative path',
    proves: 'cpu_counter_option: the counter must be an absolute path',
    argv: outer('--uid', ID, '--gid', ID, '--cpu-counter', '7:cpu.stat', '--', '/bin/echo', MARKER),
    message: /^E--cpu-counter wants an absolute path, got cpu.stat$/,
  },
];

for (const c of OUTER_CASES) {
  test(`outer refuses ${c.name}`, OPTS, async (t) => {
    if (helperSkip(t)) return;
    assertRefused(await runHelper(c.argv), c.message, c.proves, c.where);
  });
}

test('outer refuses a --cgroup-procs path that is a symlink, and writes nothing through it', OPTS, async (t) => {
  if (rootSkip(t)) return;
  // proves: join_cgroup opens cgroup.procs with O_NOFOLLOW and refuses when it cannot join
  // (without it the helper would write its pid through the link and go on to run the program)
  const dir = tempDir(t);
  writeFileSync(join(dir, 'target'), '');
  symlinkSync(join(dir, 'target'), join(dir, 'cgroup.procs'));
  const o = await runHelper(outer('--uid', ID, '--gid', ID, '--cgroup-procs', join(dir, 'cgroup.procs'), '--', '/bin/echo', MARKER));
  assertRefused(o, /^Ecgroup: cannot open .*cgroup\.procs: Too many levels of symbolic links$/, 'join_cgroup: O_NOFOLLOW');
  assert.equal(readFileSync(join(dir, 'target'), 'utf8'), '');
});

test('outer refuses a --cpu-counter that is not a cgroup file (the fd would reach the sandbox)', OPTS, async (t) => {
  if (rootSkip(t)) return;
  // proves: open_cpu_counter hands PID 1 only a file of a cgroup filesystem, and never follows a
  // link (without the checks, root would open /etc/shadow or a planted link for the sandbox)
  const plain = await runHelper(outer('--uid', ID, '--gid', ID, '--cpu-counter', '7:/etc/hostname', '--', '/bin/echo', MARKER));
  assertRefused(plain, /^Ecgroup: \/etc\/hostname is not on a cgroup filesystem$/, 'open_cpu_counter: fstatfs');
  const dir = tempDir(t);
  symlinkSync('/etc/hostname', join(dir, 'cpu.stat'));
  const link = await runHelper(outer('--uid', ID, '--gid', ID, '--cpu-counter', `7:${join(dir, 'cpu.stat')}`, '--', '/bin/echo', MARKER));
  assertRefused(link, /^Ecgroup: cannot open the CPU counter .*cpu\.stat: Too many levels of symbolic links$/, 'open_cpu_counter: O_NOFOLLOW');
});

test('outer refuses to run when it is not root (as nobody, via setpriv)', OPTS, async (t) => {
  if (rootSkip(t)) return;
  const setpriv = spawnSync('setpriv', ['--version'], { env: ENV });
  if (setpriv.status !== 0) {
    t.skip('setpriv (util-linux) is not available to run the helper as nobody');
    return;
  }
  // A copy the nobody user can surely execute, wherever this checkout lives.
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  const helper = join(dir, 'cylo-helper');
  copyFileSync(HELPER, helper);
  chmodSync(helper, 0o755);
  // proves: the outer mode refuses at its first step that needs root (the private mount
  // namespace the workspace is mounted in), and the message says why; without the check the
  // helper would continue as nobody
  const o = await runHelper(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', helper, 'outer', '--status-fd', String(FD_STATUS), ...WORKSPACE_OPTION, '--uid', ID, '--gid', ID, '--', '/bin/echo', MARKER]);
  // (the first step that needs root is now the private mount namespace of the workspace)
  assertRefused(o, /^Emount namespace: unshare\(CLONE_NEWNS\): Operation not permitted \(cylo must start as root\)$/, 'private_mount_namespace: unshare');
});

test('positive control: outer with valid options drops to the uid and runs the program', OPTS, async (t) => {
  if (rootSkip(t)) return;
  // The same harness sees a program that runs: the refusals above are not vacuous.
  const o = await runHelper(outer('--uid', ID, '--gid', ID, '--', '/bin/sh', '-c', `echo ${MARKER} $(id -u) $(id -g) $(id -G)`));
  assert.equal(o.code, 0, JSON.stringify(o));
  assert.deepEqual(o.status, []);
  assert.equal(o.stdout, `${MARKER} ${ID} ${ID} ${ID}\n`);
});

// ---------------------------------------------------------------------------------------------
// inner mode options (inner.c): refused while parsing, before the PID-1 check
// ---------------------------------------------------------------------------------------------

const INNER_OPTION_CASES: RefusalCase[] = [
  {
    name: 'the removed --rlimit option',
    proves: 'parse_inner_options: --rlimit is gone (rlimits arrive in the job) and unknown options are refused',
    argv: [HELPER, 'inner', '--status-fd', String(FD_STATUS), '--bundle-fd', String(FD_BUNDLE), '--rlimit', 'nofile=100000'],
    message: /^Eunknown inner option --rlimit$/,
  },
  {
    name: 'the removed "--" separator',
    proves: 'parse_inner_options: "--" no longer makes the rest of the argv silently ignored',
    argv: [HELPER, 'inner', '--status-fd', String(FD_STATUS), '--bundle-fd', String(FD_BUNDLE), '--', '--landlock', 'off'],
    message: /^Eunknown inner option --$/,
  },
  {
    name: 'an unknown --landlock mode',
    proves: 'landlock_option: only on|noscope|off (anything else used to mean "on" silently)',
    argv: [HELPER, 'inner', '--status-fd', String(FD_STATUS), '--bundle-fd', String(FD_BUNDLE), '--landlock', 'relaxed'],
    message: /^E--landlock wants on, noscope or off, got relaxed$/,
  },
  {
    name: '--connect-tcp with Landlock off',
    proves: 'parse_inner_options: TCP port rules are Landlock\'s; without it a build with network would reach every port',
    argv: [HELPER, 'inner', '--status-fd', String(FD_STATUS), '--bundle-fd', String(FD_BUNDLE), '--landlock', 'off', '--connect-tcp', '443'],
    message: /^E--connect-tcp needs Landlock \(--landlock on\|noscope\)$/,
  },
  {
    name: '--emit without --emit-fd',
    proves: 'parse_inner_options: an artifact needs its pipe',
    argv: [HELPER, 'inner', '--status-fd', String(FD_STATUS), '--bundle-fd', String(FD_BUNDLE), '--emit', 'out'],
    message: /^E--emit needs --emit-fd$/,
  },
  {
    name: 'an --emit-fd that is not open',
    proves: 'inherited_fd: the artifact fd must be an open descriptor',
    argv: [HELPER, 'inner', '--status-fd', String(FD_STATUS), '--bundle-fd', String(FD_BUNDLE), '--emit-fd', '900', '--emit', 'out'],
    message: /^Eemit fd 900: not an open descriptor$/,
  },
  {
    name: 'a --status-fd that is not open, reported on stderr',
    proves: 'set_status_fd in the inner mode (it also marks the fd close-on-exec)',
    argv: [HELPER, 'inner', '--status-fd', '17', '--bundle-fd', String(FD_BUNDLE), '--workdir', '/nonexistent'],
    message: /^cylo-helper: --status-fd 17: not an open descriptor\n$/,
    where: 'stderr',
  },
  {
    name: 'no --bundle-fd',
    proves: 'parse_inner_options: the job has to arrive somewhere',
    argv: [HELPER, 'inner', '--status-fd', String(FD_STATUS), '--workdir', '/nonexistent'],
    message: /^Einner: --bundle-fd is required \(the job arrives there\)$/,
  },
];

for (const c of INNER_OPTION_CASES) {
  test(`inner refuses ${c.name}`, OPTS, async (t) => {
    if (helperSkip(t)) return;
    assertRefused(await runHelper(c.argv, jobAndFiles(ECHO_JOB)), c.message, c.proves, c.where);
  });
}

test('inner refuses to run when it is not PID 1 of a PID namespace', OPTS, async (t) => {
  if (helperSkip(t)) return;
  // Run directly on the host on purpose, with no --emit: even without the check, the helper would
  // only run /bin/echo (nothing is killed without an artifact to emit).
  // proves: run_inner's getpid() == 1 check (without it the job below would run: R and the marker)
  const dir = tempDir(t);
  const o = await runHelper([HELPER, 'inner', '--status-fd', String(FD_STATUS), '--bundle-fd', String(FD_BUNDLE), '--workdir', dir, '--landlock', 'off'], jobAndFiles(ECHO_JOB));
  assertRefused(o, /^Einner: not PID 1 of a PID namespace/, 'run_inner: PID 1');
  assert.deepEqual(readdirSync(dir), []);
});

// ---------------------------------------------------------------------------------------------
// the job and the files on the bundle pipe (job.c), in a PID namespace
// ---------------------------------------------------------------------------------------------

interface PipeCase {
  name: string;
  proves: string;
  input: Buffer;
  message: RegExp;
  /** Paths (relative to the temporary directory) that must not exist afterwards. */
  absent?: string[];
}

const validJob = encodeJob(ECHO_JOB);
/** The job header of format version 2 with no flags: "CYJ2" and a zero u32. */
const JOB_HEAD = Buffer.concat([Buffer.from('CYJ2'), u32(0)]);
const PIPE_CASES: PipeCase[] = [
  {
    name: 'a job cut short (the pipe closes mid-item)',
    proves: 'read_exact: end of pipe refuses (without it the helper loops forever on read() == 0)',
    input: Buffer.concat([JOB_HEAD, u32(1), u32(10), Buffer.from('/bin')]),
    message: /^Eworkspace: file bundle ended early$/,
  },
  {
    name: 'an empty pipe',
    proves: 'read_exact: no job at all refuses',
    input: Buffer.alloc(0),
    message: /^Eworkspace: file bundle ended early$/,
  },
  {
    name: 'a job with the wrong magic',
    proves: 'read_job: the "CYJ2" header',
    input: Buffer.concat([Buffer.from('XYJ2'), validJob.subarray(4)]),
    message: /^Ejob: bad header$/,
  },
  {
    name: 'a job of format version 1 (no flags word)',
    proves: 'read_job: only version 2 is read; an older writer is named, not misread (without the check its first list count would be taken as flags)',
    input: Buffer.concat([Buffer.from('CYJ1'), validJob.subarray(8)]),
    message: /^Ejob: format version 1, this helper reads version 2 \(rebuild the helper with this cylo: npm run build\)$/,
  },
  {
    name: 'a job with an unknown flag bit',
    proves: 'read_job: flag bits other than stderr-to-stdout, pre-start, handover and zygote are refused, not ignored',
    input: Buffer.concat([Buffer.from('CYJ2'), u32(0x11), validJob.subarray(8)]),
    message: /^Ejob: unknown flags 0x10$/,
  },
  {
    name: 'a zygote job that is not a pre-start job',
    proves: 'read_job: the zygote flag only comes with a pre-start job (PID 1 adopts a runtime only in place of the one it would pre-start)',
    input: Buffer.concat([Buffer.from('CYJ2'), u32(0x9), validJob.subarray(8)]),
    message: /^Ejob: only a pre-start job comes from a zygote$/,
  },
  {
    name: 'a job with a high unknown flag bit',
    proves: 'read_job: the known-flags mask covers all 32 bits',
    input: Buffer.concat([Buffer.from('CYJ2'), u32(0x80000000), validJob.subarray(8)]),
    message: /^Ejob: unknown flags 0x80000000$/,
  },
  {
    name: 'a job that is both a pre-start and a handover',
    proves: 'read_job: the two pre-start flags exclude each other',
    input: Buffer.concat([Buffer.from('CYJ2'), u32(0x6), validJob.subarray(8)]),
    message: /^Ejob: a pre-start job cannot be a handover$/,
  },
  {
    name: 'a handover job with an environment',
    proves: 'read_job: a handover carries only argv and rlimits (the runtime\'s environment was fixed at pre-start)',
    input: jobAndFiles({ argv: ['/bin/true', 'x'], env: { A: '1' }, rlimits: {}, handover: true }),
    message: /^Ejob: a handover carries no environment \(the runtime's was fixed at pre-start\)$/,
  },
  {
    name: 'a handover job with no runtime pre-started',
    proves: 'supervise: a handover needs a pre-started runtime (never treated as a job to run)',
    input: jobAndFiles({ argv: ['/bin/true', 'x'], env: {}, rlimits: {}, handover: true }),
    message: /^Eprestart: a handover job, but no runtime was pre-started$/,
  },
  {
    name: 'a second pre-start job',
    proves: 'run_inner: one pre-started runtime per sandbox; the job after it is the request\'s',
    input: Buffer.concat([encodeJob({ argv: ['/bin/true'], env: {}, rlimits: {}, prestart: true }), encodeJob({ argv: ['/bin/true'], env: {}, rlimits: {}, prestart: true })]),
    message: /^Ejob: a second pre-start job$/,
  },
  {
    name: 'a job with too many items',
    proves: 'read_list: at most 4096 items per list, checked before allocating',
    input: Buffer.concat([JOB_HEAD, u32(4097)]),
    message: /^Ejob: too many items \(4097\)$/,
  },
  {
    name: 'an oversized job (one item above 8 MiB)',
    proves: 'read_list: the job is at most 8 MiB, checked before allocating or reading the item',
    input: Buffer.concat([JOB_HEAD, u32(1), u32((8 << 20) + 1)]),
    message: /^Ejob: larger than 8388608 bytes$/,
  },
  {
    name: 'an oversized job (many items adding up above 8 MiB)',
    proves: 'read_list: the 8 MiB bound is on the total, not per item',
    input: Buffer.concat([JOB_HEAD, u32(3), u32(4 << 20), Buffer.alloc(4 << 20, 0x61), u32(4 << 20), Buffer.alloc(4 << 20, 0x61), u32(1)]),
    message: /^Ejob: larger than 8388608 bytes$/,
  },
  {
    name: 'a NUL inside an argv item',
    proves: 'read_list: an item cannot hide a second string after a NUL',
    input: Buffer.concat([JOB_HEAD, u32(1), u32(11), Buffer.from('/bin/echo\0x'), u32(0), u32(0)]),
    message: /^Ejob: NUL inside an item$/,
  },
  {
    name: 'a relative program path',
    proves: 'read_job: argv[0] must be absolute',
    input: jobAndFiles({ argv: ['echo', MARKER], env: {}, rlimits: {} }),
    message: /^Ejob: the program must be an absolute path$/,
  },
  {
    name: 'an unknown rlimit',
    proves: 'rlimit_by_name: unknown resources are refused, not skipped',
    input: jobAndFiles({ argv: ['/bin/echo', MARKER], env: {}, rlimits: { rss: 1 } }),
    message: /^Eunknown rlimit rss$/,
  },
  {
    name: 'a negative rlimit',
    proves: 'rlimit_value: digits only ("-1" became RLIM_INFINITY after the cast to rlim_t: the job lifted the limit it named)',
    input: jobAndFiles({ argv: ['/bin/echo', MARKER], env: {}, rlimits: { cpu: -1 } }),
    message: /^Ejob: rlimit cpu wants a decimal number of 0 or more, got "-1"$/,
  },
  {
    name: 'a newline in an rlimit name (a forged "X 0 0" status line)',
    proves: 'fail(): control bytes in a message become "?", so a refusal is always exactly one status line',
    input: Buffer.concat([JOB_HEAD, u32(1), u32(9), Buffer.from('/bin/echo'), u32(0), u32(1), u32(10), Buffer.from('x\nX 0 0\n=1'), ...encodeBundle([])]),
    message: /^Eunknown rlimit x\?X 0 0\?$/,
  },
  {
    name: 'a file named ../x',
    proves: 'open_parent: ".." components are refused (without it the file lands beside the workspace)',
    input: jobAndFiles(ECHO_JOB, [{ name: '../x', content: Buffer.from('escaped') }]),
    message: /^Eworkspace: refusing file name component in \.\.\/x$/,
    absent: ['x'],
  },
  {
    name: 'a file named a/../../b',
    proves: 'open_parent: ".." is refused in any position, not just the first',
    input: jobAndFiles(ECHO_JOB, [{ name: 'a/../../b', content: Buffer.from('escaped') }]),
    message: /^Eworkspace: refusing file name component in a\/\.\.\/\.\.\/b$/,
    absent: ['b'],
  },
  {
    name: 'a file with an empty component (a//b)',
    proves: 'open_parent: empty components are refused',
    input: jobAndFiles(ECHO_JOB, [{ name: 'a//b', content: Buffer.from('x') }]),
    message: /^Eworkspace: refusing file name component in a\/\/b$/,
  },
  {
    name: 'a file cut short',
    proves: 'read_exact: a file shorter than its declared size refuses',
    input: Buffer.concat([validJob, ...encodeBundle([{ name: 'f', content: Buffer.from('0123456789') }])]).subarray(0, validJob.length + 16 + 1 + 5),
    message: /^Eworkspace: file bundle ended early$/,
  },
];

for (const c of PIPE_CASES) {
  test(`inner refuses ${c.name}`, OPTS, async (t) => {
    if (pidNamespaceSkip(t)) return;
    const dir = tempDir(t);
    const work = join(dir, 'work');
    mkdirSync(work);
    assertRefused(await runHelper(inner(work), c.input), c.message, c.proves);
    for (const p of c.absent ?? []) assert.ok(!existsSync(join(dir, p)), `${p} was written outside the workspace`);
  });
}

test('inner refuses an absolute file name, and writes nothing there', OPTS, async (t) => {
  if (pidNamespaceSkip(t)) return;
  // proves: unpack_bundle's leading "/" check (openat ignores the directory fd for an absolute
  // name, so only this check keeps the file out of the host's filesystem)
  const dir = tempDir(t);
  const work = join(dir, 'work');
  mkdirSync(work);
  const target = join(dir, 'absolute-escape');
  const o = await runHelper(inner(work), jobAndFiles(ECHO_JOB, [{ name: target, content: Buffer.from('escaped') }]));
  assertRefused(o, /^Eworkspace: bad file name$/, 'unpack_bundle: absolute name');
  assert.ok(!existsSync(target));
});

test('inner refuses a file that already exists in the workspace (never writes over or through it)', OPTS, async (t) => {
  if (pidNamespaceSkip(t)) return;
  // proves: unpack_bundle's O_EXCL|O_NOFOLLOW (a link planted in the workspace is not followed)
  const dir = tempDir(t);
  const work = join(dir, 'work');
  mkdirSync(work);
  writeFileSync(join(dir, 'outside'), 'original');
  symlinkSync(join(dir, 'outside'), join(work, 'main.py'));
  const o = await runHelper(inner(work), jobAndFiles(ECHO_JOB, [{ name: 'main.py', content: Buffer.from('overwritten') }]));
  assertRefused(o, /^Eworkspace: create main\.py: File exists$/, 'unpack_bundle: O_EXCL|O_NOFOLLOW');
  assert.equal(readFileSync(join(dir, 'outside'), 'utf8'), 'original');
});

test('positive control: inner with a valid job unpacks the files and runs the program', OPTS, async (t) => {
  if (pidNamespaceSkip(t)) return;
  const dir = tempDir(t);
  const work = join(dir, 'work');
  mkdirSync(work);
  const o = await runHelper(inner(work), jobAndFiles({ argv: ['/bin/sh', '-c', `echo ${MARKER}; cat ${work}/src/main.txt`], env: {}, rlimits: { nofile: 64 } }, [{ name: 'src/main.txt', content: Buffer.from('content\n') }]));
  assert.equal(o.code, 0, JSON.stringify(o));
  // "W": the workspace's free bytes and inodes (statfs) right after the program ended.
  assert.equal(o.status.length, 3, JSON.stringify(o.status));
  assert.equal(o.status[0], 'R');
  assert.match(o.status[1] ?? '', /^W \d+ (-1|\d+)$/);
  assert.equal(o.status[2], 'X 0 0');
  assert.equal(o.stdout, `${MARKER}\ncontent\n`);
});

test('inner with a pre-start job: the runtime waits, the handover gives it the extra argv and lowers its rlimits', OPTS, async (t) => {
  if (pidNamespaceSkip(t)) return;
  // proves: prestart_runtime forks the pre-start job at once with the handover pipe at fd 1000,
  // the ready pipe at 1001 and no "R" yet; hand_over waits for the ready byte, writes the whole
  // argv over the runtime's command line (/proc/PID/mem), lowers the rlimits (prlimit: nofile
  // 64 -> 32, seen by the runtime after the handover), reports "R" and writes argv[2..]
  // NUL-terminated, then closes the pipe (the runtime reads to end of file). Without the
  // handover the runtime would print no arguments, the old limit and its own command line.
  const dir = tempDir(t);
  const work = join(dir, 'work');
  mkdirSync(work);
  // The runtime says it is ready on fd 1001, reads its arguments from fd 1000, and shows its
  // command line as PID 1 rewrote it (the whole argv of the handover job, NUL-padded).
  const runtime = `printf x >&1001; exec 1001>&-; args=$(tr '\\0' ' ' <&1000); exec 1000<&-; echo "${MARKER} $args"; ulimit -n; ls /proc/self/fd | wc -l; tr -s '\\0' ' ' < /proc/$$/cmdline; echo`;
  const input = Buffer.concat([
    encodeJob({ argv: ['/bin/bash', '-c', runtime], env: {}, rlimits: { nofile: 64 }, prestart: true }),
    jobAndFiles({ argv: ['/bin/bash', '-c', 'one', 'two words'], env: {}, rlimits: { nofile: 32 }, handover: true }),
  ]);
  const o = await runHelper(innerWithProc(work), input);
  assert.equal(o.code, 0, JSON.stringify(o));
  assert.deepEqual(o.status.map((l) => l.split(' ')[0]), ['R', 'W', 'X'], JSON.stringify(o.status));
  // fds 0-2 and the one ls opens: the handover and ready pipes are gone.
  assert.equal(o.stdout, `${MARKER} one two words \n32\n4\n/bin/bash -c one two words \n`);
});

test('inner with a pre-started runtime that ended before its handover reports its end as the program\'s', OPTS, async (t) => {
  if (pidNamespaceSkip(t)) return;
  // proves: a runtime that ends around its handover has its exit reported as the program's
  // "X" after "R" (it ended under the request's layers and limits, as a cold start would), not
  // a setup error and not a hang (a failed handover write, EPIPE, is not fatal either). Which
  // branch runs depends on timing: usually the runtime is still alive at hand_over's check and
  // the wait reaps it; the already-reaped branch is not forced by this test.
  const dir = tempDir(t);
  const work = join(dir, 'work');
  mkdirSync(work);
  const input = Buffer.concat([
    encodeJob({ argv: ['/bin/sh', '-c', 'exit 7'], env: {}, rlimits: {}, prestart: true }),
    jobAndFiles({ argv: ['/bin/sh', '-c', 'ignored'], env: {}, rlimits: { nofile: 32 }, handover: true }),
  ]);
  const o = await runHelper(innerWithProc(work), input);
  assert.equal(o.code, 7, JSON.stringify(o));
  assert.deepEqual(o.status.map((l) => l.split(' ')[0]), ['R', 'W', 'X'], JSON.stringify(o.status));
  assert.equal(o.status[2], 'X 7 0');
});

test('inner with a pre-start job and a full job: the runtime is discarded, the job runs cold', OPTS, async (t) => {
  if (pidNamespaceSkip(t)) return;
  // proves: supervise's discard_prestarted when the request's job is not a handover: the waiting
  // runtime is killed before the program starts (it would print its marker on end of file).
  const dir = tempDir(t);
  const work = join(dir, 'work');
  mkdirSync(work);
  const input = Buffer.concat([
    encodeJob({ argv: ['/bin/bash', '-c', 'cat <&1000 >/dev/null; echo runtime-was-not-discarded'], env: {}, rlimits: {}, prestart: true }),
    jobAndFiles({ argv: ['/bin/echo', MARKER], env: {}, rlimits: {} }),
  ]);
  const o = await runHelper(inner(work), input);
  assert.equal(o.code, 0, JSON.stringify(o));
  assert.equal(o.stdout, `${MARKER}\n`);
});

test('inner with the stderr-to-stdout flag gives the program one pipe for fd 1 and fd 2, in write order', OPTS, async (t) => {
  if (pidNamespaceSkip(t)) return;
  // proves: exec_program's dup2(1, 2) when the job's flag bit 0 is set (without it "err1" and
  // "err2" arrive on stderr), and that without the flag the two streams stay apart.
  const dir = tempDir(t);
  const work = join(dir, 'work');
  mkdirSync(work);
  const script = 'echo out1; echo err1 >&2; echo out2; echo err2 >&2';
  const merged = await runHelper(inner(work), jobAndFiles({ argv: ['/bin/sh', '-c', script], env: {}, rlimits: {}, stderrToStdout: true }));
  assert.equal(merged.code, 0, JSON.stringify(merged));
  assert.deepEqual(withoutWorkspace(merged.status), ['R', 'X 0 0']);
  assert.equal(merged.stdout, 'out1\nerr1\nout2\nerr2\n');
  assert.equal(merged.stderr, '');
  const apart = await runHelper(inner(work), jobAndFiles({ argv: ['/bin/sh', '-c', script], env: {}, rlimits: {} }));
  assert.equal(apart.stdout, 'out1\nout2\n');
  assert.equal(apart.stderr, 'err1\nerr2\n');
});

// ---------------------------------------------------------------------------------------------
// the CPU counter (cpu-counter.c): read before the exec ("R <usec>") and at the exit ("X ... <usec>")
// ---------------------------------------------------------------------------------------------

/** Runs the echo job with a file as the CPU counter at fd 7. */
async function withCounter(t: TestContext, content: string, ...args: string[]): Promise<Outcome> {
  const dir = tempDir(t);
  const work = join(dir, 'work');
  mkdirSync(work);
  writeFileSync(join(dir, 'counter'), content);
  const fd = openSync(join(dir, 'counter'), 'r');
  try {
    return await runHelper(inner(work, ...args), jobAndFiles(ECHO_JOB), 8000, [fd]);
  } finally {
    closeSync(fd);
  }
}

test('the CPU counter is reported with "R" and "X": v2 cpu.stat (usec) and v1 cpuacct.usage (ns)', OPTS, async (t) => {
  if (pidNamespaceSkip(t)) return;
  // proves: PID 1 reads the counter before the exec and after the exit, in microseconds, for
  // both layouts (the host subtracts the two: src/sandbox/program-cpu.ts). A counter that does
  // not change reads the same twice.
  const v2 = await withCounter(t, 'usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n', '--cpu-fd', '7', '--cpu-format', 'v2');
  assert.deepEqual(withoutWorkspace(v2.status), ['R 123456', 'X 0 0 123456'], JSON.stringify(v2));
  assert.equal(v2.stdout, `${MARKER}\n`);
  const v1 = await withCounter(t, '987654321\n', '--cpu-fd', '7', '--cpu-format', 'v1');
  assert.deepEqual(withoutWorkspace(v1.status), ['R 987654', 'X 0 0 987654'], JSON.stringify(v1));
});

for (const c of [
  { name: 'an unreadable counter (v2 without usage_usec)', content: 'user_usec 5\n', args: ['--cpu-fd', '7', '--cpu-format', 'v2'], message: /^Ecpu counter: cannot parse the cgroup's CPU counter$/, proves: 'supervise: the counter is read once before the fork' },
  { name: 'a counter that is not a number', content: '12ab\n', args: ['--cpu-fd', '7', '--cpu-format', 'v1'], message: /^Ecpu counter: cannot parse the cgroup's CPU counter$/, proves: 'parse_counter: digits only' },
  { name: 'an unknown counter format', content: '1\n', args: ['--cpu-fd', '7', '--cpu-format', 'v3'], message: /^E--cpu-format wants v1 or v2, got v3$/, proves: 'cpu_counter_format' },
  { name: '--cpu-fd without --cpu-format', content: '1\n', args: ['--cpu-fd', '7'], message: /^Einner: --cpu-fd and --cpu-format go together$/, proves: 'parse_inner_options: both or neither' },
]) {
  test(`inner refuses ${c.name}`, OPTS, async (t) => {
    if (pidNamespaceSkip(t)) return;
    assertRefused(await withCounter(t, c.content, ...c.args), c.message, c.proves);
  });
}

// ---------------------------------------------------------------------------------------------
// artifact emission (emit.c), in a PID namespace (it kills every other process first)
// ---------------------------------------------------------------------------------------------

test('artifact emission refuses a symlink, and a path through a symlinked directory', OPTS, async (t) => {
  if (pidNamespaceSkip(t)) return;
  const dir = tempDir(t);
  const work = join(dir, 'work');
  mkdirSync(work);
  mkdirSync(join(dir, 'outside'));
  writeFileSync(join(dir, 'outside', 'secret'), 'SECRET-CONTENT');
  // Planted before the run (the workspace is a host directory here; in a sandbox the program
  // would make them): a link to a file, and a link to a directory.
  symlinkSync(join(dir, 'outside', 'secret'), join(work, 'out'));
  symlinkSync(join(dir, 'outside'), join(work, 'build'));
  const cases = [
    // proves: emit_open's file-type check (links, devices, FIFOs and sockets refuse the artifact;
    // without it O_NOFOLLOW would still stop the read, with a different message)
    { emit: 'out', message: /^Aout is not a regular file or directory \(links, devices, FIFOs and sockets are refused\)$/ },
    // proves: emit_path opens every parent with O_NOFOLLOW|O_DIRECTORY
    { emit: 'build/secret', message: /^Abuild\/secret: a parent is not a directory$/ },
  ];
  for (const c of cases) {
    const o = await runHelper(inner(work, '--emit-fd', String(FD_EMIT), '--emit-max', '1048576', '--emit', c.emit), jobAndFiles({ argv: ['/bin/true'], env: {}, rlimits: {} }));
    const context = JSON.stringify(o);
    assert.equal(o.timedOut, false, context);
    assert.equal(o.code, 0, `the program itself exited 0: ${context}`);
    assert.equal(o.status.length, 4, context);
    assert.equal(o.status[0], 'R', context);
    assert.match(o.status[1] ?? '', /^W /, context);
    assert.match(o.status[2] ?? '', c.message, context);
    assert.equal(o.status[3], 'X 0 0', context);
    // Nothing was emitted: not the file behind the link, not even an end record (the host reads
    // an artifact without its end record as refused).
    assert.equal(o.artifact.length, 0, `artifact bytes: ${o.artifact.toString('latin1')}`);
  }
});

// ---------------------------------------------------------------------------------------------
// net mode (netns.c): an environment build's network stack; refused before it joins anything
// ---------------------------------------------------------------------------------------------

test('net mode: refuses missing or privileged ids, the host\'s network namespace, and a namespace of another owner', { timeout: 30_000 }, async (t) => {
  if (rootSkip(t)) return;
  // The namespace checks come before the cgroup is joined: a path that does not exist is never opened.
  const net = (pid: number, uid = ID): string[] => [HELPER, 'net', '--pid', String(pid), '--uid', uid, '--gid', ID, '--nft', '/usr/sbin/nft', '--tcp-port', '443', '--cgroup-procs', '/nonexistent/cgroup.procs', '--', '/bin/echo', MARKER];
  // proves: the stack never runs as root, nor without a target
  assertRefused(await runHelper([HELPER, 'net', '--', '/bin/echo', MARKER]), /--pid, --uid and --gid are required/, 'options checked', 'stderr');
  assertRefused(await runHelper(net(process.pid, '0')), /unprivileged ids/, 'uid 0 refused', 'stderr');
  // proves: the stack never runs outside the build's cgroup (F3: its CPU and memory are the build's)
  assertRefused(await runHelper([HELPER, 'net', '--pid', String(process.pid), '--uid', ID, '--gid', ID, '--', '/bin/echo', MARKER]), /--cgroup-procs is required/, 'cgroup required', 'stderr');
  // proves: never a stack without its output filter (netfilter.c): nft and the ports are required
  assertRefused(await runHelper([HELPER, 'net', '--pid', String(process.pid), '--uid', ID, '--gid', ID, '--cgroup-procs', '/nonexistent/cgroup.procs', '--', '/bin/echo', MARKER]), /--nft .* and --tcp-port are required/, 'filter required', 'stderr');
  assertRefused(await runHelper([HELPER, 'net', '--pid', String(process.pid), '--uid', ID, '--gid', ID, '--nft', 'nft', '--tcp-port', '443', '--cgroup-procs', '/nonexistent/cgroup.procs', '--', '/bin/echo', MARKER]), /--nft .* and --tcp-port are required/, 'nft absolute', 'stderr');
  // proves: a pid in the host's network namespace (a reused pid, a wrong one) is refused: the
  // stack would otherwise configure the host's own network
  assertRefused(await runHelper(net(process.pid)), /in the host's network namespace/, 'host netns refused', 'stderr');
  // proves: a network namespace whose user namespace is not the slot uid's (here: root's, made
  // by unshare as root) is refused: the stack only ever serves the sandbox of its own uid
  const other = spawn('unshare', ['--net', '--', 'sleep', '20'], { stdio: 'ignore' });
  try {
    // unshare execs sleep once the namespace exists: wait for it to be another one than ours
    await waitFor('the unshared network namespace', () => existsSync(`/proc/${other.pid}/ns/net`) && readlinkSync(`/proc/${other.pid}/ns/net`) !== readlinkSync('/proc/self/ns/net'), 10_000);
    assertRefused(await runHelper(net(other.pid as number)), /belongs to uid 0, not the sandbox's/, 'owner checked', 'stderr');
  } finally {
    other.kill('SIGKILL');
  }
});
