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
//   jge #lo, next, enosys ; jge #hi+1, next, allow   (per range of allowed numbers, ascending:
//                                                    the allow list, allow-list.ts)
//   ja  enosys                   ; default deny: every other number, known or not
//   <argument-inspecting handlers for clone, ioctl, personality, socket(pair), send flags>
//   allow:  ret ALLOW
//   eperm:  ret ERRNO|EPERM
//   enosys: ret ERRNO|ENOSYS
//
// Only the low 32 bits of any argument are inspected; every argument we look at is an `int` or
// `unsigned int` in the kernel, which ignores the upper half (comparing all 64 bits would let a
// caller bypass the check by setting high bits; CVE-2019-10063 in flatpak).
import { Assembler, OFF_ARCH, OFF_NR, argLow } from './assembler.js';
import { ALLOWED_PERSONALITIES, ALLOWED_SOCKET_FAMILIES, CLONE_NS_FLAGS, DENIED_SYSCALLS, ENOSYS, EPERM, MSG_FASTOPEN, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, TIOCLINUX, TIOCSTI, X32_SYSCALL_BIT } from './policy.js';
import { AUDIT_ARCH, hostArch, SYSCALL_NUMBERS, type SeccompArch } from './syscall-numbers.js';
import { ALLOWED_SYSCALLS, CHECKED_SYSCALLS } from './allow-list.js';

/** The allowed numbers of `arch` as ascending [lo, hi] ranges. Numbers dispatched before the
 *  ranges (argument checks, deny rules) count as allowed here: they never reach the ranges, and
 *  merging across them keeps the program short. */
export function allowRanges(arch: SeccompArch): Array<[number, number]> {
  const numbers = SYSCALL_NUMBERS[arch];
  const dispatched = new Set([...CHECKED_SYSCALLS, ...DENIED_SYSCALLS.map((r) => r.syscall)]);
  const pass = [...new Set(Object.entries(numbers).filter(([name]) => ALLOWED_SYSCALLS.has(name) || dispatched.has(name)).map(([, n]) => n))].sort((x, y) => x - y);
  const allowedNumbers = new Set(Object.entries(numbers).filter(([name]) => ALLOWED_SYSCALLS.has(name)).map(([, n]) => n));
  const ranges: Array<[number, number]> = [];
  for (const n of pass) {
    const last = ranges[ranges.length - 1];
    if (last !== undefined && last[1] === n - 1) last[1] = n;
    else ranges.push([n, n]);
  }
  // A range made only of dispatched numbers allows nothing: drop it.
  return ranges.filter(([lo, hi]) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i).some((n) => allowedNumbers.has(n)));
}

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
    ['sendto', 'h_send_flags3'],
    ['sendmmsg', 'h_send_flags3'],
    ['sendmsg', 'h_send_flags2'],
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
  // 4. Default deny: only numbers of the allow list (allow-list.ts) pass; the numbers above
  //    (argument checks, deny rules) were dispatched already, so they may sit inside a range.
  for (const [lo, hi] of allowRanges(arch)) {
    a.jge(lo, 'next', 'enosys');
    a.jge(hi + 1, 'next', 'allow');
  }
  a.ja('enosys');

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

  // socket/socketpair(domain, ...): only the families of ALLOWED_SOCKET_FAMILIES. AF_VSOCK talks
  // to the hypervisor/host; AF_ALG, AF_PACKET and the rarely used families are kernel code a
  // socket() call can load on demand (the kernel reads domain as an int: the low 32 bits).
  a.label('h_socket');
  a.load(argLow(0));
  for (const f of ALLOWED_SOCKET_FAMILIES) a.jeq(f.family, 'allow');
  a.ja('eperm');

  // sendto(fd, buf, len, flags, ...), sendmmsg(fd, vec, n, flags), sendmsg(fd, msg, flags):
  // MSG_FASTOPEN connects without the LSM connect hook, past Landlock's TCP port rules (the
  // kernel reads flags as an unsigned int: the low 32 bits).
  a.label('h_send_flags3');
  a.load(argLow(3));
  a.jset(MSG_FASTOPEN, 'eperm', 'allow');
  a.label('h_send_flags2');
  a.load(argLow(2));
  a.jset(MSG_FASTOPEN, 'eperm', 'allow');

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
