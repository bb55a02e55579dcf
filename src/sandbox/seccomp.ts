// Seccomp-BPF filter generator for the bubblewrap sandbox.
//
// Produces a classic BPF program (an array of `struct sock_filter { u16 code; u8 jt; u8 jf;
// u32 k; }`, 8 bytes each, little-endian) that bubblewrap installs with `--seccomp FD`: bwrap
// reads the raw instruction bytes from the fd and loads them with prctl(PR_SET_SECCOMP) just
// before exec'ing the sandboxed command.
//
// This is hand-written on purpose: no maintained npm library generates seccomp BPF without a
// native addon (libseccomp bindings), and the program we need is small enough to assemble and
// audit directly. test/unit/seccomp.test.ts runs the output through a cBPF interpreter.
//
// Program shape (all jumps forward, all jump offsets <= 255, as classic BPF requires):
//
//   ld  [4]                      ; seccomp_data.arch
//   jeq #AUDIT_ARCH, next, kill  ; foreign ABI (i386 int 0x80, AArch32) -> kill the process
//   ld  [0]                      ; seccomp_data.nr
//   jge #0x40000000 -> enosys    ; x64 only: reject the x32 ABI
//   jeq #nr -> handler / eperm / enosys   (one per rule, linear dispatch)
//   ja  allow
//   <argument-inspecting handlers for clone, ioctl, personality, socket(pair)>
//   allow:  ret ALLOW
//   eperm:  ret ERRNO|EPERM
//   enosys: ret ERRNO|ENOSYS
//
// Only the low 32 bits of any argument are inspected; every argument we look at is an `int` or
// `unsigned int` in the kernel, which ignores the upper half (comparing all 64 bits would let a
// caller bypass the check by setting high bits; CVE-2019-10063 in flatpak).

export type SeccompArch = 'x64' | 'arm64';

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

export const TIOCSTI = 0x5412;
export const TIOCLINUX = 0x541c;
export const AF_VSOCK = 40;

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

/**
 * Numbers of every syscall the program references. x64 values are from
 * asm/unistd_64.h; arm64 values are from asm-generic/unistd.h (aarch64 has no legacy
 * uselib/iopl/ioperm/create_module/get_kernel_syms/query_module; rules for those are skipped).
 */
export const SYSCALL_NUMBERS: Record<SeccompArch, Record<string, number>> = {
  x64: {
    ioctl: 16,
    socket: 41,
    socketpair: 53,
    clone: 56,
    ptrace: 101,
    syslog: 103,
    uselib: 134,
    personality: 135,
    vhangup: 153,
    pivot_root: 155,
    adjtimex: 159,
    chroot: 161,
    acct: 163,
    settimeofday: 164,
    mount: 165,
    umount2: 166,
    swapon: 167,
    swapoff: 168,
    reboot: 169,
    iopl: 172,
    ioperm: 173,
    create_module: 174,
    init_module: 175,
    delete_module: 176,
    get_kernel_syms: 177,
    query_module: 178,
    quotactl: 179,
    lookup_dcookie: 212,
    clock_settime: 227,
    kexec_load: 246,
    add_key: 248,
    request_key: 249,
    keyctl: 250,
    unshare: 272,
    perf_event_open: 298,
    fanotify_init: 300,
    name_to_handle_at: 303,
    open_by_handle_at: 304,
    clock_adjtime: 305,
    setns: 308,
    process_vm_readv: 310,
    process_vm_writev: 311,
    kcmp: 312,
    finit_module: 313,
    kexec_file_load: 320,
    bpf: 321,
    userfaultfd: 323,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    open_tree: 428,
    move_mount: 429,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
    fspick: 433,
    clone3: 435,
    mount_setattr: 442,
    quotactl_fd: 443,
    memfd_secret: 447,
  },
  arm64: {
    lookup_dcookie: 18,
    ioctl: 29,
    umount2: 39,
    mount: 40,
    pivot_root: 41,
    chroot: 51,
    vhangup: 58,
    quotactl: 60,
    acct: 89,
    personality: 92,
    unshare: 97,
    kexec_load: 104,
    init_module: 105,
    delete_module: 106,
    clock_settime: 112,
    syslog: 116,
    ptrace: 117,
    reboot: 142,
    settimeofday: 170,
    adjtimex: 171,
    socket: 198,
    socketpair: 199,
    add_key: 217,
    request_key: 218,
    keyctl: 219,
    clone: 220,
    swapon: 224,
    swapoff: 225,
    perf_event_open: 241,
    fanotify_init: 262,
    name_to_handle_at: 264,
    open_by_handle_at: 265,
    clock_adjtime: 266,
    setns: 268,
    process_vm_readv: 270,
    process_vm_writev: 271,
    kcmp: 272,
    finit_module: 273,
    bpf: 280,
    userfaultfd: 282,
    kexec_file_load: 294,
    io_uring_setup: 425,
    io_uring_enter: 426,
    io_uring_register: 427,
    open_tree: 428,
    move_mount: 429,
    fsopen: 430,
    fsconfig: 431,
    fsmount: 432,
    fspick: 433,
    clone3: 435,
    mount_setattr: 442,
    quotactl_fd: 443,
    memfd_secret: 447,
  },
};

const AUDIT_ARCH: Record<SeccompArch, number> = {
  x64: AUDIT_ARCH_X86_64,
  arm64: AUDIT_ARCH_AARCH64,
};

/** Maps `process.arch` to a supported seccomp target. */
export function hostArch(): SeccompArch {
  const arch = process.arch;
  if (arch === 'x64' || arch === 'arm64') return arch;
  throw new Error(`seccomp: unsupported architecture '${arch}' (supported: x64, arm64)`);
}

// --- classic BPF opcodes ---------------------------------------------------------------------

const BPF_LD = 0x00;
const BPF_JMP = 0x05;
const BPF_RET = 0x06;
const BPF_W = 0x00;
const BPF_ABS = 0x20;
const BPF_JA = 0x00;
const BPF_JEQ = 0x10;
const BPF_JGE = 0x30;
const BPF_JSET = 0x40;
const BPF_K = 0x00;

// seccomp_data offsets (little-endian: the low half of args[i] is at 16 + 8*i).
const OFF_NR = 0;
const OFF_ARCH = 4;
const argLow = (i: number): number => 16 + 8 * i;

// --- a tiny assembler with forward-only symbolic jumps ---------------------------------------

/** A jump target: a label name, or 'next' for the following instruction. */
type Target = string;

type Insn =
  | { kind: 'stmt'; code: number; k: number }
  | { kind: 'cond'; code: number; k: number; jt: Target; jf: Target }
  | { kind: 'ja'; to: Target }
  | { kind: 'label'; name: string };

class Assembler {
  private readonly insns: Insn[] = [];

  load(offset: number): void {
    this.insns.push({ kind: 'stmt', code: BPF_LD | BPF_W | BPF_ABS, k: offset });
  }
  ret(k: number): void {
    this.insns.push({ kind: 'stmt', code: BPF_RET | BPF_K, k });
  }
  jeq(k: number, jt: Target, jf: Target = 'next'): void {
    this.insns.push({ kind: 'cond', code: BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf });
  }
  jge(k: number, jt: Target, jf: Target = 'next'): void {
    this.insns.push({ kind: 'cond', code: BPF_JMP | BPF_JGE | BPF_K, k, jt, jf });
  }
  jset(k: number, jt: Target, jf: Target = 'next'): void {
    this.insns.push({ kind: 'cond', code: BPF_JMP | BPF_JSET | BPF_K, k, jt, jf });
  }
  ja(to: Target): void {
    this.insns.push({ kind: 'ja', to });
  }
  label(name: string): void {
    this.insns.push({ kind: 'label', name });
  }

  /** Resolves labels into relative offsets and serialises the program. */
  assemble(): Buffer {
    const positions = new Map<string, number>();
    let pc = 0;
    for (const insn of this.insns) {
      if (insn.kind === 'label') {
        if (positions.has(insn.name)) throw new Error(`seccomp: duplicate label ${insn.name}`);
        positions.set(insn.name, pc);
      } else {
        pc++;
      }
    }
    const count = pc;
    if (count > 4096) throw new Error(`seccomp: program too long (${count} instructions)`);

    const offset = (from: number, target: Target, max: number): number => {
      if (target === 'next') return 0;
      const to = positions.get(target);
      if (to === undefined) throw new Error(`seccomp: unknown label ${target}`);
      const off = to - (from + 1);
      if (off < 0) throw new Error(`seccomp: backward jump to ${target}`);
      if (off > max) throw new Error(`seccomp: jump to ${target} too far (${off})`);
      return off;
    };

    const buf = Buffer.alloc(count * 8);
    pc = 0;
    for (const insn of this.insns) {
      if (insn.kind === 'label') continue;
      const at = pc * 8;
      if (insn.kind === 'stmt') {
        buf.writeUInt16LE(insn.code, at);
        buf.writeUInt32LE(insn.k >>> 0, at + 4);
      } else if (insn.kind === 'cond') {
        buf.writeUInt16LE(insn.code, at);
        buf.writeUInt8(offset(pc, insn.jt, 255), at + 2);
        buf.writeUInt8(offset(pc, insn.jf, 255), at + 3);
        buf.writeUInt32LE(insn.k >>> 0, at + 4);
      } else {
        buf.writeUInt16LE(BPF_JMP | BPF_JA, at);
        buf.writeUInt32LE(offset(pc, insn.to, 0xffffffff), at + 4);
      }
      pc++;
    }
    return buf;
  }
}

// --- the program -----------------------------------------------------------------------------

/** Builds the serialised seccomp filter for `arch`. */
export function buildSeccompProgram(arch: SeccompArch = hostArch()): Buffer {
  const numbers = SYSCALL_NUMBERS[arch];
  const nr = (name: string): number | undefined => numbers[name];
  const a = new Assembler();

  // 1. Wrong ABI (i386 int 0x80 on x64, AArch32 on arm64): kill, never evaluate numbers.
  a.load(OFF_ARCH);
  a.jeq(AUDIT_ARCH[arch], 'next', 'kill');

  // 2. Syscall number; on x64 refuse the x32 ABI outright.
  a.load(OFF_NR);
  if (arch === 'x64') a.jge(X32_SYSCALL_BIT, 'enosys');

  // 3. Dispatch: argument-inspecting syscalls go to their handlers.
  const handlers: [string, string][] = [
    ['clone', 'h_clone'],
    ['ioctl', 'h_ioctl'],
    ['personality', 'h_personality'],
    ['socket', 'h_socket'],
    ['socketpair', 'h_socket'],
  ];
  for (const [name, label] of handlers) {
    const n = nr(name);
    if (n === undefined) throw new Error(`seccomp: no ${arch} number for ${name}`);
    a.jeq(n, label);
  }
  // Unconditional denials; syscalls this architecture does not have are skipped.
  for (const rule of DENIED_SYSCALLS) {
    const n = nr(rule.syscall);
    if (n === undefined) continue;
    a.jeq(n, rule.action === 'enosys' ? 'enosys' : 'eperm');
  }
  a.ja('allow');

  // clone(flags, ...): refuse any namespace-creating flag.
  a.label('h_clone');
  a.load(argLow(0));
  a.jset(CLONE_NS_FLAGS, 'eperm', 'allow');

  // ioctl(fd, cmd, ...): TIOCSTI fakes terminal input, TIOCLINUX can too (and more).
  a.label('h_ioctl');
  a.load(argLow(1));
  a.jeq(TIOCSTI, 'eperm');
  a.jeq(TIOCLINUX, 'eperm', 'allow');

  // personality(persona): flags like ADDR_NO_RANDOMIZE or READ_IMPLIES_EXEC weaken ASLR/NX.
  a.label('h_personality');
  a.load(argLow(0));
  for (const p of ALLOWED_PERSONALITIES) a.jeq(p, 'allow');
  a.ja('eperm');

  // socket/socketpair(domain, ...): AF_VSOCK talks to the hypervisor/host.
  a.label('h_socket');
  a.load(argLow(0));
  a.jeq(AF_VSOCK, 'eperm', 'allow');

  // Shared returns.
  a.label('allow');
  a.ret(SECCOMP_RET_ALLOW);
  a.label('eperm');
  a.ret(SECCOMP_RET_ERRNO | EPERM);
  a.label('enosys');
  a.ret(SECCOMP_RET_ERRNO | ENOSYS);
  a.label('kill');
  a.ret(SECCOMP_RET_KILL_PROCESS);

  return a.assemble();
}
