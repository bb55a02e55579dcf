// Finds and removes what a crashed (SIGKILLed) cylo left behind: execution cgroups whose owning
// service process is gone (their names carry its pid: x-<pid>-<n>), and processes running as a
// sandbox uid outside any live execution. Mount namespaces and tmpfs workspaces need no cleanup:
// the kernel drops them with their last process.
import { readdirSync, readFileSync } from 'node:fs';
import type { CgroupDriver } from '../sandbox/cgroups.js';

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

/** The pid that created a cgroup, from its name, or undefined for foreign names. */
export function ownerOf(name: string): number | undefined {
  const m = /^x-(\d+)-\d+$/.exec(name);
  return m === null ? undefined : Number(m[1]);
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
 * What is orphaned now. `liveCgroups` are the names this process is using right now (they are
 * never orphans); cgroups of other live cylo processes are left alone.
 */
export function findOrphans(driver: CgroupDriver, liveCgroups: ReadonlySet<string>, uidBase: number, uidCount: number): OrphanReport {
  const cgroups = driver.list().filter((name) => {
    if (liveCgroups.has(name)) return false;
    const owner = ownerOf(name);
    if (owner === undefined) return true;
    return owner === process.pid ? true : !alive(owner);
  });
  const inLive = new Set<number>();
  for (const name of driver.list()) {
    if (cgroups.includes(name)) continue;
    for (const pid of driver.open(name).pids()) inLive.add(pid);
  }
  const processes = sandboxUidProcesses(uidBase, uidCount).filter((p) => !inLive.has(p.pid));
  return { cgroups, processes };
}

/** Kills and removes every orphan; returns what was cleaned. */
export async function cleanOrphans(driver: CgroupDriver, liveCgroups: ReadonlySet<string>, uidBase: number, uidCount: number): Promise<OrphanReport> {
  const report = findOrphans(driver, liveCgroups, uidBase, uidCount);
  for (const name of report.cgroups) await driver.open(name).remove().catch(() => {});
  for (const p of report.processes) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  return report;
}
