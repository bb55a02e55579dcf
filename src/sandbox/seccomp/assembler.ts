// A tiny classic-BPF assembler with forward-only symbolic jumps, for the seccomp program.
// Hand-written on purpose: no maintained npm library generates seccomp BPF without a native
// addon (libseccomp bindings), and the program is small enough to assemble and audit directly.
// Output: `struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }`, 8 bytes each, little-endian.

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
export const OFF_NR = 0;
export const OFF_ARCH = 4;
export const argLow = (i: number): number => 16 + 8 * i;

// --- a tiny assembler with forward-only symbolic jumps ---------------------------------------

/** A jump target: a label name, or 'next' for the following instruction. */
type Target = string;

type Insn =
  | { kind: 'stmt'; code: number; k: number }
  | { kind: 'cond'; code: number; k: number; jt: Target; jf: Target }
  | { kind: 'ja'; to: Target }
  | { kind: 'label'; name: string };

export class Assembler {
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
