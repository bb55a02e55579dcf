// Finds and removes what a crashed (SIGKILLed) cylo left behind: execution cgroups whose owning
// instance is gone, with every process inside them. Their names carry the owner's uid range
// (x-<pid>-<start>-<n>-r<base>.<count>): the owner lives while that range's lock is held (range-lock.ts),
// a kernel fact that holds across PID namespaces, where a pid read from the name would be looked
// up in the wrong /proc. A cgroup named after a range this process holds is its own (same pid
// and start time) or a dead previous holder's (the lock is exclusive). Names without a range
// (older cylo) are judged by pid and start time in our /proc. Processes that
// run as a sandbox uid outside every cylo cgroup are reported, never killed: they may belong to
// another cylo instance with other cgroup bases. Mount namespaces and tmpfs workspaces need no
// cleanup: the kernel drops them with their last process. Names: cgroup-name.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { isSelf, ownerOf, processStartTime } from './cgroup-name.js';
import type { CgroupDriver } from './cgroups.js';
import { rangeHeld } from './range-lock.js';
import { holdsRange } from './uid-range.js';

export interface OrphanReport {
  /** Execution cgroups of dead cylo processes (or unparseable names). */
  cgroups: string[];
  /** Execution cgroups of other live cylo instances (their work, not leftovers: left alone). */
  others: string[];
  /** Host pids running as a sandbox uid but not inside a live execution's cgroup. */
  processes: Array<{ pid: number; uid: number }>;
}

/** True while a process with this pid exists (EPERM: it exists, as another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ownerAlive(owner: { pid: number; start: string }): boolean {
  return alive(owner.pid) && processStartTime(owner.pid) === owner.start;
}

/** Pids of processes whose real uid is within [uidBase, uidBase + uidCount). */
export function sandboxUidProcesses(uidBase: number, uidCount: number): Array<{ pid: number; uid: number }> {
  const out: Array<{ pid: number; uid: number }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${entry}/status`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? '-1');
    if (uid >= uidBase && uid < uidBase + uidCount) out.push({ pid: Number(entry), uid });
  }
  return out;
}

/**
 * What is orphaned now: cgroups whose owning cylo process is gone (this process's own slots and
 * other live cylo processes' cgroups are left alone), and processes running as a sandbox uid
 * outside every remaining cgroup.
 */
export function findOrphans(driver: CgroupDriver, uidBase: number, uidCount: number): OrphanReport {
  const cgroups: string[] = [];
  const others: string[] = [];
  const held = new Map<string, boolean>();
  const names = driver.list();
  for (const name of names) {
    const owner = ownerOf(name);
    if (owner === undefined) continue; // not a name cylo makes: not ours to remove
    const whose = ownership(owner, (r) => {
      const key = `${r.base}-${r.count}`;
      if (!held.has(key)) held.set(key, rangeHeld(r));
      return held.get(key) === true;
    });
    if (whose === 'dead') cgroups.push(name);
    else if (whose === 'other') others.push(name);
  }
  const inLive = new Set<number>();
  for (const name of names) {
    if (cgroups.includes(name)) continue;
    for (const pid of driver.open(name).pids()) inLive.add(pid);
  }
  const processes = sandboxUidProcesses(uidBase, uidCount).filter((p) => !inLive.has(p.pid));
  return { cgroups, others, processes };
}

/** Whose a cgroup is: this process's, another live instance's, or a dead one's. */
function ownership(owner: NonNullable<ReturnType<typeof ownerOf>>, lockHeld: (r: { base: number; count: number }) => boolean): 'self' | 'other' | 'dead' {
  if (isSelf(owner)) return 'self';
  if (owner.range === undefined) return owner.pid === process.pid || ownerAlive(owner) ? 'other' : 'dead';
  if (holdsRange(owner.range)) return 'dead'; // our range, another owner: the previous holder, gone
  return lockHeld(owner.range) ? 'other' : 'dead';
}

/** Kills and removes every orphan cgroup with its processes; returns what was found. */
export async function cleanOrphans(driver: CgroupDriver, uidBase: number, uidCount: number): Promise<OrphanReport> {
  const report = findOrphans(driver, uidBase, uidCount);
  for (const name of report.cgroups) await driver.open(name).remove().catch(() => {});
  return report;
}
