// Unit tests for the seccomp-BPF generator: the generated program is checked the way the kernel
// checks it (opcodes, jump ranges, loads) and then run through a small classic-BPF interpreter
// against synthetic seccomp_data records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { AUDIT_ARCH_AARCH64, AUDIT_ARCH_X86_64, DENIED_SYSCALLS, ENOSYS, EPERM, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS } from '../../src/sandbox/seccomp/policy.js';
import { buildSeccompProgram } from '../../src/sandbox/seccomp/program.js';
import { ALLOWED_FAMILIES, ALLOWED_SYSCALLS, CHECKED_SYSCALLS, NOT_ALLOWED } from '../../src/sandbox/seccomp/allow-list.js';
import { SYSCALL_NUMBERS, hostArch, type SeccompArch } from '../../src/sandbox/seccomp/syscall-numbers.js';

// --- a classic BPF interpreter (the subset seccomp accepts) ----------------------------------

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const SECCOMP_DATA_SIZE = 64;

function decode(program: Buffer): Insn[] {
  if (program.length % 8 !== 0) throw new Error(`program length ${program.length} not a multiple of 8`);
  const insns: Insn[] = [];
  for (let at = 0; at < program.length; at += 8) {
    insns.push({
      code: program.readUInt16LE(at),
      jt: program.readUInt8(at + 2),
      jf: program.readUInt8(at + 3),
      k: program.readUInt32LE(at + 4),
    });
  }
  return insns;
}

const BPF_CLASS = (code: number): number => code & 0x07;
const LD_W_ABS = 0x20;
const ALU_AND_K = 0x54;
const JMP_JA = 0x05;
const JMP_JEQ_K = 0x15;
const JMP_JGT_K = 0x25;
const JMP_JGE_K = 0x35;
const JMP_JSET_K = 0x45;
const RET_K = 0x06;

/**
 * Static checks modelled on the kernel's bpf_check_classic + seccomp_check_filter: known
 * opcodes only, aligned in-bounds loads, every jump target inside the program, last instruction
 * a RET. With forward-only jumps, this means every path ends in a RET.
 */
function validate(insns: Insn[]): void {
  if (insns.length === 0 || insns.length > 4096) throw new Error(`bad length ${insns.length}`);
  insns.forEach((insn, pc) => {
    switch (insn.code) {
      case LD_W_ABS:
        if (insn.k % 4 !== 0 || insn.k >= SECCOMP_DATA_SIZE) throw new Error(`pc ${pc}: bad load offset ${insn.k}`);
        break;
      case ALU_AND_K:
      case RET_K:
        break;
      case JMP_JA:
        if (pc + 1 + insn.k >= insns.length) throw new Error(`pc ${pc}: ja out of range`);
        break;
      case JMP_JEQ_K:
      case JMP_JGT_K:
      case JMP_JGE_K:
      case JMP_JSET_K:
        if (pc + 1 + Math.max(insn.jt, insn.jf) >= insns.length) throw new Error(`pc ${pc}: jump out of range`);
        break;
      default:
        throw new Error(`pc ${pc}: unsupported opcode 0x${insn.code.toString(16)}`);
    }
  });
  const last = insns[insns.length - 1];
  if (last === undefined || BPF_CLASS(last.code) !== BPF_CLASS(RET_K)) throw new Error('last instruction is not RET');
}

/** Runs the program; throws if it falls off the end, jumps outside, or hits an unknown opcode. */
function run(insns: Insn[], data: Buffer): number {
  let a = 0;
  let pc = 0;
  for (let steps = 0; steps <= insns.length; steps++) {
    const insn = insns[pc];
    if (insn === undefined) throw new Error(`pc ${pc} outside the program`);
    pc++;
    switch (insn.code) {
      case LD_W_ABS:
        if (insn.k % 4 !== 0 || insn.k + 4 > data.length) throw new Error(`bad load offset ${insn.k}`);
        a = data.readUInt32LE(insn.k);
        break;
      case ALU_AND_K:
        a = (a & insn.k) >>> 0;
        break;
      case JMP_JA:
        pc += insn.k;
        break;
      case JMP_JEQ_K:
        pc += a === insn.k ? insn.jt : insn.jf;
        break;
      case JMP_JGT_K:
        pc += a > insn.k ? insn.jt : insn.jf;
        break;
      case JMP_JGE_K:
        pc += a >= insn.k ? insn.jt : insn.jf;
        break;
      case JMP_JSET_K:
        pc += (a & insn.k) >>> 0 !== 0 ? insn.jt : insn.jf;
        break;
      case RET_K:
        return insn.k;
      default:
        throw new Error(`unsupported opcode 0x${insn.code.toString(16)}`);
    }
  }
  throw new Error('program did not return (loop?)');
}

/** struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; } */
function seccompData(nr: number, arch: number, args: (number | bigint)[] = []): Buffer {
  const buf = Buffer.alloc(SECCOMP_DATA_SIZE);
  buf.writeUInt32LE(nr >>> 0, 0);
  buf.writeUInt32LE(arch >>> 0, 4);
  buf.writeBigUInt64LE(0x401000n, 8);
  args.forEach((arg, i) => buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(arg)), 16 + 8 * i));
  return buf;
}

const AUDIT: Record<SeccompArch, number> = { x64: AUDIT_ARCH_X86_64, arm64: AUDIT_ARCH_AARCH64 };
const ARCHES: SeccompArch[] = ['x64', 'arm64'];
const RET_EPERM = SECCOMP_RET_ERRNO | EPERM;
const RET_ENOSYS = SECCOMP_RET_ERRNO | ENOSYS;

// Syscalls the tests use that the program does not reference (kept out of SYSCALL_NUMBERS).
const COMMON_NUMBERS: Record<SeccompArch, Record<string, number>> = {
  x64: { read: 0, write: 1, mmap: 9, execve: 59, exit_group: 231, openat: 257 },
  arm64: { openat: 56, read: 63, write: 64, exit_group: 94, execve: 221, mmap: 222 },
};

function num(arch: SeccompArch, name: string): number {
  const n = SYSCALL_NUMBERS[arch][name] ?? COMMON_NUMBERS[arch][name];
  if (n === undefined) throw new Error(`no ${arch} number for ${name}`);
  return n;
}

const programs = new Map<SeccompArch, Insn[]>();
function program(arch: SeccompArch): Insn[] {
  let insns = programs.get(arch);
  if (insns === undefined) {
    insns = decode(buildSeccompProgram(arch));
    validate(insns);
    programs.set(arch, insns);
  }
  return insns;
}

function evaluate(arch: SeccompArch, name: string, args: (number | bigint)[] = []): number {
  return run(program(arch), seccompData(num(arch, name), AUDIT[arch], args));
}

const hex = (n: number): string => `0x${n.toString(16)}`;

// --- structure --------------------------------------------------------------------------------

test('program is well formed: size, jump targets, RET at the end', () => {
  for (const arch of ARCHES) {
    const buf = buildSeccompProgram(arch);
    assert.equal(buf.length % 8, 0, `${arch}: length multiple of 8`);
    const insns = decode(buf);
    assert.ok(insns.length < 4096, `${arch}: ${insns.length} instructions`);
    validate(insns); // throws on out-of-range jumps, unknown opcodes, missing final RET
  }
});

test('hostArch maps process.arch or names the unsupported arch', () => {
  if (process.arch === 'x64' || process.arch === 'arm64') {
    assert.equal(hostArch(), process.arch);
    assert.deepEqual(buildSeccompProgram(), buildSeccompProgram(process.arch));
  } else {
    assert.throws(() => hostArch(), new RegExp(process.arch));
  }
});

test('table sanity: numbers unique per arch, every denied syscall has an x64 number', () => {
  for (const arch of ARCHES) {
    const seen = new Map<number, string>();
    for (const [name, n] of Object.entries(SYSCALL_NUMBERS[arch])) {
      assert.ok(!seen.has(n), `${arch}: ${name} and ${seen.get(n)} share number ${n}`);
      seen.set(n, name);
    }
  }
  for (const rule of DENIED_SYSCALLS) {
    assert.ok(rule.syscall in SYSCALL_NUMBERS.x64, `x64 number for ${rule.syscall}`);
    assert.ok(rule.why.length > 0 && rule.why.length <= 60, `short why for ${rule.syscall}`);
  }
  assert.equal(new Set(DENIED_SYSCALLS.map((r) => r.syscall)).size, DENIED_SYSCALLS.length, 'no duplicate rules');
});

// --- the deny table ---------------------------------------------------------------------------

test('every denied syscall returns its errno on x64 and arm64', () => {
  for (const arch of ARCHES) {
    const skipped: string[] = [];
    for (const rule of DENIED_SYSCALLS) {
      if (SYSCALL_NUMBERS[arch][rule.syscall] === undefined) {
        skipped.push(rule.syscall);
        continue;
      }
      const expected = rule.action === 'enosys' ? RET_ENOSYS : RET_EPERM;
      assert.equal(hex(evaluate(arch, rule.syscall)), hex(expected), `${arch} ${rule.syscall}`);
    }
    // Only the x86 legacy syscalls that aarch64 never had may be missing.
    const legacy = arch === 'arm64' ? ['create_module', 'get_kernel_syms', 'query_module', 'uselib', 'iopl', 'ioperm'] : [];
    assert.deepEqual(skipped.sort(), legacy.sort(), `${arch}: rules without a number`);
  }
  for (const required of ['keyctl', 'bpf', 'ptrace', 'mount', 'unshare', 'io_uring_setup', 'open_by_handle_at', 'memfd_secret']) {
    assert.ok(DENIED_SYSCALLS.some((r) => r.syscall === required), `${required} is denied`);
  }
});

test('ordinary syscalls are allowed', () => {
  for (const arch of ARCHES) {
    for (const name of ['read', 'write', 'openat', 'execve', 'mmap', 'exit_group']) {
      assert.equal(hex(evaluate(arch, name)), hex(SECCOMP_RET_ALLOW), `${arch} ${name}`);
    }
  }
});

test('wrong arch is killed, x32 ABI and clone3 get ENOSYS', () => {
  // i386 (int 0x80) on x64, AArch32 on arm64, and the two targets swapped.
  const foreign: [SeccompArch, number][] = [
    ['x64', 0x40000003], // AUDIT_ARCH_I386
    ['x64', AUDIT_ARCH_AARCH64],
    ['arm64', 0x40000028], // AUDIT_ARCH_ARM
    ['arm64', AUDIT_ARCH_X86_64],
  ];
  for (const [arch, audit] of foreign) {
    assert.equal(hex(run(program(arch), seccompData(num(arch, 'read'), audit))), hex(SECCOMP_RET_KILL_PROCESS), `${arch} under ${hex(audit)}`);
  }
  // x32 read is 0x40000000 | 0; x32 also has its own numbers like 0x40000000 | 512.
  for (const nr of [0x40000000, 0x40000000 | 1, 0x40000000 | 512, 0xffffffff]) {
    assert.equal(hex(run(program('x64'), seccompData(nr, AUDIT_ARCH_X86_64))), hex(RET_ENOSYS), `x32 ${hex(nr)}`);
  }
  for (const arch of ARCHES) assert.equal(hex(evaluate(arch, 'clone3')), hex(RET_ENOSYS), `${arch} clone3`);
});

// --- argument filters -------------------------------------------------------------------------

test('clone with namespace flags is refused, fork and pthread flags are allowed', () => {
  const nsFlags: Record<string, number> = {
    CLONE_NEWNS: 0x00020000,
    CLONE_NEWCGROUP: 0x02000000,
    CLONE_NEWUTS: 0x04000000,
    CLONE_NEWIPC: 0x08000000,
    CLONE_NEWUSER: 0x10000000,
    CLONE_NEWPID: 0x20000000,
    CLONE_NEWNET: 0x40000000,
    CLONE_NEWTIME: 0x00000080,
  };
  const SIGCHLD = 0x11;
  const PTHREAD = 0x3d0f00; // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
  for (const arch of ARCHES) {
    for (const [name, flag] of Object.entries(nsFlags)) {
      assert.equal(hex(evaluate(arch, 'clone', [flag | SIGCHLD])), hex(RET_EPERM), `${arch} clone ${name}`);
    }
    assert.equal(hex(evaluate(arch, 'clone', [0x10000000 | PTHREAD])), hex(RET_EPERM), `${arch} NEWUSER with thread flags`);
    assert.equal(hex(evaluate(arch, 'clone', [SIGCHLD])), hex(SECCOMP_RET_ALLOW), `${arch} fork-like clone`);
    assert.equal(hex(evaluate(arch, 'clone', [0x01200000 | SIGCHLD])), hex(SECCOMP_RET_ALLOW), `${arch} glibc fork()`);
    assert.equal(hex(evaluate(arch, 'clone', [PTHREAD])), hex(SECCOMP_RET_ALLOW), `${arch} pthread_create`);
    // Garbage in the upper half of args[0] is ignored by the kernel and by the filter.
    assert.equal(hex(evaluate(arch, 'clone', [0xffffffff00000000n | BigInt(SIGCHLD)])), hex(SECCOMP_RET_ALLOW));
  }
});

test('ioctl TIOCSTI and TIOCLINUX are refused, checking only the low 32 bits', () => {
  for (const arch of ARCHES) {
    assert.equal(hex(evaluate(arch, 'ioctl', [0, 0x5412])), hex(RET_EPERM), `${arch} TIOCSTI`);
    assert.equal(hex(evaluate(arch, 'ioctl', [0, 0x1_0000_5412n])), hex(RET_EPERM), `${arch} TIOCSTI with high bits`);
    assert.equal(hex(evaluate(arch, 'ioctl', [0, 0xffffffff_00005412n])), hex(RET_EPERM), `${arch} TIOCSTI with all high bits`);
    assert.equal(hex(evaluate(arch, 'ioctl', [0, 0x541c])), hex(RET_EPERM), `${arch} TIOCLINUX`);
    assert.equal(hex(evaluate(arch, 'ioctl', [0, 0x5401])), hex(SECCOMP_RET_ALLOW), `${arch} TCGETS`);
    assert.equal(hex(evaluate(arch, 'ioctl', [0x5412, 0x5401])), hex(SECCOMP_RET_ALLOW), `${arch} TIOCSTI value in fd`);
  }
});

test('personality allows only the Docker set', () => {
  for (const arch of ARCHES) {
    for (const ok of [0x0, 0x8, 0x20000, 0x20008, 0xffffffff]) {
      assert.equal(hex(evaluate(arch, 'personality', [ok])), hex(SECCOMP_RET_ALLOW), `${arch} personality ${hex(ok)}`);
    }
    for (const bad of [0x0040000 /* ADDR_NO_RANDOMIZE */, 0x0400000 /* READ_IMPLIES_EXEC */, 0x1]) {
      assert.equal(hex(evaluate(arch, 'personality', [bad])), hex(RET_EPERM), `${arch} personality ${hex(bad)}`);
    }
  }
});

test('sendto, sendmmsg and sendmsg refuse MSG_FASTOPEN (it skips Landlock\'s connect hook), allow other flags', () => {
  // proves: the send-flags handlers; without them MSG_FASTOPEN passes (finding N2)
  const FASTOPEN = 0x20000000;
  for (const arch of ARCHES) {
    for (const [call, at] of [['sendto', 3], ['sendmmsg', 3], ['sendmsg', 2]] as const) {
      const args = (flags: number | bigint): (number | bigint)[] => Array.from({ length: 6 }, (_, k) => (k === at ? flags : FASTOPEN));
      assert.equal(hex(evaluate(arch, call, args(FASTOPEN))), hex(RET_EPERM), `${arch} ${call} MSG_FASTOPEN`);
      assert.equal(hex(evaluate(arch, call, args(FASTOPEN | 0x4000 | 0x40))), hex(RET_EPERM), `${arch} ${call} MSG_FASTOPEN|MSG_NOSIGNAL|MSG_DONTWAIT`);
      assert.equal(hex(evaluate(arch, call, args(0x4000 | 0x40))), hex(SECCOMP_RET_ALLOW), `${arch} ${call} MSG_NOSIGNAL|MSG_DONTWAIT (the other arguments hold the bit)`);
      // the kernel reads flags as an unsigned int: a bit above 32 is not MSG_FASTOPEN
      assert.equal(hex(evaluate(arch, call, args(1n << 61n))), hex(SECCOMP_RET_ALLOW), `${arch} ${call} high bits only`);
    }
  }
});

test('socket and socketpair allow AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK only (AF_VSOCK, AF_ALG, AF_PACKET: EPERM)', () => {
  // proves: the family allow list of h_socket; without it AF_ALG (38) and AF_PACKET (17) pass
  for (const arch of ARCHES) {
    for (const call of ['socket', 'socketpair']) {
      for (const family of [1, 2, 10, 16]) assert.equal(hex(evaluate(arch, call, [family, 1, 0])), hex(SECCOMP_RET_ALLOW), `${arch} ${call}(${family})`);
      for (const family of [0, 3, 15, 17, 38, 40, 44, 0x100000028]) assert.equal(hex(evaluate(arch, call, [family, 1, 0])), hex(RET_EPERM), `${arch} ${call}(${family})`);
    }
  }
});

// --- numbers against the installed kernel headers ---------------------------------------------

function headerNumbers(path: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of readFileSync(path, 'utf8').matchAll(/^#define __NR_(\w+)\s+(\d+)\s*$/gm)) {
    if (m[1] !== undefined && m[2] !== undefined) out.set(m[1], Number(m[2]));
  }
  return out;
}

const X64_HEADER = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';
const GENERIC_HEADER = '/usr/include/asm-generic/unistd.h';

test('x64 numbers match asm/unistd_64.h', (t) => {
  if (!existsSync(X64_HEADER)) {
    t.skip(`${X64_HEADER} not installed (linux-libc-dev for amd64); cannot cross-check x64 numbers`);
    return;
  }
  const header = headerNumbers(X64_HEADER);
  // Numbers above the header's last one were added by hand to the generated table (later kernels).
  const last = Math.max(...[...header].filter(([k]) => k !== "syscalls").map(([, v]) => v));
  for (const [name, n] of [...Object.entries(SYSCALL_NUMBERS.x64), ...Object.entries(COMMON_NUMBERS.x64)]) {
    if (n > last && !header.has(name)) continue;
    assert.equal(n, header.get(name), `__NR_${name}`);
  }
});

test('arm64 numbers match asm-generic/unistd.h', (t) => {
  if (!existsSync(GENERIC_HEADER)) {
    t.skip(`${GENERIC_HEADER} not installed (linux-libc-dev); cannot cross-check arm64 numbers`);
    return;
  }
  const header = headerNumbers(GENERIC_HEADER);
  // mmap is __NR3264_mmap in the generic table; the regex only sees plain __NR_ names.
  // So are the other 64-bit names of __NR3264_ entries; numbers above the header's last one
  // were added by hand to the generated table (later kernels).
  const of3264 = new Set(['mmap', 'fcntl', 'statfs', 'fstatfs', 'truncate', 'ftruncate', 'lseek', 'sendfile', 'newfstatat', 'fstat', 'fadvise64']);
  const last = Math.max(...[...header].filter(([k]) => k !== "syscalls").map(([, v]) => v));
  const entries = [...Object.entries(SYSCALL_NUMBERS.arm64), ...Object.entries(COMMON_NUMBERS.arm64)].filter(([name, n]) => !of3264.has(name) && !(n > last && !header.has(name)));
  for (const [name, n] of entries) {
    assert.equal(n, header.get(name), `__NR_${name}`);
  }
  assert.equal(COMMON_NUMBERS.arm64.mmap, 222);
});

// --- the allow list (default deny) ------------------------------------------------------------

test('allow list: every syscall of both tables is allowed, argument-checked, denied or not allowed (with a reason): exactly one', () => {
  const denied = new Set(DENIED_SYSCALLS.map((r) => r.syscall));
  const notAllowed = new Set(NOT_ALLOWED.flatMap((n) => n.syscalls));
  const lists: Array<[string, ReadonlySet<string>]> = [['allowed', ALLOWED_SYSCALLS], ['checked', new Set(CHECKED_SYSCALLS)], ['denied', denied], ['not allowed', notAllowed]];
  for (const arch of ARCHES) {
    for (const name of Object.keys(SYSCALL_NUMBERS[arch])) {
      const homes = lists.filter(([, set]) => set.has(name)).map(([l]) => l);
      assert.equal(homes.length, 1, `${arch} ${name}: in ${homes.join(', ') || 'no list'}`);
    }
  }
  // No name in a list that neither table has (a typo would silently allow nothing).
  for (const [list, set] of lists) for (const name of set) assert.ok(ARCHES.some((a) => name in SYSCALL_NUMBERS[a]), `${list}: ${name} is not a syscall of x64 or arm64`);
  for (const f of ALLOWED_FAMILIES) assert.ok(f.why.length > 20, `family ${f.family} says why`);
});

test('allow list: every allowed syscall passes, every one left out and every unknown number gets ENOSYS (x64 and arm64)', () => {
  for (const arch of ARCHES) {
    const insns = decode(buildSeccompProgram(arch));
    const verdict = (nr: number): number => run(insns, seccompData(nr, AUDIT[arch]));
    for (const name of ALLOWED_SYSCALLS) {
      const nr = SYSCALL_NUMBERS[arch][name];
      if (nr !== undefined) assert.equal(verdict(nr), SECCOMP_RET_ALLOW, `${arch} ${name} (${nr}) allowed`);
    }
    for (const name of NOT_ALLOWED.flatMap((n) => n.syscalls)) {
      const nr = SYSCALL_NUMBERS[arch][name];
      if (nr !== undefined) assert.equal(verdict(nr), RET_ENOSYS, `${arch} ${name} (${nr}) not allowed`);
    }
    const known = new Set(Object.values(SYSCALL_NUMBERS[arch]));
    // Numbers no syscall has today, and the ones a future kernel adds: ENOSYS by default.
    for (let nr = 0; nr < 1024; nr++) if (!known.has(nr)) assert.equal(verdict(nr), RET_ENOSYS, `${arch} unknown number ${nr}`);
    for (const nr of [0x3fffffff, 0xffffffff]) assert.equal(verdict(nr), RET_ENOSYS, `${arch} number ${nr}`);
  }
});
