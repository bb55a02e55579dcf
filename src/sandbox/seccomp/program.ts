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
import { Assembler, OFF_ARCH, OFF_NR, argLow } from './assembler.js';
import { ALLOWED_PERSONALITIES, AF_VSOCK, CLONE_NS_FLAGS, DENIED_SYSCALLS, ENOSYS, EPERM, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, TIOCLINUX, TIOCSTI, X32_SYSCALL_BIT } from './policy.js';
import { AUDIT_ARCH, hostArch, SYSCALL_NUMBERS, type SeccompArch } from './syscall-numbers.js';

/** Builds the serialised seccomp filter for `arch`. One function on purpose (~70 lines): it
 *  reads top to bottom as the program listing in the header above, which is how it is audited. */
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
