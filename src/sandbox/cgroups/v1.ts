// cgroup v1 / hybrid layout: one tree per controller (memory, pids, cpuacct), as on hosts
// that boot with systemd's hybrid or legacy hierarchy.
import { existsSync, mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { killUntilEmpty, layerError, parseProcSelfCgroup, pidsMaxEvents, readNumber, readPids, readText, rmdirRetry, rmdirSyncRetry, sameLimits, v1Mounts, write } from './fs.js';
import type { CgroupDriver, CgroupLimits, CgroupStats, ExecutionCgroup } from '../cgroups.js';

// ------------------------------------------------------------------------------------------
// cgroup v1 / hybrid
// ------------------------------------------------------------------------------------------

const V1_CONTROLLERS = ['memory', 'pids', 'cpuacct'] as const;
type V1Controller = (typeof V1_CONTROLLERS)[number];

/** cpuShare on a v1 host: refused rather than silently not applied. v1 has the same CFS
 *  bandwidth control (cpu.cfs_quota_us in the `cpu` hierarchy), but cylo's v1 driver joins the
 *  memory, pids and cpuacct hierarchies only (see docs/security.md, "cgroup v1 and v2"). */
export function v1CpuShareError(): Error {
  return layerError('cpuShare needs cgroup v2 (cpu.max); this host has cgroup v1, where cylo does not drive the cpu controller. Remove the cpuShare option, or run cylo on a cgroup-v2 host');
}

class V1Cgroup implements ExecutionCgroup {
  readonly procsFiles: string[];
  readonly cpuCounter: { path: string; format: 'v1' };
  private limits: CgroupLimits | undefined;
  /** The limits the current directories' files hold (undefined: fresh directories, or a write
   *  failed half-way): configuring the same values again writes nothing. Each execution
   *  configured its slot three times (reset, prepared sandbox, run stage), nearly always with
   *  the same values: nine writes that each take the memory controller's locks. */
  private written: CgroupLimits | undefined;
  private memoryLimit = Number.POSITIVE_INFINITY; // a new cgroup starts unlimited
  /** Set by remove(): a reset still waiting for its kill must not recreate the directories. */
  private removed = false;
  constructor(
    readonly name: string,
    private readonly dirs: Record<V1Controller, string>,
    private readonly memsw: boolean,
  ) {
    this.procsFiles = V1_CONTROLLERS.map((c) => join(dirs[c], 'cgroup.procs'));
    this.cpuCounter = { path: join(dirs.cpuacct, 'cpuacct.usage'), format: 'v1' };
  }

  private oomKills(): number {
    return Number(/oom_kill (\d+)/.exec(readText(join(this.dirs.memory, 'memory.oom_control')))?.[1] ?? '0');
  }

  configure(limits: CgroupLimits): void {
    if (limits.cpuShare !== undefined) throw v1CpuShareError();
    if (sameLimits(this.written, limits)) {
      this.limits = limits;
      return;
    }
    this.written = undefined;
    const memory = String(limits.memoryBytes);
    const limitFile = join(this.dirs.memory, 'memory.limit_in_bytes');
    const memswFile = join(this.dirs.memory, 'memory.memsw.limit_in_bytes');
    // memsw (memory + swap) must stay >= the memory limit: raise memsw first, lower it last.
    // memsw equal to the memory limit means no swap at all.
    if (limits.memoryBytes >= this.memoryLimit) {
      if (this.memsw) write(memswFile, memory);
      write(limitFile, memory);
    } else {
      write(limitFile, memory);
      if (this.memsw) write(memswFile, memory);
    }
    this.memoryLimit = limits.memoryBytes;
    write(join(this.dirs.pids, 'pids.max'), String(limits.pids));
    this.limits = limits;
    this.written = limits;
  }

  /** Fresh directories for every use, as on v2 (src/sandbox/cgroups/v2.ts): the counters
   *  (peak, OOM kills, pids.max refusals, CPU) start at zero and no charge of the last use stays.
   *  Not memory.force_empty + counter writes (the earlier way): force_empty drains the per-CPU
   *  page lists on every CPU and waits for that (lru_add_drain_all), which blocked the event loop
   *  for 1-9 ms per execution (the longer the busier the machine), and it evicted the page
   *  cache the last use had charged (the interpreter's own files), which the next use read
   *  again. A page a dead directory still holds stays charged to it (rmdir leaves it as an
   *  offline memcg until the page is reclaimed), never to the next use. */
  async reset(): Promise<void> {
    if (!(await this.killAll())) throw new Error(`cgroup ${this.name} could not be emptied`);
    if (this.removed) throw new Error(`cgroup ${this.name} was removed during its reset`);
    // A task that left cgroup.procs but is not yet released (a zombie nobody reaps) still counts
    // against the old pids.max: the new directory does not inherit it. Synchronous from the first
    // rmdir to the last limit write (no await in between, unless a directory is still busy): a
    // destroy() of the slot cannot run in the middle and be undone by the mkdirs.
    for (const c of V1_CONTROLLERS) rmdirSyncRetry(this.dirs[c]);
    for (const c of V1_CONTROLLERS) mkdirSync(this.dirs[c]);
    this.written = undefined;
    try {
      write(join(this.dirs.memory, 'memory.swappiness'), '0');
    } catch {
      // see V1Driver.create
    }
    this.memoryLimit = Number.POSITIVE_INFINITY;
    if (this.limits !== undefined) this.configure(this.limits);
  }

  cpuMs(): number {
    return readNumber(join(this.dirs.cpuacct, 'cpuacct.usage')) / 1e6;
  }

  stats(): CgroupStats {
    return {
      cpuMs: this.cpuMs(),
      memoryPeakBytes: readNumber(join(this.dirs.memory, 'memory.max_usage_in_bytes')),
      // A fresh directory per use (reset): any count is this use's.
      oomKilled: this.oomKills() > 0,
      pidsLimitHit: pidsMaxEvents(join(this.dirs.pids, 'pids.events')) > 0,
    };
  }

  pids(): number[] {
    return readPids(join(this.dirs.pids, 'cgroup.procs'));
  }

  async killAll(stop?: AbortSignal): Promise<boolean> {
    const results = await Promise.all(V1_CONTROLLERS.map((c) => killUntilEmpty(join(this.dirs[c], 'cgroup.procs'), undefined, stop)));
    return results.every(Boolean);
  }

  removeIfEmptySync(): void {
    for (const c of V1_CONTROLLERS) rmdirSyncRetry(this.dirs[c]);
  }

  async remove(): Promise<void> {
    this.removed = true;
    if (!existsSync(this.dirs.pids) && !existsSync(this.dirs.memory) && !existsSync(this.dirs.cpuacct)) return;
    await this.killAll();
    for (const c of V1_CONTROLLERS) await rmdirRetry(this.dirs[c]);
  }
}

export class V1Driver implements CgroupDriver {
  readonly version = 'v1' as const;
  readonly baseDirs: string[];
  private readonly bases: Record<V1Controller, string>;
  private readonly memsw: boolean;

  constructor() {
    const mounts = v1Mounts();
    const own = parseProcSelfCgroup();
    const bases = {} as Record<V1Controller, string>;
    for (const c of V1_CONTROLLERS) {
      const mount = mounts.get(c);
      if (mount === undefined) {
        throw layerError(`the "${c}" controller is not mounted; mount it (mount -t cgroup -o ${c} cgroup /sys/fs/cgroup/${c}) or use a cgroup v2 host`);
      }
      const line = own.find((l) => l.controllers.includes(c));
      bases[c] = join(mount, line?.path ?? '/', 'cylo');
    }
    this.bases = bases;
    this.baseDirs = V1_CONTROLLERS.map((c) => this.bases[c]);
    try {
      for (const c of V1_CONTROLLERS) mkdirSync(this.bases[c], { recursive: true });
    } catch (error) {
      throw layerError(`cannot create ${this.baseDirs.join(', ')} (${(error as Error).message}); cylo must run as root with write access to the cgroup hierarchies`, error);
    }
    this.memsw = existsSync(join(this.bases.memory, 'memory.memsw.limit_in_bytes'));
  }

  private dirsFor(name: string): Record<V1Controller, string> {
    return { memory: join(this.bases.memory, name), pids: join(this.bases.pids, name), cpuacct: join(this.bases.cpuacct, name) };
  }

  create(name: string, limits: CgroupLimits): ExecutionCgroup {
    const dirs = this.dirsFor(name);
    try {
      for (const c of V1_CONTROLLERS) mkdirSync(dirs[c]);
      try {
        write(join(dirs.memory, 'memory.swappiness'), '0');
      } catch {
        // not writable on some kernels; memsw (or a swapless host) already rules swap out
      }
      const cgroup = new V1Cgroup(name, dirs, this.memsw);
      cgroup.configure(limits);
      return cgroup;
    } catch (error) {
      for (const c of V1_CONTROLLERS) {
        try {
          rmdirSync(dirs[c]);
        } catch {
          // best effort
        }
      }
      throw layerError(`cannot set up the execution's cgroup (${(error as Error).message})`, error);
    }
  }

  /** Execution cgroups present in every hierarchy. A name found in only some of them belongs to
   *  a cylo whose cgroup bases differ from ours in the others (another instance in a child
   *  cgroup): not ours to judge. */
  list(): string[] {
    const perController = V1_CONTROLLERS.map((c) => {
      try {
        return new Set(readdirSync(this.bases[c], { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name));
      } catch {
        return new Set<string>();
      }
    });
    const [first, ...rest] = perController;
    return [...(first ?? [])].filter((n) => rest.every((set) => set.has(n)));
  }

  open(name: string): ExecutionCgroup {
    return new V1Cgroup(name, this.dirsFor(name), this.memsw);
  }
}
