// The namespace sandbox backend: each stage runs under bubblewrap (user, PID, network, IPC,
// UTS, cgroup and mount namespaces), as its slot's own unprivileged uid, in the slot's cgroup
// (memory, pids, CPU accounting), behind seccomp, Landlock and rlimits, on a size-capped tmpfs
// workspace. A slot prepares its next sandbox while idle (prepared-sandbox.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Layer } from '../api/result.js';
import { LAYERS } from '../api/result.js';
import type { HostMount, PrestartKind, SandboxBackend, StageLimits, StageReport, StageSpec } from '../backend/backend.js';
import { sandboxKey, WORKSPACE, type SandboxPlan } from './bwrap-argv.js';
import { cgroupName } from './cgroup-name.js';
import type { CgroupDriver, ExecutionCgroup } from './cgroups.js';
import { filesystemLayout } from './filesystem.js';
import type { RelaxableLayer } from './host-check.js';
import type { Identity, IdentityPool } from './identity.js';
import { PreparedSandbox } from './prepared-sandbox.js';
import type { Spawner } from './spawner.js';
import type { ZygotePool } from './zygote.js';
import { JAVA_AGENT, PRESTART_IN_SANDBOX, prestartJob, type PrestartJob } from './prestart.js';
import { reachableByOthers } from './filesystem.js';
import { BUILD_NETWORK_PIDS } from './build-network.js';
import { runNetworkStage } from './network-stage.js';

export interface NamespaceHost {
  bwrapPath: string;
  helperPath: string;
  cgroups: CgroupDriver;
  identities: IdentityPool;
  /** The seccomp BPF program (seccomp/program.ts); undefined when the operator relaxed it. */
  seccompProgram: Buffer | undefined;
  landlockAbi: number;
  relax: ReadonlySet<RelaxableLayer>;
  /** Workspace size of the sandbox each idle slot prepares (the default limit's); undefined:
   *  no sandbox is prepared ahead. Only runtimes under /usr can use it. */
  prepareWorkspaceBytes?: number | undefined;
  /** The host directory of the pre-start stubs (dist/native/prestart), bound read-only into
   *  every sandbox at PRESTART_IN_SANDBOX; undefined: runtimes are never pre-started (option
   *  `prestart: false`). Only used with prepared sandboxes. */
  prestartDir?: string | undefined;
  /** Starts every sandbox's helper chain (one per instance); undefined: Node's spawn. */
  spawner?: Spawner | undefined;
  /** Python zygotes (option `zygote`): pre-started Python runtimes are forked from one of them
   *  into each prepared sandbox; undefined: PID 1 starts each runtime. */
  zygotes?: ZygotePool | undefined;
  /** CPUs per execution per wall second (cgroup v2 cpu.max); undefined: no cap. */
  cpuShare?: number | undefined;
}

/**
 * A slot of this backend: an unprivileged uid and a cgroup, reused across executions. There is
 * no host-side workspace to wipe (the workspace is a tmpfs inside the sandbox's own mount
 * namespace), so making a slot clean means: every process in its cgroup killed and the cgroup
 * verified empty, its counters reset. A slot that cannot be made clean is retired; its uid is
 * only released when its cgroup is gone.
 */
export interface NamespaceSlot {
  readonly identity: Identity;
  readonly cgroup: ExecutionCgroup;
  /** Hands over the sandbox prepared for this slot, if any (it can be taken once). */
  takePrepared(): PreparedSandbox | undefined;
  /** The kind its prepared sandbox pre-starts (undefined: none); null when none waits, healthy. */
  preparedKind(): PrestartKind | undefined | null;
  /** The runtime the slot's next prepared sandbox pre-starts, and the trees that sandbox binds:
   *  those of the last pre-startable run stage that fitted a prepared sandbox (a slot serves the
   *  same language and environment again, mostly). */
  nextPrestart: NextPrestart | undefined;
  /** True once a stage ran since the last reset (the next stage resets the counters first). */
  used: boolean;
  reset(): Promise<void>;
  destroy(): Promise<void>;
  destroyIdleSync(): void;
}

/** A slot's next pre-started runtime: its job, and the read-only trees of the stage it was
 *  learned from (the runtime's roots and mounts, an environment's packages), which its prepared
 *  sandbox binds so that the same request's plan fits it. */
export interface NextPrestart {
  job: PrestartJob;
  roots: readonly string[];
  mounts: readonly HostMount[];
}

/** bubblewrap's monitor and the helper (PID 1) live in the execution's cgroup too: the pids
 *  limit is for the program's own processes, so they are added on top (with `pids: 2` the
 *  sandbox could not even fork the program). */
export const SUPERVISOR_PIDS = 2;

/** Limits a prepared sandbox is planned with: only workspaceBytes shapes the sandbox itself. */
const PREPARED_LIMITS: StageLimits = { timeoutMs: 1, cpuTimeMs: 1, memoryBytes: 1, pids: 1, outputBytes: 1, workspaceBytes: 1 };

/** The largest logical size of one file (1 TiB): see rlimitsFor. */
export const MAX_FILE_BYTES = 2 ** 40;

/** Seconds added to the RLIMIT_CPU backstop of a stage whose environment has pre-imports
 *  (numpy + pandas cost about 1 s of CPU): a pre-started runtime spends that CPU before its
 *  handover, and RLIMIT_CPU counts it, so without this a program under a small cpuTimeMs was
 *  SIGKILLed by the kernel at its first tick (no output, a runtime_error). The program's own
 *  limit is the cgroup check (watchdog.ts, counted from its start), unchanged. Cold and
 *  pre-started runs of one request get the same value, so the program sees the same limit
 *  either way; a pre-import list costing more than this is the operator's to avoid
 *  (docs/environments.md). */
export const PREIMPORT_CPU_SLACK_S = 10;

/** Per-process limits inside the sandbox, each a brake behind the cgroup's. `preimport`: the
 *  stage's environment's pre-imports (any: the CPU backstop gets PREIMPORT_CPU_SLACK_S). */
export function rlimitsFor(limits: StageLimits, preimport: readonly string[] = []): Record<string, number> {
  return {
    core: 0, // no core dumps (they could fill the workspace or leak memory contents)
    // A file's logical size (RLIMIT_FSIZE: beyond it EFBIG, or SIGXFSZ when not ignored). The
    // workspace's size cap bounds the bytes files take; this bounds only what sparse files
    // claim. Far above any workspace, so that a write or fallocate past the workspace meets
    // the tmpfs's ENOSPC, as on a real disk (the kernel checks this limit first).
    fsize: MAX_FILE_BYTES,
    nofile: 1024, // bounded open files per process
    stack: 64 * 1024 * 1024, // bounded stack (recursion bombs hit SIGSEGV, not host memory)
    nproc: limits.pids + 8, // per-uid process cap (the uid is this execution's own): a second fork-bomb brake
    // per-process CPU backstop behind the cgroup check (a pre-start's imports count in it)
    cpu: Math.ceil(limits.cpuTimeMs / 1000) + 1 + (preimport.length > 0 ? PREIMPORT_CPU_SLACK_S : 0),
    msgqueue: 0, // no POSIX message queue memory
  };
}

export class NamespaceBackend implements SandboxBackend<NamespaceSlot> {
  readonly name = 'namespace' as const;
  readonly layers: readonly Layer[];
  private readonly counts = { prepared: 0, startedOnDemand: 0, prestarted: 0, zygote: 0 };
  /** Sandboxes whose start is not over yet (PreparedSandbox.setUp). */
  private starting = 0;

  constructor(private readonly host: NamespaceHost) {
    this.layers = LAYERS.filter((l) => !host.relax.has(l as RelaxableLayer));
  }

  /** The sandbox plan of one stage. Pure given its inputs. */
  plan(spec: Pick<StageSpec, 'roots' | 'mounts' | 'argv' | 'env' | 'limits' | 'emit' | 'outputs' | 'mkdirs' | 'stderrToStdout' | 'preimport'>, identity: Identity, cgroup: ExecutionCgroup): SandboxPlan {
    const layout = filesystemLayout([...spec.roots], [...spec.mounts]);
    const host = this.host;
    if (host.prestartDir !== undefined) {
      // The pre-start stubs (cylo's own, public code): read-only in every sandbox, so that a
      // cold and a pre-started sandbox have the same key and the same view.
      layout.binds.push({ source: host.prestartDir, dest: PRESTART_IN_SANDBOX, viaFd: !reachableByOthers(host.prestartDir) });
      layout.landlock.readOnly.push(PRESTART_IN_SANDBOX);
    }
    const landlockMode = host.relax.has('landlock') ? 'off' : host.landlockAbi >= 6 ? 'on' : 'noscope';
    const plan: SandboxPlan = {
      bwrapPath: host.bwrapPath,
      helperPath: host.helperPath,
      uid: identity.uid,
      gid: identity.gid,
      cgroupProcs: cgroup.procsFiles,
      cpuCounter: cgroup.cpuCounter,
      binds: layout.binds,
      masks: layout.masks,
      symlinks: layout.symlinks,
      workspaceBytes: spec.limits.workspaceBytes,
      env: spec.env,
      rlimits: rlimitsFor(spec.limits, spec.preimport),
      landlock: { mode: landlockMode, ...layout.landlock },
      argv: spec.argv,
      stderrToStdout: spec.stderrToStdout === true,
      seccomp: !host.relax.has('seccomp'),
      emit: spec.emit === undefined ? undefined : { paths: [...spec.emit.paths], maxBytes: spec.emit.maxBytes },
    };
    // A plan with outputs has a key of its own: it starts its sandbox on demand rather than
    // using the one prepared without an emit pipe.
    if (spec.outputs !== undefined && spec.outputs.patterns.length > 0) plan.outputs = { ...spec.outputs, patterns: [...spec.outputs.patterns] };
    if (spec.mkdirs !== undefined && spec.mkdirs.length > 0) plan.mkdirs = spec.mkdirs.map((d) => `${WORKSPACE}/${d}`);
    return plan;
  }

  /** The plan of a prepared sandbox: the system tree and `trees` (a learned runtime's: none
   *  before a slot learned one), the default workspace size. Its job (argv, environment,
   *  rlimits) comes with the request. */
  private preparedPlan(identity: Identity, cgroup: ExecutionCgroup, workspaceBytes: number, trees?: Pick<NextPrestart, 'roots' | 'mounts'>): SandboxPlan {
    return this.plan({ roots: trees?.roots ?? [], mounts: trees?.mounts ?? [], argv: [], env: {}, limits: { ...PREPARED_LIMITS, workspaceBytes } }, identity, cgroup);
  }

  createSlot(): NamespaceSlot {
    const identity = this.host.identities.acquire();
    let cgroup: ExecutionCgroup;
    try {
      cgroup = this.host.cgroups.create(cgroupName({ base: this.host.identities.base, count: this.host.identities.size }), { memoryBytes: 64 * 1024 * 1024, pids: 16, cpuShare: this.host.cpuShare });
    } catch (error) {
      identity.release();
      throw error;
    }
    let prepared: PreparedSandbox | undefined;
    const prepare = (): void => {
      const workspaceBytes = this.host.prepareWorkspaceBytes;
      if (workspaceBytes === undefined) return;
      // Started now, while the slot is idle: bubblewrap's setup (and the runtime's own start,
      // when one is pre-started) is off the next request's path.
      const pre = this.host.prestartDir === undefined ? undefined : slot.nextPrestart;
      // The runtime waits under the limits of the request it was learned from (a smaller
      // leftover limit could kill it while it waits; a request is handed over only with limits
      // at least as high: prestart.ts).
      if (pre !== undefined) cgroup.configure({ memoryBytes: pre.job.cgroup.memoryBytes, pids: pre.job.cgroup.pids + SUPERVISOR_PIDS });
      prepared = this.startSandbox(this.preparedPlan(identity, cgroup, workspaceBytes, pre), cgroup, pre?.job);
    };
    const drop = async (): Promise<void> => {
      const p = prepared;
      prepared = undefined;
      await p?.discard();
    };
    const slot: NamespaceSlot = {
      identity,
      cgroup,
      used: false,
      nextPrestart: undefined,
      takePrepared: () => {
        const p = prepared;
        prepared = undefined;
        return p;
      },
      preparedKind: () => (prepared?.ready === true ? prepared.prestart?.kind : null),
      reset: async () => {
        await drop();
        await cgroup.reset();
        slot.used = false;
        prepare();
      },
      destroyIdleSync: () => {
        prepared?.discardNow();
        prepared = undefined;
        cgroup.removeIfEmptySync();
      },
      destroy: async () => {
        await drop();
        await cgroup.remove();
        // Only a uid whose cgroup is gone (nothing can still run as it) is handed out again.
        identity.release();
      },
    };
    prepare();
    return slot;
  }

  async runStage(slot: NamespaceSlot, spec: StageSpec): Promise<StageReport> {
    const { cgroup, identity } = slot;
    // A second stage of the same execution (the run after a compile) gets fresh counters and
    // an empty cgroup: its memory peak and CPU time are its own.
    if (slot.used) await cgroup.reset();
    slot.used = true;
    // A build with network also holds its network stack (slirp4netns joins this cgroup).
    const stackPids = spec.network === true ? BUILD_NETWORK_PIDS : 0;
    cgroup.configure({ memoryBytes: spec.limits.memoryBytes, pids: spec.limits.pids + SUPERVISOR_PIDS + stackPids, cpuShare: this.host.cpuShare });
    if (spec.network === true) {
      return runNetworkStage(this.host, (planned) => this.plan(planned, identity, cgroup), slot, spec, (planned) => {
        this.counts.startedOnDemand += 1;
        return this.startSandbox(planned, cgroup);
      });
    }
    const plan = this.plan(spec, identity, cgroup);
    // The plan's key (its whole outer argv), built once for both uses below.
    const key = sandboxKey(plan);
    this.learnPrestart(slot, spec, plan, key);
    try {
      const sandbox = await this.sandboxFor(slot, plan, spec, key);
      const report = await sandbox.run(plan, spec);
      if (sandbox.handedOver) this.counts.prestarted += 1;
      if (sandbox.handedOver && sandbox.fromZygote) this.counts.zygote += 1;
      return report;
    } finally {
      // Whatever happened, nothing of this stage may outlive it.
      await cgroup.killAll();
    }
  }

  /** True when the slot's prepared sandbox waits with a runtime of kind `prestart` (or, for
   *  undefined, with none): the pool's preference (backend.ts preparedFor). */
  preparedFor(slot: NamespaceSlot, prestart: PrestartKind | undefined): boolean {
    return slot.preparedKind() === prestart; // null (nothing waits) is never a kind
  }

  /** Remembers the run stage's runtime for the slot's next prepared sandbox when it can be
   *  pre-started there: its plan is that of a prepared sandbox with the stage's read-only trees
   *  (its runtime's roots and mounts, its environment's packages), the default workspace, no
   *  outputs or directories of its own. */
  private learnPrestart(slot: NamespaceSlot, spec: StageSpec, plan: SandboxPlan, key: string): void {
    const workspaceBytes = this.host.prepareWorkspaceBytes;
    if (spec.prestart === undefined || this.host.prestartDir === undefined || workspaceBytes === undefined) return;
    // A cylo built without a JDK has no Java stub (scripts/build-native.js): Java then runs cold.
    if (spec.prestart === 'java' && !existsSync(join(this.host.prestartDir, JAVA_AGENT))) return;
    const trees = { roots: [...spec.roots], mounts: [...spec.mounts] };

    if (key !== sandboxKey(this.preparedPlan(slot.identity, slot.cgroup, workspaceBytes, trees))) return;
    const job = prestartJob(spec.prestart, { ...plan, cgroup: { memoryBytes: spec.limits.memoryBytes, pids: spec.limits.pids } }, spec.preimport);
    if (job !== undefined) slot.nextPrestart = { job, ...trees };
  }

  /** The slot's prepared sandbox when it fits the plan (and, with a pre-started runtime, the
   *  runtime fits the job), else a new one (after the unfit one is gone: its kill sweep covers
   *  the whole cgroup the new one will use). An unfit pre-started runtime also costs a cgroup
   *  reset: its memory (an interpreter's few MiB to tens of MiB) must not be in the peak
   *  reported for another program. */
  private async sandboxFor(slot: NamespaceSlot, plan: SandboxPlan, spec: StageSpec, key: string): Promise<PreparedSandbox> {
    const prepared = slot.takePrepared();
    if (prepared !== undefined) {
      const runtimeFits = prepared.prestart === undefined || prepared.handoverFor(plan, spec) !== undefined;
      // A zygote's runtime may still be on its way (a few ms): wait for it rather than hand the
      // request to a sandbox whose injection then fails.
      if (prepared.fromZygote) prepared.reference();
      if (prepared.ready && prepared.key === key && runtimeFits && (await prepared.injected) && prepared.ready) {
        this.counts.prepared += 1;
        return prepared;
      }
      await prepared.discard();
      if (prepared.prestart !== undefined) await slot.cgroup.reset();
    }
    this.counts.startedOnDemand += 1;
    return this.startSandbox(plan, slot.cgroup);
  }

  /** Starts a sandbox (through the spawner when the instance has one, like every other) and
   *  counts it as starting until its start is over. */
  private startSandbox(plan: SandboxPlan, cgroup: ExecutionCgroup, prestart?: PrestartJob): PreparedSandbox {
    const zygote = prestart === undefined ? undefined : this.host.zygotes?.for(plan, prestart);
    const sandbox = new PreparedSandbox(plan, this.host.seccompProgram, cgroup, prestart, this.host.spawner, zygote);
    this.starting += 1;
    void sandbox.setUp.then(() => (this.starting -= 1));
    return sandbox;
  }

  /** prepared: stages run in a prepared sandbox; startedOnDemand: in one started for them;
   *  prestarted: handed to a pre-started runtime (a subset of prepared); zygote: of those, to a
   *  runtime a zygote forked (zygote.ts); starting: sandboxes
   *  whose start is not over yet (spawned, seccomp program not yet taken). */
  stats(): { prepared: number; startedOnDemand: number; prestarted: number; zygote: number; starting: number } {
    return { ...this.counts, starting: this.starting };
  }
}
