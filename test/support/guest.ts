// The cgroup-v2 guest from the host's side (test/guest/cgroup-v2.test.ts): whether this host can
// boot it at all, and what the guest's TAP output says.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { rootSkipReason } from './host.js';

export const GUEST_KERNEL = `${process.env['CYLO_GUEST_DIR'] ?? '/usr/local/lib/cylo/guest'}/kernel/vmlinuz`;
export const VIRTIOFSD = process.env['CYLO_VIRTIOFSD'] ?? '/usr/lib/qemu/virtiofsd';

/** Why the guest cannot be booted here at all (no QEMU, no virtiofsd, no guest kernel, not
 *  root), or undefined. Anything past this point that fails is a failure, not a skip. */
export function guestSkipReason(): string | undefined {
  const root = rootSkipReason();
  if (root !== undefined) return `${root}: virtiofsd shares the host tree`;
  if (spawnSync('qemu-system-x86_64', ['--version']).status !== 0) return 'qemu-system-x86_64 cannot run here (apt-get install qemu-system-x86)';
  if (!existsSync(VIRTIOFSD)) return `${VIRTIOFSD} is missing (apt-get install qemu-system-common)`;
  if (!existsSync(GUEST_KERNEL)) return `no guest kernel at ${GUEST_KERNEL} (scripts/guest/kernel.sh, run by scripts/setup.sh)`;
  return undefined;
}

/** The counts of a node:test TAP run, and what must not pass unnoticed. */
export interface TapSummary {
  tests: number;
  pass: number;
  fail: number;
  skipped: number;
  /** `not ok` lines (any depth), trimmed. */
  failures: string[];
  /** Skips that mean the guest could not run what it was booted for (no sandbox, no cgroups,
   *  a failed pre-flight): in the guest these are failures. */
  badSkips: string[];
}

/** Skip reasons that mean the layer under test was missing, not that a test does not apply. */
const BAD_SKIP = /# SKIP .*(cannot run sandboxes|cgroups unavailable|pre-flight failed|needs root)/;

/** Reads the summary lines (`# tests N` ...) and the failures of node:test's TAP output; the
 *  counts are undefined when the output has no summary (the run never finished). */
export function summariseTap(text: string): TapSummary | undefined {
  const count = (name: string): number | undefined => {
    const m = new RegExp(`^# ${name} (\\d+)$`, 'm').exec(text);
    return m === null ? undefined : Number(m[1]);
  };
  const [tests, pass, fail, skipped] = [count('tests'), count('pass'), count('fail'), count('skipped')];
  if (tests === undefined || pass === undefined || fail === undefined || skipped === undefined) return undefined;
  const lines = text.split('\n');
  return {
    tests,
    pass,
    fail,
    skipped,
    failures: lines.filter((l) => /^\s*not ok \d+/.test(l)).map((l) => l.trim()),
    badSkips: lines.filter((l) => /^\s*ok \d+/.test(l) && BAD_SKIP.test(l)).map((l) => l.trim()),
  };
}
