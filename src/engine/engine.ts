// The execution engine: turns a validated request into sandboxed stages, walking the lifecycle
// state machine, and always cleaning up (cgroup removed, uid released) whatever happens.
import { randomUUID } from 'node:crypto';
import { CyloError, toCyloError } from '../errors.js';
import type { Limits } from '../api/limits.js';
import type { NormalizedRequest } from '../api/request.js';
import type { ExecutionResult, ExecutionStatus, Layer, Stage } from '../api/result.js';
import { LAYERS } from '../api/result.js';
import type { ResolvedRuntime } from '../runtimes/registry.js';
import type { RuntimeDefinition } from '../runtimes/definition.js';
import type { SandboxPlan } from '../sandbox/bwrap-argv.js';
import type { CgroupDriver, ExecutionCgroup } from '../sandbox/cgroups.js';
import { sandboxEnvironment } from '../sandbox/environment.js';
import type { BundleFile } from '../sandbox/file-bundle.js';
import { filesystemLayout } from '../sandbox/filesystem.js';
import type { RelaxableLayer } from '../sandbox/host-check.js';
import type { Identity, IdentityPool } from '../sandbox/identity.js';
import { runSandbox, type SandboxRunResult } from '../sandbox/run-sandbox.js';
import { ExecutionStateMachine, type StateEvent } from './state-machine.js';

export interface EngineHost {
  bwrapPath: string;
  helperPath: string;
  cgroups: CgroupDriver;
  identities: IdentityPool;
  seccompProgram: Buffer | undefined;
  landlockAbi: number;
  relax: ReadonlySet<RelaxableLayer>;
}

export type ExecutionEvent = StateEvent | { type: 'stdout' | 'stderr'; executionId: string; stage: 'compile' | 'run'; data: Buffer };

export interface RunContext {
  signal?: AbortSignal | undefined;
  onEvent?: ((event: ExecutionEvent) => void) | undefined;
}

let cgroupCounter = 0;

/** Cgroup names carry the service's pid, so a restarted service can tell its orphans apart. */
export function cgroupName(): string {
  cgroupCounter += 1;
  return `x-${process.pid}-${cgroupCounter}`;
}

export function layersInForce(host: Pick<EngineHost, 'relax'>): Layer[] {
  return LAYERS.filter((l) => !host.relax.has(l as RelaxableLayer));
}

function expandArgv(template: readonly string[], values: { bin: string; entry: string; args: readonly string[]; files: readonly string[] }): string[] {
  const out: string[] = [];
  for (const token of template) {
    if (token === '{args}') out.push(...values.args);
    else if (token === '{files}') out.push(...values.files);
    else out.push(token.replaceAll('{bin}', values.bin).replaceAll('{entry}', values.entry));
  }
  return out;
}

function rlimitsFor(limits: Limits): Record<string, number> {
  return {
    core: 0, // no core dumps (they could fill the workspace or leak memory contents)
    fsize: limits.workspaceBytes, // no single file larger than the workspace
    nofile: 1024, // bounded open files per process
    stack: 64 * 1024 * 1024, // bounded stack (recursion bombs hit SIGSEGV, not host memory)
    nproc: limits.pids + 8, // per-uid process cap (the uid is this execution's own): a second fork-bomb brake
    cpu: Math.ceil(limits.cpuTimeMs / 1000) + 1, // per-process CPU backstop behind the cgroup check
    msgqueue: 0, // no POSIX message queue memory
  };
}

function toStage(r: SandboxRunResult): Stage {
  return {
    status: r.status,
    exitCode: r.exitCode,
    signal: r.signal,
    stdout: r.stdout.toString('utf8'),
    stderr: r.stderr.toString('utf8'),
    stdoutTruncated: r.stdoutTruncated,
    stderrTruncated: r.stderrTruncated,
    wallMs: r.wallMs,
    cpuMs: r.cpuMs,
    memoryBytes: r.memoryBytes,
    message: r.message,
  };
}

export class Engine {
  constructor(private readonly host: EngineHost) {}

  /** Builds the sandbox plan for one stage. Pure given its inputs. */
  plan(runtime: ResolvedRuntime, identity: Identity, cgroup: ExecutionCgroup, limits: Limits, argv: string[], env: Record<string, string>): SandboxPlan {
    const layout = filesystemLayout(runtime.roots);
    const landlockMode = this.host.relax.has('landlock') ? 'off' : this.host.landlockAbi >= 6 ? 'on' : 'noscope';
    return {
      bwrapPath: this.host.bwrapPath,
      helperPath: this.host.helperPath,
      uid: identity.uid,
      gid: identity.gid,
      cgroupProcs: cgroup.procsFiles,
      binds: layout.binds,
      symlinks: layout.symlinks,
      workspaceBytes: limits.workspaceBytes,
      env: sandboxEnvironment(runtime.binary, runtime.definition.env, env),
      rlimits: rlimitsFor(limits),
      landlock: { mode: landlockMode, ...layout.landlock },
      argv,
      seccomp: !this.host.relax.has('seccomp'),
    };
  }

  async execute(request: NormalizedRequest, runtime: ResolvedRuntime, context: RunContext = {}): Promise<ExecutionResult> {
    const id = randomUUID();
    const def: RuntimeDefinition = runtime.definition;
    const machine = new ExecutionStateMachine(id, (e) => context.onEvent?.(e));
    let identity: Identity | undefined;
    let cgroup: ExecutionCgroup | undefined;
    try {
      // MountRamdisk: the execution's identity and cgroup; the tmpfs itself is mounted by
      // bubblewrap inside the new mount namespace, sized by limits.workspaceBytes.
      machine.transition('MountRamdisk');
      identity = this.host.identities.acquire();
      cgroup = this.host.cgroups.create(cgroupName(), { memoryBytes: request.limits.memoryBytes, pids: request.limits.pids });

      machine.transition('PrepareExecution');
      const entry = request.files[0]?.name ?? def.entry;
      const binary = runtime.binary ?? '';
      const sources = request.files.filter((f) => f.name.endsWith(def.extension)).map((f) => f.name);
      const argv = expandArgv(def.run.argv, { bin: binary, entry, args: request.args, files: sources });
      const plan = this.plan(runtime, identity, cgroup, request.limits, argv, request.env);
      const files: BundleFile[] = request.files;

      machine.transition('Processing');
      const run = await runSandbox({
        plan,
        seccompProgram: this.host.seccompProgram,
        files,
        stdin: request.stdin,
        limits: request.limits,
        cgroup,
        signal: context.signal,
        onStdout: (data) => context.onEvent?.({ type: 'stdout', executionId: id, stage: 'run', data }),
        onStderr: (data) => context.onEvent?.({ type: 'stderr', executionId: id, stage: 'run', data }),
      });
      if (run.cancelled) throw new CyloError('CYLO_E_CANCELLED', 'execution cancelled by the caller; every process of it was killed');
      const stage = toStage(run);
      const status: ExecutionStatus = stage.status;
      machine.transition('Done');
      return { id, language: def.id, version: runtime.version ?? 'unknown', status, compile: null, run: stage, layers: layersInForce(this.host) };
    } catch (error) {
      const err = toCyloError(error);
      if (!machine.finished) machine.transition('Failed', err.message);
      throw err;
    } finally {
      // Cleanup on every path. The cgroup removal kills anything left first.
      if (cgroup !== undefined) await cgroup.remove().catch(() => {});
      identity?.release();
    }
  }
}
