// Reading and writing cgroup files, and the waits both layouts share: killing until a cgroup is
// empty, waiting for exiting tasks to stop counting, removing busy directories.
import { existsSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CyloError } from '../../errors.js';
import type { CgroupLimits } from '../cgroups.js';

export const layerError = (message: string, cause?: unknown): CyloError =>
  new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', `cgroups: ${message}`, { layer: 'cgroups', cause });

/** Sleeps synchronously (process exit handlers cannot await). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** rmdir, retried for up to ~100 ms while the last processes finish dying (synchronous). */
export function rmdirSyncRetry(dir: string): void {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EBUSY') return;
      sleepSync(1);
    }
  }
}

/** Whether two limits are the same values (a cgroup whose files already hold A needs no write
 *  for B). */
export function sameLimits(a: CgroupLimits | undefined, b: CgroupLimits): boolean {
  return a !== undefined && a.memoryBytes === b.memoryBytes && a.pids === b.pids && a.cpuShare === b.cpuShare;
}

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

export function readNumber(path: string): number {
  const n = Number(readText(path).trim());
  return Number.isFinite(n) ? n : 0;
}

export function write(path: string, value: string): void {
  writeFileSync(path, value);
}

/** The `max` counter of a pids.events file: how often a fork or clone was refused at pids.max
 *  (v1 and v2 alike); 0 when the file is missing (a kernel without it reports no pids limit). */
export function pidsMaxEvents(eventsFile: string): number {
  try {
    return Number(/^max (\d+)$/m.exec(readText(eventsFile))?.[1] ?? '0');
  } catch {
    return 0;
  }
}

export function readPids(procsFile: string): number[] {
  try {
    return readText(procsFile)
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

export function killPids(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export async function killUntilEmpty(procsFile: string, killFile?: string, stop?: AbortSignal): Promise<boolean> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (stop?.aborted === true) return false;
    const pids = readPids(procsFile);
    if (pids.length === 0) return true;
    if (killFile !== undefined && existsSync(killFile)) write(killFile, '1');
    else killPids(pids);
    await sleep(attempt < 20 ? 1 : 10);
  }
  return readPids(procsFile).length === 0;
}

export async function rmdirRetry(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY') throw error;
      await sleep(attempt < 20 ? 1 : 10);
    }
  }
  throw new Error(`cgroup ${dir} stayed busy`);
}

export interface ProcCgroupLine {
  controllers: string[];
  path: string;
}

export function parseProcSelfCgroup(): ProcCgroupLine[] {
  return readText('/proc/self/cgroup')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [, controllers = '', ...rest] = line.split(':');
      return { controllers: controllers === '' ? [] : controllers.split(','), path: rest.join(':') };
    });
}

/** Mount points of v1 hierarchies, keyed by controller, from /proc/self/mountinfo. */
export function v1Mounts(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readText('/proc/self/mountinfo').split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const [fstype, , superOpts = ''] = right.split(' ');
    if (fstype !== 'cgroup') continue;
    const mountPoint = left.split(' ')[4];
    if (mountPoint === undefined) continue;
    for (const opt of superOpts.split(',')) out.set(opt, mountPoint);
  }
  return out;
}
