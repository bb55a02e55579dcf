// The exact argv of a sandbox: cylo-helper (outer, as root) -> bubblewrap (as the execution's
// unprivileged uid) -> cylo-helper (inner, PID 1 of the sandbox) -> the program.
// Pure functions of a plan, so the unit tests can check every flag. Argv arrays end to end:
// nothing here is ever joined into a shell string.

/** Where the inner helper appears inside the sandbox. */
export const HELPER_IN_SANDBOX = '/.cylo/helper';
/** The workspace: a fresh, size-capped tmpfs, the only writable place (the backend contract's
 *  path, src/backend/backend.ts). */
import { WORKSPACE, WORKSPACE_TMP } from '../backend/backend.js';
export { WORKSPACE, WORKSPACE_TMP };

/** File descriptors handed from Node to the helper (stdio 3, 4, 5). */
export const FD_SECCOMP = 3;
export const FD_STATUS = 4;
export const FD_BUNDLE = 5;
/** The artifact bundle a compile stage streams back out, or a run stage's output files (stdio 6;
 *  only when plan.emit or plan.outputs is set). */
export const FD_EMIT = 6;
/** The cgroup's CPU counter, opened read-only by the outer helper for PID 1 (plan.cpuCounter). */
export const FD_CPU = 7;
/** The workspace tmpfs the outer helper mounts (bwrap --bind-fd). */
export const FD_WORKSPACE = 9;
/** First fd the outer helper uses for O_PATH fds of trees bound with --ro-bind-fd. */
export const FD_FIRST_BIND = 10;

export interface ReadOnlyBind {
  source: string;
  dest: string;
  /** Bind through an O_PATH fd opened by the outer helper while still root (for trees under
   *  parents the unprivileged uid cannot traverse, e.g. /root/.pyenv). */
  viaFd?: boolean;
}

export interface LandlockPlan {
  /** 'on': required; 'noscope': without ABI 6 scoping; 'off': relaxed by the operator. */
  mode: 'on' | 'noscope' | 'off';
  readOnly: string[];
  readExec: string[];
  readWrite: string[];
  devices: string[];
  /** TCP ports the program may connect to (Landlock ABI 4 rules); absent or empty: none, every
   *  TCP connect and bind is denied. Only environment builds with network have any. */
  connectTcp?: number[] | undefined;
}

export interface SandboxPlan {
  bwrapPath: string;
  helperPath: string;
  uid: number;
  gid: number;
  /** cgroup.procs files the outer helper joins before anything else runs. */
  cgroupProcs: string[];
  binds: ReadOnlyBind[];
  /** Host package directories hidden behind an empty read-only tmpfs (host-packages.ts);
   *  binds whose dest lies inside one (an environment's) are made after it. */
  masks?: string[] | undefined;
  symlinks: Array<{ target: string; link: string }>;
  workspaceBytes: number;
  /** The job (sent on the bundle pipe, not in any argv): the program's environment... */
  env: Record<string, string>;
  /** ...its rlimits... */
  rlimits: Record<string, number>;
  landlock: LandlockPlan;
  /** ...its argv inside the sandbox (argv[0] absolute)... */
  argv: string[];
  /** ...and whether its stderr goes into its stdout pipe (the job's flag bit 0). */
  stderrToStdout?: boolean | undefined;
  /** Lower the seccomp layer: only when the operator relaxed it. */
  seccomp: boolean;
  /** Compile stages: workspace-relative paths (files or directories) PID 1 streams back out on
   *  FD_EMIT after the program exited 0, capped at maxBytes in all. */
  emit?: { paths: string[]; maxBytes: number } | undefined;
  /** Run stages: output patterns PID 1 walks the workspace for after the program ended and
   *  every other process is dead, streaming the matching regular files back on FD_EMIT
   *  (native/outputs.c), within the caps. Never together with emit. */
  outputs?: { patterns: string[]; fileMaxBytes: number; totalMaxBytes: number; maxFiles: number } | undefined;
  /** Extra workspace directories (absolute, parents first) the helper creates before unpacking. */
  mkdirs?: string[] | undefined;
  /** The cgroup's CPU counter: PID 1 reads it as the program is exec'd and when it exits, so
   *  that the program's CPU time (and the CPU limit) excludes the sandbox's setup. */
  cpuCounter?: { path: string; format: 'v1' | 'v2' } | undefined;
}

/** Bytes of workspace per inode (file or directory) it may hold: one page's worth, so a flood
 *  of empty files meets ENOSPC (as on a real disk, whose ext4 default is one inode per 16 KiB)
 *  long before their kernel memory (about 1 KiB each, charged to the memory cgroup) does. */
export const WORKSPACE_BYTES_PER_INODE = 4096;
/** Every workspace may hold at least this many files and directories (small workspaces). */
export const MIN_WORKSPACE_INODES = 1024;

/** The inode cap (nr_inodes) of a workspace of `bytes`. */
export function workspaceInodes(bytes: number): number {
  return Math.max(MIN_WORKSPACE_INODES, Math.floor(bytes / WORKSPACE_BYTES_PER_INODE));
}

/** Identifies the sandbox a plan needs apart from its job: two plans with the same key can use
 *  the same prepared sandbox (started ahead of time). */
export function sandboxKey(plan: SandboxPlan): string {
  return buildOuterArgv(plan).join('\0');
}

/** argv for the outer helper: join cgroups, open hidden trees, drop to the uid, exec bwrap. */
export function buildOuterArgv(plan: SandboxPlan): string[] {
  const argv = [plan.helperPath, 'outer', '--status-fd', String(FD_STATUS), '--uid', String(plan.uid), '--gid', String(plan.gid)];
  // The workspace tmpfs, mounted by the outer helper (bubblewrap 0.8 cannot cap its inodes).
  argv.push('--workspace', `${FD_WORKSPACE}:${plan.workspaceBytes}:${workspaceInodes(plan.workspaceBytes)}`);
  for (const procs of plan.cgroupProcs) argv.push('--cgroup-procs', procs);
  if (plan.cpuCounter !== undefined) argv.push('--cpu-counter', `${FD_CPU}:${plan.cpuCounter.path}`);
  let fd = FD_FIRST_BIND;
  for (const bind of plan.binds) {
    if (bind.viaFd === true) argv.push('--open-fd', `${fd++}:${bind.source}`);
  }
  argv.push('--', ...buildBwrapArgv(plan));
  return argv;
}

/** argv for bubblewrap itself, each flag with the attack it stops. */
export function buildBwrapArgv(plan: SandboxPlan): string[] {
  const a: string[] = [plan.bwrapPath];
  a.push(
    '--unshare-user', // own user namespace: root-looking ids inside map to nothing on the host
    '--disable-userns', // no nested user namespace that could undo read-only mounts
    '--unshare-pid', // the program sees only its own processes and cannot signal host ones
    '--unshare-net', // no network: only an isolated loopback, no route to the host or the LAN
    '--unshare-ipc', // no access to host SysV IPC and POSIX message queues
    '--unshare-uts', // hostname changes stay inside
    '--unshare-cgroup', // the host's cgroup tree is hidden
    '--as-pid-1', // the inner helper is PID 1: it reaps orphans and reports the exact exit status
    '--die-with-parent', // the sandbox dies with its starter (the service, or the spawner, which ends with the service), even on SIGKILL
    '--new-session', // setsid(): no TIOCSTI keystroke injection into the caller's terminal
    '--cap-drop', 'ALL', // no capabilities, even inside the namespaces
    '--uid', '1000', // an ordinary user inside, too
    '--gid', '1000',
    '--hostname', 'cylo',
    '--clearenv', // never the host's variables (secrets, tokens)
  );
  pushBinds(a, plan);
  for (const link of plan.symlinks) a.push('--symlink', link.target, link.link);
  a.push(
    '--ro-bind', plan.helperPath, HELPER_IN_SANDBOX, // the helper that applies Landlock and rlimits
    '--proc', '/proc', // a fresh /proc for the new PID namespace: host processes are invisible
    '--dev', '/dev', // a minimal /dev (null, zero, urandom, tty...): no disks, no /dev/mem, no kvm
    // The workspace: a fresh tmpfs the outer helper mounted (native/workspace.c) with a hard size
    // cap (no filling host RAM) and an inode cap (a file flood meets ENOSPC, not the OOM
    // killer); private to this sandbox's mount namespace, it vanishes with it: nothing persists.
    '--bind-fd', String(FD_WORKSPACE), WORKSPACE,
    '--symlink', WORKSPACE_TMP, '/tmp', // programs expecting /tmp write into the capped workspace
    '--chdir', WORKSPACE,
    '--remount-ro', '/dev', // /dev cannot be filled or have nodes planted
    '--remount-ro', '/', // the root is read-only: the workspace is the only writable place
  );
  if (plan.seccomp) a.push('--seccomp', String(FD_SECCOMP)); // syscall deny list (see seccomp/policy.ts)
  a.push('--', ...buildInnerArgv(plan)); // '--': the program's argv can never be read as flags
  return a;
}

/** True when `path` is `dir` or lies inside it. */
function inside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

/** The read-only binds and the package masks, in the order that makes both hold: binds
 *  outside every mask, then the masks, then the binds inside a mask (an environment's trees),
 *  then each mask remounted read-only. fd numbers follow plan.binds (buildOuterArgv's order). */
function pushBinds(a: string[], plan: SandboxPlan, fds = true): void {
  const masks = plan.masks ?? [];
  let next = FD_FIRST_BIND;
  // fds false (a zygote, started by root without the outer helper): every tree by its path.
  const binds = plan.binds.map((bind) => ({ bind, fd: fds && bind.viaFd === true ? next++ : -1, masked: masks.some((m) => inside(bind.dest, m)) }));
  const push = ({ bind, fd }: { bind: ReadOnlyBind; fd: number }): void => {
    // read-only runtime trees: the program cannot modify the toolchain or plant binaries
    if (fd >= 0) a.push('--ro-bind-fd', String(fd), bind.dest);
    else a.push('--ro-bind', bind.source, bind.dest);
  };
  binds.filter((b) => !b.masked).forEach(push);
  // The host's package directories: an empty tmpfs over each, so that no program imports a
  // package the host happens to have (only what an environment declares, bound just below);
  // --perms 0555: not even its owner (the sandbox uid) may create entries in it.
  for (const m of masks) a.push('--perms', '0555', '--tmpfs', m);
  binds.filter((b) => b.masked).forEach(push);
  // ...and read-only: the tmpfs can never be written (the mount flag, not only its mode).
  for (const m of masks) a.push('--remount-ro', m);
}

/** argv for the inner helper: unpack files, fork the program under rlimits and Landlock. */
export function buildInnerArgv(plan: Pick<SandboxPlan, 'mkdirs' | 'emit' | 'outputs' | 'cpuCounter' | 'landlock'>): string[] {
  const a = [HELPER_IN_SANDBOX, 'inner', '--status-fd', String(FD_STATUS), '--bundle-fd', String(FD_BUNDLE), '--workdir', WORKSPACE, '--mkdir', WORKSPACE_TMP];
  for (const d of plan.mkdirs ?? []) a.push('--mkdir', d);
  if (plan.emit !== undefined && plan.emit.paths.length > 0) {
    a.push('--emit-fd', String(FD_EMIT), '--emit-max', String(plan.emit.maxBytes));
    for (const p of plan.emit.paths) a.push('--emit', p);
  }
  if (plan.outputs !== undefined && plan.outputs.patterns.length > 0) {
    const o = plan.outputs;
    a.push('--emit-fd', String(FD_EMIT), '--output-file-max', String(o.fileMaxBytes), '--output-max', String(o.totalMaxBytes), '--output-max-files', String(o.maxFiles));
    for (const p of o.patterns) a.push('--output', p);
  }
  if (plan.cpuCounter !== undefined) a.push('--cpu-fd', String(FD_CPU), '--cpu-format', plan.cpuCounter.format);
  a.push(...landlockOptions(plan.landlock));
  // The program's argv, environment and rlimits are not here: they arrive as the job on the
  // bundle pipe (encodeJob), so that a sandbox can start before its request is known.
  return a;
}

/** The Landlock policy as the helper's options (native/landlock.c landlock_parse_option): PID
 *  1's, and a zygote's request for the runtime it injects (zygote.ts). */
export function landlockOptions(landlock: LandlockPlan): string[] {
  const a = ['--landlock', landlock.mode];
  for (const p of landlock.readOnly) a.push('--ro', p);
  for (const p of landlock.readExec) a.push('--rx', p);
  for (const p of landlock.devices) a.push('--dev', p);
  for (const p of landlock.readWrite) a.push('--rw', p);
  // An environment build with network: TCP connects to these ports only (no listening, no
  // other port of whatever the user-mode stack can reach).
  for (const port of landlock.connectTcp ?? []) a.push('--connect-tcp', String(port));
  return a;
}

/** Where a zygote's view has the zygote's extension module (only a zygote's, never a sandbox's). */
export const ZYGOTE_DIR_IN_VIEW = '/.cylo/zygote';

/** The fds a zygote gets (zygote.ts; native/zygote/zygote.c serve()): injection requests in,
 *  replies out, the cgroup root and the host's /proc (directory fds: its view has neither), the
 *  seccomp program (read to its end). */
export const ZYGOTE_FDS = { request: 3, reply: 4, cgroupRoot: 5, seccomp: 6, proc: 7 } as const;

/** argv for bubblewrap starting a Python zygote (docs/security.md "The Python zygote"): run as
 *  root, it sees the same read-only trees, masks and symlinks as a sandbox of `plan` (so the
 *  interpreter initialises exactly as it would in one), and keeps what it needs to inject a
 *  runtime into a prepared sandbox. It never runs a program: what it forks drops everything in
 *  the sandbox before returning to Python (native/zygote/zygote.c). `argv`: the pre-start job's. */
export function buildZygoteArgv(plan: SandboxPlan, zygoteDir: string, argv: readonly string[], env: Readonly<Record<string, string>>): string[] {
  const a: string[] = [plan.bwrapPath];
  a.push(
    // No --unshare-user: root of the initial user namespace, which alone may setns() into a
    // sandbox's user namespace and take fds from its PID 1 (pidfd_getfd).
    // No --unshare-pid: it must see the host's pids of the sandboxes it injects into.
    '--unshare-net', // no network: it never needs one
    '--unshare-ipc', // no host SysV IPC or POSIX message queues
    '--unshare-uts', // the sandbox's hostname, as the interpreter may read it while it starts
    '--hostname', 'cylo',
    '--die-with-parent', // ends with the instance (or its spawner) even on SIGKILL
    '--new-session', // setsid(): no terminal to inject keystrokes into
    // Only the capabilities an injection uses; every other one is dropped (bubblewrap started
    // by root keeps them all otherwise: review finding Z2):
    '--cap-drop', 'ALL',
    '--cap-add', 'CAP_SYS_ADMIN', // setns() into the sandbox's namespaces
    '--cap-add', 'CAP_SYS_CHROOT', // setns() into a mount namespace; chroot to PID 1's root
    '--cap-add', 'CAP_SYS_PTRACE', // pidfd_getfd() and /proc/PID/root of PID 1 (non-dumpable, another uid)
    '--cap-add', 'CAP_SETUID', // setgroups()/setresuid() of the injected runtime
    '--cap-add', 'CAP_SETGID',
    // ...and CAP_SETPCAP, which the zygote uses once, to empty its bounding, ambient and
    // inheritable sets of everything else, and then drops (native/zygote/zygote.c).
    '--cap-add', 'CAP_SETPCAP',
  );
  pushBinds(a, plan, false);
  for (const link of plan.symlinks) a.push('--symlink', link.target, link.link);
  a.push(
    '--ro-bind', zygoteDir, ZYGOTE_DIR_IN_VIEW, // the extension module, in this view only
    // No /proc: the interpreter, which runs as root here, must find nothing a program wrote
    // whatever path a variable names (/proc/PID/root/... of a running sandbox would be one); the
    // injecting code reaches the host's /proc through a directory fd only (ZYGOTE_FDS.proc).
    '--dev', '/dev', // the same minimal /dev as a sandbox (its /dev/fd links lead nowhere without /proc)
    '--tmpfs', WORKSPACE, // an empty working directory, as a prepared sandbox's before its files
    '--symlink', WORKSPACE_TMP, '/tmp',
    '--chdir', WORKSPACE,
    '--remount-ro', '/dev',
    '--remount-ro', '/', // nothing of the view is writable but the empty workspace
  );
  // The job's variables, set by bubblewrap just before it execs the interpreter: bubblewrap
  // itself, on the host as root, is started with an empty environment (a variable such as
  // LD_PRELOAD must never reach it).
  for (const [k, v] of Object.entries(env)) a.push('--setenv', k, v);
  a.push('--', ...argv);
  return a;
}

/** True when the sandbox of `plan` streams something back on FD_EMIT (an artifact or outputs). */
export function emitsBack(plan: SandboxPlan): boolean {
  return (plan.emit !== undefined && plan.emit.paths.length > 0) || (plan.outputs !== undefined && plan.outputs.patterns.length > 0);
}
