// Syscall numbers per architecture, and the audit architecture each one is checked against (a foreign ABI is killed before any number is read).
import { AUDIT_ARCH_AARCH64, AUDIT_ARCH_X86_64 } from './policy.js';
import { SYSCALL_TABLE } from './syscall-table.js';

export type SeccompArch = 'x64' | 'arm64';

/** Numbers of every syscall of each architecture: the generated tables (syscall-table.ts,
 *  from the kernel's UAPI headers; aarch64 has no legacy uselib/iopl/ioperm/create_module/
 *  get_kernel_syms/query_module, and rules for syscalls an architecture lacks are skipped). */
export const SYSCALL_NUMBERS: Readonly<Record<SeccompArch, Readonly<Record<string, number>>>> = SYSCALL_TABLE;

export const AUDIT_ARCH: Record<SeccompArch, number> = {
  x64: AUDIT_ARCH_X86_64,
  arm64: AUDIT_ARCH_AARCH64,
};

/** Maps `process.arch` to a supported seccomp target. */
export function hostArch(): SeccompArch {
  const arch = process.arch;
  if (arch === 'x64' || arch === 'arm64') return arch;
  throw new Error(`seccomp: unsupported architecture '${arch}' (supported: x64, arm64)`);
}
