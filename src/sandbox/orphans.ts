// Finds and removes what a crashed (SIGKILLed) cylo left behind: execution cgroups whose owning
// service process is gone (their names carry its pid and start time: x-<pid>-<start>-<n>, so a
// recycled pid is not mistaken for the owner), with every process inside them. Processes that
// run as a sandbox uid outside every cylo cgroup are reported, never killed: they may belong to
// another cylo instance with other cgroup bases. Mount namespaces and tmpfs workspaces need no
// cleanup: the kernel drops them with their last process. Names: cgroup-name.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { ownerOf, processStartTime } from './cgroup-name.js';
import type { CgroupDriver } from './cgroups.js';

export interface OrphanReport {
  /** Execution cgroups of dead cylo processes (or unparseable names). */
  cgroups: string[];
  /** Host pids running as a sandbox uid but not inside a live execution's cgroup. */
  processes: Array<{ pid: number; uid: number }>;
}

function alive(pid: number): boolean {
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
  const cgroups = driver.list().filter((name) => {
    const owner = ownerOf(name);
    if (owner === undefined) return false; // not a name cylo makes: not ours to remove
    return owner.pid !== process.pid && !ownerAlive(owner);
  });
  const inLive = new Set<number>();
  for (const name of driver.list()) {
    if (cgroups.includes(name)) continue;
    for (const pid of driver.open(name).pids()) inLive.add(pid);
  }
  const processes = sandboxUidProcesses(uidBase, uidCount).filter((p) => !inLive.has(p.pid));
  return { cgroups, processes };
}

/** Kills and removes every orphan cgroup with its processes; returns what was found. */
export async function cleanOrphans(driver: CgroupDriver, uidBase: number, uidCount: number): Promise<OrphanReport> {
  const report = findOrphans(driver, uidBase, uidCount);
  for (const name of report.cgroups) await driver.open(name).remove().catch(() => {});
  return report;
}
