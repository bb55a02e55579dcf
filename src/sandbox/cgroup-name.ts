// The names of execution cgroups: x-<service pid>-<service start time>-<n>. Made here, read
// here: a restarted service tells its own cgroups from a crashed one's by the owner in the name
// (a recycled pid has another start time); see orphans.ts.
import { readFileSync } from 'node:fs';

/** The start time of a process (clock ticks since boot, /proc/PID/stat field 22), or undefined. */
export function processStartTime(pid: number | 'self'): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: split after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

let counter = 0;
const startTime = processStartTime('self') ?? '0';

/** A new execution cgroup name, owned by this process. */
export function cgroupName(): string {
  counter += 1;
  return `x-${process.pid}-${startTime}-${counter}`;
}

/** The owner (pid and start time) of a cgroup, from its name; undefined for names cylo does
 *  not make (never ours to remove). */
export function ownerOf(name: string): { pid: number; start: string } | undefined {
  const m = /^x-(\d+)-(\d+)-\d+$/.exec(name);
  return m === null ? undefined : { pid: Number(m[1]), start: m[2] as string };
}
