// The microVM tests' shared pieces: when they can run (QEMU, the guest kernel and runtime image),
// the accelerator they run under, the instance they use, and what a VM leaves on the host (QEMU
// processes, VM directories) to check that nothing is left after an end.
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCylo, type Cylo } from '../../src/index.js';
import { hardwareKvm } from '../../src/microvm/accelerator.js';
import { TEST_UID_BASE } from './cylo.js';
import { sandboxSkipReason } from './host.js';
import { readProcess } from './processes.js';
import { MiB } from './units.js';

const GUEST = process.env.CYLO_GUEST_DIR ?? '/usr/local/lib/cylo/guest';
export function microvmSkipReason(): string | undefined {
  const sandbox = sandboxSkipReason();
  if (sandbox !== undefined) return sandbox;
  if (!existsSync('/usr/bin/qemu-system-x86_64')) return 'qemu-system-x86_64 is not installed (scripts/setup.sh installs it)';
  if (!existsSync(join(GUEST, 'kernel/vmlinuz'))) return `no guest kernel in ${GUEST} (scripts/guest/kernel.sh)`;
  if (!existsSync(join(GUEST, 'runtimes.ext4'))) return `no runtime image in ${GUEST} (scripts/guest/runtime-image.sh)`;
  return undefined;
}
export const skip = microvmSkipReason();
export const accel = hardwareKvm() === null ? 'software emulation (TCG)' : 'KVM';
// Above the shared test instance's range (TEST_UID_BASE + 128 uids, used by the pre-flight).
export const UID_BASE = TEST_UID_BASE + 128;
export const LIMITS = { timeoutMs: 60_000, cpuTimeMs: 60_000, memoryBytes: 128 * MiB, pids: 32, outputBytes: 256 * 1024, workspaceBytes: 16 * MiB, compileTimeoutMs: 120_000, compileMemoryBytes: 256 * MiB };

export function microCylo(extra: Parameters<typeof createCylo>[0] = {}): Cylo {
  return createCylo({ microvmAllowTcg: true, microvmMemoryMiB: 384, microvmPool: 1, concurrency: 1, defaultLimits: LIMITS, uidBase: UID_BASE, uidCount: 16, isolation: 'microvm', ...extra });
}

export const guestDirs = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('cylo-guest-'));
/** Guest directories that existed before this file ran (another process's, or a killed run's
 *  leftovers): not this process's. Test files run one at a time (scripts/run-tests.js). */
export const foreignGuestDirs = new Set(guestDirs());

/** The VM directories (socket, per VM) of this process's instances. */
export function vmDirs(): string[] {
  const dirs: string[] = [];
  for (const d of guestDirs().filter((n) => !foreignGuestDirs.has(n))) {
    try {
      dirs.push(...readdirSync(join(tmpdir(), d)).filter((n) => n.startsWith('vm-')));
    } catch {
      // another process's, or gone
    }
  }
  return dirs;
}

/** Monitor processes (QEMU by default, or `binary`, e.g. firecracker) descended from this
 *  process (through the outer helper and bubblewrap). */
export function ourQemus(binary = 'qemu-system-x86_64'): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const p = readProcess(Number(entry));
    if (p === undefined || !(p.cmdline[0] ?? '').endsWith(binary)) continue;
    let pid = p.ppid;
    for (let depth = 0; depth < 8 && pid > 1; depth++) {
      if (pid === process.pid) found.push(p.pid);
      pid = readProcess(pid)?.ppid ?? 0;
    }
  }
  return found;
}

/** The namespace of a process, e.g. "user:[4026531837]". */
export function readlinkNs(pid: number, ns: string): string {
  return readlinkSync(`/proc/${pid}/ns/${ns}`);
}
