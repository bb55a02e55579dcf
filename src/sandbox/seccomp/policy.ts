// What the seccomp filter refuses, and why: the return actions, the constants its argument
// checks compare against, and the deny rules, each with the attack it stops. The numbers of
// these syscalls per architecture are in syscall-numbers.ts; the program that enforces them
// is assembled in program.ts.

export interface SeccompRule {
  syscall: string;
  action: 'errno' | 'enosys';
  why: string;
}

// --- seccomp return values and ABI constants -------------------------------------------------

export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;

export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_AARCH64 = 0xc00000b7;

export const EPERM = 1;
export const ENOSYS = 38;

/** x86_64 syscall numbers with this bit set belong to the x32 ABI. */
export const X32_SYSCALL_BIT = 0x40000000;

/** Namespace-creating clone flags; clone() with any of these set is refused. */
export const CLONE_NS_FLAGS =
  0x00020000 | // CLONE_NEWNS
  0x02000000 | // CLONE_NEWCGROUP
  0x04000000 | // CLONE_NEWUTS
  0x08000000 | // CLONE_NEWIPC
  0x10000000 | // CLONE_NEWUSER
  0x20000000 | // CLONE_NEWPID
  0x40000000 | // CLONE_NEWNET
  0x00000080; //  CLONE_NEWTIME (only meaningful via clone3/unshare; a no-op bit for clone())

/** sendto/sendmsg/sendmmsg flag: connect and send in one call (TCP Fast Open). The implicit
 *  connect skips the LSM connect hook, so Landlock's TCP port rules (ABI 4) never see it: a build
 *  with network could reach any TCP port through slirp, a program any port of its own loopback
 *  (confirmed on Linux 6.18 by the eighth-session review, finding N2). Refused (EPERM). */
export const MSG_FASTOPEN = 0x20000000;

export const TIOCSTI = 0x5412;
export const TIOCLINUX = 0x541c;
export const AF_VSOCK = 40;

/** The socket families socket()/socketpair() may create; every other one is refused (EPERM),
 *  as AF_VSOCK always was. An allow list, like the syscalls': a family nobody listed is kernel
 *  code nobody reviewed, often loaded on demand by the very socket() call (net-pf-N modules). */
export const ALLOWED_SOCKET_FAMILIES: ReadonlyArray<{ family: number; name: string; why: string }> = [
  { family: 1, name: 'AF_UNIX', why: "local sockets: the sandbox's own (abstract ones are scoped by Landlock, pathname ones live in its filesystem)" },
  { family: 2, name: 'AF_INET', why: "IPv4 on the sandbox's own loopback (its network namespace has nothing else)" },
  { family: 10, name: 'AF_INET6', why: "IPv6 on the sandbox's own loopback" },
  { family: 16, name: 'AF_NETLINK', why: "the network namespace's own routing tables and interfaces (getifaddrs, if_nameindex, Go's net.Interfaces)" },
];
// Refused, among others: AF_VSOCK (40, the hypervisor and host: the reason this rule exists),
// AF_ALG (38, kernel crypto: a long CVE history), AF_PACKET (17), AF_KEY (15), AF_BLUETOOTH,
// AF_RDS, AF_TIPC, AF_CAN, AF_XDP, AF_QIPCRTR, AF_SMC (modules a socket() call would load).

/** personality() values allowed (the same set as Docker's default profile). */
export const ALLOWED_PERSONALITIES: readonly number[] = [
  0x0, // PER_LINUX
  0x8, // PER_LINUX32
  0x20000, // UNAME26
  0x20008, // UNAME26 | PER_LINUX32
  0xffffffff, // query the current persona
];

// --- the deny table --------------------------------------------------------------------------

export const DENIED_SYSCALLS: readonly SeccompRule[] = [
  // Kernel keyring: shared kernel state, long CVE history, can leak host credentials.
  { syscall: 'keyctl', action: 'errno', why: 'kernel keyring access' },
  { syscall: 'add_key', action: 'errno', why: 'kernel keyring access' },
  { syscall: 'request_key', action: 'errno', why: 'kernel keyring access' },
  // eBPF and perf: large kernel attack surface, kernel memory/info leaks.
  { syscall: 'bpf', action: 'errno', why: 'eBPF verifier/JIT attack surface' },
  { syscall: 'perf_event_open', action: 'errno', why: 'perf side channels and kernel bugs' },
  // Inspecting or writing other processes' memory.
  { syscall: 'ptrace', action: 'errno', why: 'tracing escapes seccomp, reads other processes' },
  { syscall: 'process_vm_readv', action: 'errno', why: 'reads another process memory' },
  { syscall: 'process_vm_writev', action: 'errno', why: 'writes another process memory' },
  { syscall: 'kcmp', action: 'errno', why: 'probes other processes kernel objects' },
  // Mount table changes (old and new mount API).
  { syscall: 'mount', action: 'errno', why: 'remounting to escape the filesystem view' },
  { syscall: 'umount2', action: 'errno', why: 'unmounting to reveal hidden paths' },
  { syscall: 'pivot_root', action: 'errno', why: 'changing the root mount' },
  { syscall: 'chroot', action: 'errno', why: 'chroot escapes (defense in depth)' },
  { syscall: 'fsopen', action: 'errno', why: 'new mount API' },
  { syscall: 'fsconfig', action: 'errno', why: 'new mount API' },
  { syscall: 'fsmount', action: 'errno', why: 'new mount API' },
  { syscall: 'fspick', action: 'errno', why: 'new mount API' },
  { syscall: 'move_mount', action: 'errno', why: 'new mount API' },
  { syscall: 'open_tree', action: 'errno', why: 'new mount API, clones mount trees' },
  { syscall: 'mount_setattr', action: 'errno', why: 'changing mount flags (e.g. dropping ro)' },
  { syscall: 'open_tree_attr', action: 'errno', why: 'new mount API (open_tree with mount attributes)' },
  // New namespaces: user namespaces expose kernel code normally reserved to root.
  { syscall: 'unshare', action: 'errno', why: 'new namespaces (user-ns kernel attack surface)' },
  { syscall: 'setns', action: 'errno', why: 'joining other namespaces' },
  // clone3 passes flags in a struct seccomp cannot read: make libc fall back to clone().
  { syscall: 'clone3', action: 'enosys', why: 'flags unreadable; forces fallback to clone' },
  // Kernel exploitation primitives.
  { syscall: 'userfaultfd', action: 'errno', why: 'race-widening primitive for kernel exploits' },
  { syscall: 'io_uring_setup', action: 'errno', why: 'io_uring bypasses seccomp, many CVEs' },
  { syscall: 'io_uring_enter', action: 'errno', why: 'io_uring bypasses seccomp, many CVEs' },
  { syscall: 'io_uring_register', action: 'errno', why: 'io_uring bypasses seccomp, many CVEs' },
  { syscall: 'memfd_secret', action: 'errno', why: 'memory hidden from the kernel/inspection' },
  // Loading code into the kernel or replacing it.
  { syscall: 'kexec_load', action: 'errno', why: 'loads a new kernel' },
  { syscall: 'kexec_file_load', action: 'errno', why: 'loads a new kernel' },
  { syscall: 'init_module', action: 'errno', why: 'loads kernel modules' },
  { syscall: 'finit_module', action: 'errno', why: 'loads kernel modules' },
  { syscall: 'delete_module', action: 'errno', why: 'unloads kernel modules' },
  { syscall: 'create_module', action: 'errno', why: 'legacy module loading' },
  { syscall: 'get_kernel_syms', action: 'errno', why: 'legacy kernel symbol leak' },
  { syscall: 'query_module', action: 'errno', why: 'legacy module info leak' },
  { syscall: 'uselib', action: 'errno', why: 'legacy loader, old CVEs' },
  // Whole-machine state.
  { syscall: 'reboot', action: 'errno', why: 'reboots the host' },
  { syscall: 'swapon', action: 'errno', why: 'host swap configuration' },
  { syscall: 'swapoff', action: 'errno', why: 'host swap configuration' },
  { syscall: 'acct', action: 'errno', why: 'host process accounting' },
  { syscall: 'quotactl', action: 'errno', why: 'host filesystem quotas' },
  { syscall: 'quotactl_fd', action: 'errno', why: 'host filesystem quotas' },
  { syscall: 'syslog', action: 'errno', why: 'kernel log leaks addresses' },
  { syscall: 'lookup_dcookie', action: 'errno', why: 'kernel path lookup leak' },
  { syscall: 'vhangup', action: 'errno', why: 'hangs up the controlling terminal' },
  { syscall: 'fanotify_init', action: 'errno', why: 'filesystem-wide event monitoring' },
  // Raw hardware I/O ports (x64 only).
  { syscall: 'iopl', action: 'errno', why: 'raw I/O port access' },
  { syscall: 'ioperm', action: 'errno', why: 'raw I/O port access' },
  // File handles bypass path-based confinement (the "shocker" container escape).
  { syscall: 'open_by_handle_at', action: 'errno', why: 'opens files outside the mount view' },
  { syscall: 'name_to_handle_at', action: 'errno', why: 'file handle forging (shocker)' },
  // Host clock.
  { syscall: 'settimeofday', action: 'errno', why: 'sets the host clock' },
  { syscall: 'clock_settime', action: 'errno', why: 'sets the host clock' },
  { syscall: 'clock_adjtime', action: 'errno', why: 'adjusts the host clock' },
  { syscall: 'adjtimex', action: 'errno', why: 'adjusts the host clock' },
];

// --- syscall numbers -------------------------------------------------------------------------
