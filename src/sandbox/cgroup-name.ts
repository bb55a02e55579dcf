// The names of execution cgroups: x-<service pid>-<service start time>-<n>-r<uid base>.<uid count>. Made
// here, read here. The uid range names the instance's range lock (range-lock.ts): whether the
// owner lives is asked of that lock, which holds across PID namespaces; pid and start time tell
// this process's own cgroups apart (a recycled pid has another start time); see orphans.ts.
// Names without the range (older cylo versions) are judged by pid and start time alone.
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

/** A new execution cgroup name, owned by this process and its uid range. */
export function cgroupName(range: { base: number; count: number }): string {
  counter += 1;
  return `x-${process.pid}-${startTime}-${counter}-r${range.base}.${range.count}`;
}

/** Whether pid and start time name this process. */
export const isSelf = (owner: { pid: number; start: string }): boolean => owner.pid === process.pid && owner.start === startTime;

/** The owner (pid, start time and uid range) of a cgroup, from its name; undefined for names cylo does
 *  not make (never ours to remove). */
export function ownerOf(name: string): { pid: number; start: string; range?: { base: number; count: number } } | undefined {
  const m = /^x-(\d+)-(\d+)-\d+(?:-r(\d+)\.(\d+))?$/.exec(name);
  if (m === null) return undefined;
  return { pid: Number(m[1]), start: m[2] as string, ...(m[3] === undefined ? {} : { range: { base: Number(m[3]), count: Number(m[4]) } }) };
}
