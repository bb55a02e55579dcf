// cgroup v2 layout: one unified tree, controllers enabled through cgroup.subtree_control.
import { existsSync, mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { CyloError } from '../../errors.js';
import type { CgroupDriver, CgroupLimits, CgroupStats, ExecutionCgroup } from '../cgroups.js';
import { killUntilEmpty, layerError, parseProcSelfCgroup, pidsMaxEvents, readNumber, readPids, readText, rmdirRetry, rmdirSyncRetry, sameLimits, write } from './fs.js';

// ------------------------------------------------------------------------------------------
// cgroup v2
// ------------------------------------------------------------------------------------------

const V2_CONTROLLERS = ['memory', 'pids', 'cpu'];
/** The leaf cylo moves its own process into when its cgroup must enable controllers. */
const SERVICE_LEAF = 'cylo-service';

/** The CFS period cylo uses, in microseconds (the kernel's default). */
export const CPU_PERIOD_US = 100_000;

/** cpu.max's content for a CPU share (CPUs per wall second): "<quota_us> <period_us>", or
 *  "max <period_us>" (no cap) when undefined. The kernel's smallest quota is 1 ms. */
export function cpuMax(share: number | undefined): string {
  if (share === undefined) return `max ${CPU_PERIOD_US}`;
  return `${Math.max(1000, Math.round(share * CPU_PERIOD_US))} ${CPU_PERIOD_US}`;
}

class V2Cgroup implements ExecutionCgroup {
  readonly procsFiles: string[];
  readonly cpuCounter: { path: string; format: 'v2' };
  private limits: CgroupLimits | undefined;
  /** The limits the directory's files hold (undefined: a fresh directory, or a write failed
   *  half-way): configuring the same values again writes nothing (see v1.ts). */
  private written: CgroupLimits | undefined;
  constructor(
    readonly name: string,
    private readonly dir: string,
  ) {
    this.procsFiles = [join(dir, 'cgroup.procs')];
    this.cpuCounter = { path: join(dir, 'cpu.stat'), format: 'v2' };
  }

  configure(limits: CgroupLimits): void {
    if (sameLimits(this.written, limits)) {
      this.limits = limits;
      return;
    }
    this.written = undefined;
    write(join(this.dir, 'memory.max'), String(limits.memoryBytes));
    // no swap at all
    if (existsSync(join(this.dir, 'memory.swap.max'))) write(join(this.dir, 'memory.swap.max'), '0');
    write(join(this.dir, 'pids.max'), String(limits.pids));
    // CPU share: a busy (or multi-threaded) program gets at most its share of the CPUs per
    // period, so one execution cannot starve the others and the service (CFS bandwidth control).
    write(join(this.dir, 'cpu.max'), cpuMax(limits.cpuShare));
    this.limits = limits;
    this.written = limits;
  }

  /** v2 counters (memory.peak, memory.events) cannot be reset: recreate the directory. */
  async reset(): Promise<void> {
    if (!(await this.killAll())) throw new Error(`cgroup ${this.name} could not be emptied`);
    await rmdirRetry(this.dir);
    mkdirSync(this.dir);
    this.written = undefined;
    if (this.limits !== undefined) this.configure(this.limits);
  }

  cpuMs(): number {
    const m = /usage_usec (\d+)/.exec(readText(join(this.dir, 'cpu.stat')));
    return Number(m?.[1] ?? '0') / 1000;
  }

  stats(): CgroupStats {
    const events = readText(join(this.dir, 'memory.events'));
    const oomKills = Number(/oom_kill (\d+)/.exec(events)?.[1] ?? '0');
    const peakFile = join(this.dir, 'memory.peak');
    return {
      cpuMs: this.cpuMs(),
      memoryPeakBytes: existsSync(peakFile) ? readNumber(peakFile) : readNumber(join(this.dir, 'memory.current')),
      oomKilled: oomKills > 0,
      // A fresh directory per use (reset): any count is this use's.
      pidsLimitHit: pidsMaxEvents(join(this.dir, 'pids.events')) > 0,
    };
  }

  pids(): number[] {
    return readPids(join(this.dir, 'cgroup.procs'));
  }

  killAll(stop?: AbortSignal): Promise<boolean> {
    return killUntilEmpty(join(this.dir, 'cgroup.procs'), join(this.dir, 'cgroup.kill'), stop);
  }

  removeIfEmptySync(): void {
    rmdirSyncRetry(this.dir);
  }

  async remove(): Promise<void> {
    if (!existsSync(this.dir)) return;
    await this.killAll();
    await rmdirRetry(this.dir);
  }
}

export class V2Driver implements CgroupDriver {
  readonly version = 'v2' as const;
  readonly baseDirs: string[];
  private readonly base: string;

  constructor(root: string) {
    const line = parseProcSelfCgroup().find((l) => l.controllers.length === 0);
    // A process that an earlier driver (another instance in this process) moved into its leaf
    // works from the leaf's parent: every instance of a process shares one subtree, instead of
    // each further one nesting a leaf of its own (cylo-service/cylo-service/...).
    const path = (line?.path ?? '/').replace(new RegExp(`/${SERVICE_LEAF}$`), '') || '/';
    const own = join(root, path);
    this.base = join(own, 'cylo');
    this.baseDirs = [this.base];
    const available = readText(join(root, 'cgroup.controllers')).trim().split(/\s+/);
    const missing = V2_CONTROLLERS.filter((c) => !available.includes(c));
    if (missing.length > 0) {
      throw layerError(`controller(s) ${missing.join(', ')} are not available in ${root}/cgroup.controllers; enable them for cylo's cgroup (systemd: Delegate=yes)`);
    }
    try {
      mkdirSync(this.base, { recursive: true });
      this.enable(own);
      this.enable(this.base);
    } catch (error) {
      if (error instanceof CyloError) throw error;
      throw layerError(`cannot prepare ${this.base} (${(error as Error).message}); run cylo as root in a cgroup it may manage (systemd: Delegate=yes)`, error);
    }
  }

  /** Enables the controllers for a directory's children, moving cylo's own process into a leaf
   *  first if the "no internal processes" rule requires it. */
  private enable(dir: string): void {
    const control = join(dir, 'cgroup.subtree_control');
    const wanted = V2_CONTROLLERS.map((c) => `+${c}`).join(' ');
    try {
      write(control, wanted);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EBUSY') throw error;
      const leaf = join(dir, SERVICE_LEAF);
      mkdirSync(leaf, { recursive: true });
      write(join(leaf, 'cgroup.procs'), String(process.pid));
      try {
        write(control, wanted);
      } catch (again) {
        throw layerError(`cannot enable ${V2_CONTROLLERS.join(', ')} in ${control}: other processes share cylo's cgroup (the cgroup v2 "no internal processes" rule); give cylo a cgroup of its own: a systemd service with Delegate=yes, or systemd-run --scope -p Delegate=yes cylo ...`, again);
      }
    }
  }

  create(name: string, limits: CgroupLimits): ExecutionCgroup {
    const dir = join(this.base, name);
    try {
      mkdirSync(dir);
      const cgroup = new V2Cgroup(name, dir);
      cgroup.configure(limits);
      return cgroup;
    } catch (error) {
      try {
        rmdirSync(dir);
      } catch {
        // best effort
      }
      throw layerError(`cannot set up the execution's cgroup (${(error as Error).message})`, error);
    }
  }

  list(): string[] {
    try {
      return readdirSync(this.base, { withFileTypes: true })
        .filter((d) => d.isDirectory() && d.name !== SERVICE_LEAF)
        .map((d) => d.name);
    } catch {
      return [];
    }
  }

  open(name: string): ExecutionCgroup {
    return new V2Cgroup(name, join(this.base, name));
  }
}
