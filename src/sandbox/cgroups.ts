// cgroups: memory limit without swap, pids limit, CPU-time accounting, peak memory, OOM
// detection and killing a whole execution. Drives both layouts:
//   - pure cgroup v2 (one unified tree, controllers enabled through cgroup.subtree_control),
//   - cgroup v1 / hybrid (one tree per controller; this machine's layout).
// Every execution gets its own cgroup, created under the service's own cgroup (read from
// /proc/self/cgroup) in a `cylo` subtree, and removed when the execution ends.
// Hand-written: no maintained Node library drives cgroups (v1 and v2) without a daemon.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CyloError } from '../errors.js';

export interface CgroupLimits {
  memoryBytes: number;
  pids: number;
}

export interface CgroupStats {
  cpuMs: number;
  memoryPeakBytes: number;
  oomKilled: boolean;
}

export interface ExecutionCgroup {
  readonly name: string;
  /** The cgroup.procs files the sandbox's first process must join (one per v1 hierarchy). */
  readonly procsFiles: string[];
  /** CPU time used so far, in milliseconds. */
  cpuMs(): number;
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

const layerError = (message: string, cause?: unknown): CyloError =>
  new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', `cgroups: ${message}`, { layer: 'cgroups', cause });

/** Sleeps synchronously (process exit handlers cannot await). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** rmdir, retried for up to ~100 ms while the last processes finish dying (synchronous). */
function rmdirSyncRetry(dir: string): void {
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

function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

function readNumber(path: string): number {
  const n = Number(readText(path).trim());
  return Number.isFinite(n) ? n : 0;
}

function write(path: string, value: string): void {
  writeFileSync(path, value);
}

function readPids(procsFile: string): number[] {
  try {
    return readText(procsFile)
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function killPids(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function killUntilEmpty(procsFile: string, killFile?: string, stop?: AbortSignal): Promise<boolean> {
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

/** Waits until a pids.current file reads 0: exiting tasks leave cgroup.procs before they stop
 *  counting against pids.max, and a reused cgroup must start with its whole budget. */
async function waitNoTasks(pidsCurrent: string, attempts: number): Promise<boolean> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (readNumber(pidsCurrent) === 0) return true;
    await sleep(1);
  }
  return readNumber(pidsCurrent) === 0;
}

async function rmdirRetry(dir: string): Promise<void> {
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

interface ProcCgroupLine {
  controllers: string[];
  path: string;
}

function parseProcSelfCgroup(): ProcCgroupLine[] {
  return readText('/proc/self/cgroup')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [, controllers = '', ...rest] = line.split(':');
      return { controllers: controllers === '' ? [] : controllers.split(','), path: rest.join(':') };
    });
}

/** Mount points of v1 hierarchies, keyed by controller, from /proc/self/mountinfo. */
function v1Mounts(): Map<string, string> {
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

// ------------------------------------------------------------------------------------------
// cgroup v1 / hybrid
// ------------------------------------------------------------------------------------------

const V1_CONTROLLERS = ['memory', 'pids', 'cpuacct'] as const;
type V1Controller = (typeof V1_CONTROLLERS)[number];

class V1Cgroup implements ExecutionCgroup {
  readonly procsFiles: string[];
  private oomBaseline = 0;
  private limits: CgroupLimits | undefined;
  private memoryLimit = Number.POSITIVE_INFINITY; // a new cgroup starts unlimited
  constructor(
    readonly name: string,
    private readonly dirs: Record<V1Controller, string>,
    private readonly memsw: boolean,
  ) {
    this.procsFiles = V1_CONTROLLERS.map((c) => join(dirs[c], 'cgroup.procs'));
  }

  private oomKills(): number {
    return Number(/oom_kill (\d+)/.exec(readText(join(this.dirs.memory, 'memory.oom_control')))?.[1] ?? '0');
  }

  configure(limits: CgroupLimits): void {
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
  }

  async reset(): Promise<void> {
    if (!(await this.killAll())) throw new Error(`cgroup ${this.name} could not be emptied`);
    if (!(await waitNoTasks(join(this.dirs.pids, 'pids.current'), 20))) {
      // A task that left cgroup.procs but is not yet released (a zombie nobody reaps) still
      // counts against pids.max: start over with fresh directories instead of waiting for it.
      for (const c of V1_CONTROLLERS) await rmdirRetry(this.dirs[c]);
      for (const c of V1_CONTROLLERS) mkdirSync(this.dirs[c]);
      try {
        write(join(this.dirs.memory, 'memory.swappiness'), '0');
      } catch {
        // see V1Driver.create
      }
      this.memoryLimit = Number.POSITIVE_INFINITY;
      if (this.limits !== undefined) this.configure(this.limits);
      this.oomBaseline = 0;
      return;
    }
    // Uncharge the page cache the last use left behind, so the next use's peak is its own.
    try {
      write(join(this.dirs.memory, 'memory.force_empty'), '0');
    } catch {
      // best effort: an unreclaimable page only inflates the next peak slightly
    }
    write(join(this.dirs.memory, 'memory.max_usage_in_bytes'), '0');
    write(join(this.dirs.cpuacct, 'cpuacct.usage'), '0');
    this.oomBaseline = this.oomKills();
  }

  cpuMs(): number {
    return readNumber(join(this.dirs.cpuacct, 'cpuacct.usage')) / 1e6;
  }

  stats(): CgroupStats {
    return {
      cpuMs: this.cpuMs(),
      memoryPeakBytes: readNumber(join(this.dirs.memory, 'memory.max_usage_in_bytes')),
      oomKilled: this.oomKills() > this.oomBaseline,
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
    if (!existsSync(this.dirs.pids) && !existsSync(this.dirs.memory) && !existsSync(this.dirs.cpuacct)) return;
    await this.killAll();
    for (const c of V1_CONTROLLERS) await rmdirRetry(this.dirs[c]);
  }
}

class V1Driver implements CgroupDriver {
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

// ------------------------------------------------------------------------------------------
// cgroup v2
// ------------------------------------------------------------------------------------------

const V2_CONTROLLERS = ['memory', 'pids', 'cpu'];

class V2Cgroup implements ExecutionCgroup {
  readonly procsFiles: string[];
  private limits: CgroupLimits | undefined;
  constructor(
    readonly name: string,
    private readonly dir: string,
  ) {
    this.procsFiles = [join(dir, 'cgroup.procs')];
  }

  configure(limits: CgroupLimits): void {
    write(join(this.dir, 'memory.max'), String(limits.memoryBytes));
    // no swap at all
    if (existsSync(join(this.dir, 'memory.swap.max'))) write(join(this.dir, 'memory.swap.max'), '0');
    write(join(this.dir, 'pids.max'), String(limits.pids));
    this.limits = limits;
  }

  /** v2 counters (memory.peak, memory.events) cannot be reset: recreate the directory. */
  async reset(): Promise<void> {
    if (!(await this.killAll())) throw new Error(`cgroup ${this.name} could not be emptied`);
    await rmdirRetry(this.dir);
    mkdirSync(this.dir);
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

class V2Driver implements CgroupDriver {
  readonly version = 'v2' as const;
  readonly baseDirs: string[];
  private readonly base: string;

  constructor(root: string) {
    const line = parseProcSelfCgroup().find((l) => l.controllers.length === 0);
    const own = join(root, line?.path ?? '/');
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
      const leaf = join(dir, 'cylo-service');
      mkdirSync(leaf, { recursive: true });
      write(join(leaf, 'cgroup.procs'), String(process.pid));
      try {
        write(control, wanted);
      } catch (again) {
        throw layerError(`cannot enable ${V2_CONTROLLERS.join(', ')} in ${control}: other processes share cylo's cgroup; give cylo a cgroup of its own (systemd: Delegate=yes)`, again);
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
        .filter((d) => d.isDirectory() && d.name !== 'cylo-service')
        .map((d) => d.name);
    } catch {
      return [];
    }
  }

  open(name: string): ExecutionCgroup {
    return new V2Cgroup(name, join(this.base, name));
  }
}

/** Detects the host's cgroup layout and prepares cylo's subtree. Throws a CyloError naming the
 *  `cgroups` layer and the fix when that is impossible. */
export function openCgroups(root = '/sys/fs/cgroup'): CgroupDriver {
  if (process.platform !== 'linux') throw layerError('cgroups need Linux');
  if (existsSync(join(root, 'cgroup.controllers'))) return new V2Driver(root);
  if (!existsSync(root)) throw layerError(`${root} is not mounted; mount cgroup2 there (mount -t cgroup2 none ${root})`);
  return new V1Driver();
}
