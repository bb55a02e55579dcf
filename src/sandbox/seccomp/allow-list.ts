// The seccomp allow list (default deny): the syscalls sandboxed programs may make, by family,
// each family with the reason it is safe inside cylo's sandbox. A syscall that is neither here
// nor in the deny table (policy.ts, which keeps its own errno: EPERM) is answered ENOSYS, the
// errno a kernel without it gives, so that programs fall back gracefully: that covers every
// syscall the kernel adds later (until someone reviews it here) and every old one nobody needs.
// NOT_ALLOWED lists the known syscalls left out, with why: every syscall of the tables
// (syscall-table.ts) is in exactly one of the three lists (test/unit/seccomp-allow-list.test.ts).
//
// Measured, not guessed: `strace -f` over the language, output, isolation, limits, interactive
// and test-case suites (every runtime and compiler cylo ships: Python, Node, Bash, C, C++, Go,
// Rust, Java, TypeScript, ...) recorded what the sandboxed processes call; every syscall seen is
// allowed or (for the ones refused on purpose) in the deny table: 125 distinct syscalls (on
// 2026-11-30, x86_64, kernel 6.18), of which the filter refused only the hostile probes' ones
// and clone3 (ENOSYS by design). 291 are allowed, 5 pass an argument check. Several families are broader than what was seen (e.g. all the *at variants of a file
// call), so that ordinary programs beyond the test suites keep working.

export interface SyscallFamily {
  family: string;
  /** Why these are safe to allow in the sandbox (what confines them). */
  why: string;
  syscalls: readonly string[];
}

export const ALLOWED_FAMILIES: readonly SyscallFamily[] = [
  {
    family: 'memory',
    why: "the process's own address space; the memory cgroup bounds it",
    syscalls: ['brk', 'mmap', 'munmap', 'mprotect', 'mremap', 'msync', 'mincore', 'madvise', 'mlock', 'munlock', 'mlockall', 'munlockall', 'mlock2', 'remap_file_pages', 'membarrier', 'memfd_create', 'pkey_mprotect', 'pkey_alloc', 'pkey_free', 'mbind', 'set_mempolicy', 'get_mempolicy', 'set_mempolicy_home_node', 'mseal', 'map_shadow_stack'],
  },
  {
    family: 'files',
    why: "paths resolve in the sandbox's own mount namespace (read-only toolchains, a private tmpfs workspace), under Landlock's rules and the sandbox uid's permissions; no capability is left to bypass them",
    syscalls: [
      'read', 'write', 'open', 'openat', 'openat2', 'creat', 'close', 'close_range', 'stat', 'fstat', 'lstat', 'newfstatat', 'statx', 'lseek', 'pread64', 'pwrite64', 'readv', 'writev', 'preadv', 'pwritev', 'preadv2', 'pwritev2',
      'access', 'faccessat', 'faccessat2', 'dup', 'dup2', 'dup3', 'fcntl', 'flock', 'fsync', 'fdatasync', 'sync', 'syncfs', 'sync_file_range', 'truncate', 'ftruncate', 'fallocate', 'readahead', 'fadvise64',
      'getdents', 'getdents64', 'getcwd', 'chdir', 'fchdir', 'rename', 'renameat', 'renameat2', 'mkdir', 'mkdirat', 'rmdir', 'link', 'linkat', 'unlink', 'unlinkat', 'symlink', 'symlinkat', 'readlink', 'readlinkat',
      'chmod', 'fchmod', 'fchmodat', 'fchmodat2', 'chown', 'fchown', 'lchown', 'fchownat', 'umask', 'utime', 'utimes', 'utimensat', 'futimesat', 'mknod', 'mknodat', 'statfs', 'fstatfs',
      'sendfile', 'splice', 'tee', 'vmsplice', 'copy_file_range',
      'setxattr', 'lsetxattr', 'fsetxattr', 'getxattr', 'lgetxattr', 'fgetxattr', 'listxattr', 'llistxattr', 'flistxattr', 'removexattr', 'lremovexattr', 'fremovexattr', 'setxattrat', 'getxattrat', 'listxattrat', 'removexattrat',
      'inotify_init', 'inotify_init1', 'inotify_add_watch', 'inotify_rm_watch',
    ],
  },
  {
    family: 'pipes and event waiting',
    why: "descriptors the process already holds; nothing outside the sandbox is reachable through them",
    syscalls: ['pipe', 'pipe2', 'poll', 'ppoll', 'select', 'pselect6', 'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_wait', 'epoll_pwait', 'epoll_pwait2', 'eventfd', 'eventfd2', 'signalfd', 'signalfd4', 'timerfd_create', 'timerfd_settime', 'timerfd_gettime', 'io_setup', 'io_destroy', 'io_getevents', 'io_pgetevents', 'io_submit', 'io_cancel'],
  },
  {
    family: 'processes and threads',
    why: "the sandbox's own PID namespace (it sees and signals only its own processes), the pids cgroup bounds how many; clone's namespace flags are refused by an argument check (policy.ts), clone3 by ENOSYS",
    syscalls: [
      'fork', 'vfork', 'execve', 'execveat', 'exit', 'exit_group', 'wait4', 'waitid', 'kill', 'tkill', 'tgkill', 'getpid', 'getppid', 'gettid', 'set_tid_address', 'set_robust_list', 'get_robust_list',
      'futex', 'futex_waitv', 'futex_wake', 'futex_wait', 'futex_requeue', 'rseq', 'restart_syscall', 'arch_prctl', 'prctl', 'set_thread_area', 'get_thread_area',
      'sched_yield', 'sched_setaffinity', 'sched_getaffinity', 'sched_setparam', 'sched_getparam', 'sched_setscheduler', 'sched_getscheduler', 'sched_get_priority_max', 'sched_get_priority_min', 'sched_rr_get_interval', 'sched_setattr', 'sched_getattr',
      'getpriority', 'setpriority', 'ioprio_get', 'ioprio_set', 'getcpu', 'setpgid', 'getpgid', 'getpgrp', 'setsid', 'getsid', 'pidfd_open', 'pidfd_send_signal',
    ],
  },
  {
    family: 'self-restriction',
    why: 'these only ever take rights away from the caller (a program may sandbox itself further: Chromium, systemd services do)',
    syscalls: ['seccomp', 'landlock_create_ruleset', 'landlock_add_rule', 'landlock_restrict_self', 'capget', 'capset'],
  },
  {
    family: 'signals',
    why: "the process's own signal state; delivery is limited to the sandbox's PID namespace",
    syscalls: ['rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'rt_sigpending', 'rt_sigtimedwait', 'rt_sigqueueinfo', 'rt_tgsigqueueinfo', 'rt_sigsuspend', 'sigaltstack', 'pause', 'alarm'],
  },
  {
    family: 'time',
    why: 'reading clocks and sleeping; setting the clock is denied (policy.ts)',
    syscalls: ['nanosleep', 'clock_nanosleep', 'clock_gettime', 'clock_getres', 'gettimeofday', 'time', 'times', 'getitimer', 'setitimer', 'timer_create', 'timer_settime', 'timer_gettime', 'timer_getoverrun', 'timer_delete'],
  },
  {
    family: 'identity',
    why: 'the sandbox uid has no capabilities: the set* calls can only move between its own ids (else EPERM)',
    syscalls: ['getuid', 'getgid', 'geteuid', 'getegid', 'getresuid', 'getresgid', 'getgroups', 'setuid', 'setgid', 'setreuid', 'setregid', 'setresuid', 'setresgid', 'setgroups', 'setfsuid', 'setfsgid'],
  },
  {
    family: 'resources and system information',
    why: 'rlimits can only be lowered without capabilities; uname and sysinfo describe the sandbox (its own UTS namespace)',
    syscalls: ['getrlimit', 'setrlimit', 'prlimit64', 'getrusage', 'sysinfo', 'uname', 'getrandom'],
  },
  {
    family: 'sockets',
    why: "the sandbox's network namespace has only loopback, Landlock denies TCP where the kernel supports it; socket()/socketpair() create only AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK sockets, by an argument check (ALLOWED_SOCKET_FAMILIES in policy.ts: AF_VSOCK, AF_ALG, AF_PACKET and every other family EPERM)",
    syscalls: ['connect', 'accept', 'accept4', 'recvfrom', 'recvmsg', 'recvmmsg', 'shutdown', 'bind', 'listen', 'getsockname', 'getpeername', 'setsockopt', 'getsockopt'],
  },
  {
    family: 'System V IPC and POSIX message queues',
    why: "the sandbox's own IPC namespace: nothing is shared with the host or other sandboxes",
    syscalls: ['shmget', 'shmat', 'shmctl', 'shmdt', 'semget', 'semop', 'semctl', 'semtimedop', 'msgget', 'msgsnd', 'msgrcv', 'msgctl', 'mq_open', 'mq_unlink', 'mq_timedsend', 'mq_timedreceive', 'mq_notify', 'mq_getsetattr'],
  },
];

/** Syscalls with an argument check (program.ts handlers): allowed only when it passes. */
export const CHECKED_SYSCALLS: readonly string[] = ['clone', 'ioctl', 'personality', 'socket', 'socketpair', 'sendto', 'sendmsg', 'sendmmsg'];

/** Known syscalls left out of the allow list (ENOSYS), with why. */
export const NOT_ALLOWED: ReadonlyArray<{ why: string; syscalls: readonly string[] }> = [
  { why: 'obsolete or never implemented (ENOSYS on every kernel cylo supports)', syscalls: ['sysfs', 'ustat', '_sysctl', 'nfsservctl', 'getpmsg', 'putpmsg', 'afs_syscall', 'tuxcall', 'security', 'vserver', 'epoll_ctl_old', 'epoll_wait_old'] },
  { why: '16-bit segments in the LDT: a long CVE history (e.g. CVE-2015-5157), needed only by DOS/Win16 emulation', syscalls: ['modify_ldt'] },
  { why: 'act on another process (its memory placement, memory, descriptors): the ptrace family', syscalls: ['migrate_pages', 'move_pages', 'process_madvise', 'process_mrelease', 'pidfd_getfd'] },
  { why: 'page-cache residency of files shared with the host (/usr): a side channel (cachestat is the "page cache attack" primitive)', syscalls: ['cachestat'] },
  { why: 'mount-tree and LSM introspection: nothing a program needs, information about the host', syscalls: ['statmount', 'listmount', 'lsm_get_self_attr', 'lsm_set_self_attr', 'lsm_list_modules'] },
  { why: 'host names: the UTS namespace is private, but no program needs to set them', syscalls: ['sethostname', 'setdomainname'] },
  { why: 'fanotify needs fanotify_init, which is denied', syscalls: ['fanotify_mark'] },
  { why: 'new (Linux 6.17), not reviewed yet', syscalls: ['file_getattr', 'file_setattr'] },
  { why: 'arm64 tables only: 32-bit time64 variants a 64-bit process never calls', syscalls: ['clock_gettime64', 'clock_settime64', 'clock_adjtime64', 'clock_getres_time64', 'clock_nanosleep_time64', 'timer_gettime64', 'timer_settime64', 'timerfd_gettime64', 'timerfd_settime64', 'utimensat_time64', 'pselect6_time64', 'ppoll_time64', 'io_pgetevents_time64', 'recvmmsg_time64', 'mq_timedsend_time64', 'mq_timedreceive_time64', 'semtimedop_time64', 'rt_sigtimedwait_time64', 'futex_time64', 'sched_rr_get_interval_time64'] },
];

/** Every allowed syscall name (without the argument-checked ones). */
export const ALLOWED_SYSCALLS: ReadonlySet<string> = new Set(ALLOWED_FAMILIES.flatMap((f) => f.syscalls));
