// cgroups: memory limit without swap, pids limit, CPU-time accounting, peak memory, OOM
// detection and killing a whole execution. Drives both layouts:
//   - pure cgroup v2 (one unified tree, controllers enabled through cgroup.subtree_control),
//   - cgroup v1 / hybrid (one tree per controller; this machine's layout).
// Every execution gets its own cgroup, created under the service's own cgroup (read from
// /proc/self/cgroup) in a `cylo` subtree, and removed when the execution ends.
// Hand-written: no maintained Node library drives cgroups (v1 and v2) without a daemon.
// This file: the interfaces and the layout detection; cgroups/v1.ts and cgroups/v2.ts drive
// each layout, cgroups/fs.ts holds the file access and waits they share.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { layerError } from './cgroups/fs.js';
import { V1Driver } from './cgroups/v1.js';
import { V2Driver } from './cgroups/v2.js';

export interface CgroupLimits {
  memoryBytes: number;
  pids: number;
  /** CPUs the cgroup may use per wall-clock second (cgroup v2 cpu.max: quota = share x period),
   *  e.g. 0.5 = half of one CPU, 2 = two CPUs' worth; undefined: no cap. v2 only (see v1.ts). */
  cpuShare?: number | undefined;
}

export interface CgroupStats {
  cpuMs: number;
  memoryPeakBytes: number;
  oomKilled: boolean;
  /** A fork or clone was refused at pids.max since the last reset (pids.events `max` grew). */
  pidsLimitHit: boolean;
}

export interface ExecutionCgroup {
  readonly name: string;
  /** The cgroup.procs files the sandbox's first process must join (one per v1 hierarchy). */
  readonly procsFiles: string[];
  /** CPU time used so far, in milliseconds (every process of the cgroup, setup included). */
  cpuMs(): number;
  /** The file behind cpuMs() and its format (v1 cpuacct.usage: ns; v2 cpu.stat: usage_usec),
   *  which the sandbox's PID 1 reads around the program's exec (native/cpu-counter.c). */
  readonly cpuCounter: { path: string; format: 'v1' | 'v2' };
  stats(): CgroupStats;
  /** Pids currently in the cgroup. */
  pids(): number[];
  /** SIGKILLs every process in the cgroup until it is empty (or the attempt budget runs out).
   *  `stop` ends the sweep early: a reused cgroup must never be swept once its next use began. */
  killAll(stop?: AbortSignal): Promise<boolean>;
  /** Removes the cgroup directories; kills first if anything is still inside. */
  remove(): Promise<void>;
  /** At process exit: removes the cgroup's directories once they are empty, waiting up to
   *  ~100 ms for dying processes (synchronous, best effort; anything left is an orphan for the
   *  next start or `cylo doctor --clean`). */
  removeIfEmptySync(): void;
  /** Sets the limits for the next use (a slot's cgroup is reused with different limits). */
  configure(limits: CgroupLimits): void;
  /** Makes a used cgroup ready for its next use: empty, counters reset. Throws when it cannot. */
  reset(): Promise<void>;
}

export interface CgroupDriver {
  readonly version: 'v1' | 'v2';
  /** Human-readable location of the cylo subtree(s). */
  readonly baseDirs: string[];
  create(name: string, limits: CgroupLimits): ExecutionCgroup;
  /** Names of execution cgroups that currently exist under cylo's subtree. */
  list(): string[];
  /** Opens an existing execution cgroup (for orphan cleanup). */
  open(name: string): ExecutionCgroup;
}

/** Detects the host's cgroup layout and prepares cylo's subtree. Throws a CyloError naming the
 *  `cgroups` layer and the fix when that is impossible. */
export function openCgroups(root = '/sys/fs/cgroup'): CgroupDriver {
  if (process.platform !== 'linux') throw layerError('cgroups need Linux');
  if (existsSync(join(root, 'cgroup.controllers'))) return new V2Driver(root);
  if (!existsSync(root)) throw layerError(`${root} is not mounted; mount cgroup2 there (mount -t cgroup2 none ${root})`);
  return new V1Driver();
}
