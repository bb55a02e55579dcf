// The execution engine: turns a validated request into sandboxed stages, walking the lifecycle
// state machine, and always cleaning up (cgroup removed, uid released) whatever happens.
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { CyloError, toCyloError } from '../errors.js';
import type { Limits } from '../api/limits.js';
import type { NormalizedRequest } from '../api/request.js';
import type { ExecutionResult, ExecutionStatus, Layer, Stage } from '../api/result.js';
import { LAYERS } from '../api/result.js';
import type { ResolvedRuntime } from '../runtimes/registry.js';
import type { RuntimeDefinition } from '../runtimes/definition.js';
import { sandboxKey, WORKSPACE, type SandboxPlan } from '../sandbox/bwrap-argv.js';
import type { CgroupDriver, ExecutionCgroup } from '../sandbox/cgroups.js';
import { sandboxEnvironment } from '../sandbox/environment.js';
import { decodeBundle, type BundleFile } from '../sandbox/file-bundle.js';
import { filesystemLayout } from '../sandbox/filesystem.js';
import type { RelaxableLayer } from '../sandbox/host-check.js';
import type { Identity, IdentityPool } from '../sandbox/identity.js';
import { PreparedSandbox, runSandbox, type SandboxControl, type SandboxRunOptions, type SandboxRunResult } from '../sandbox/run-sandbox.js';
import { ExecutionStateMachine, type StateEvent } from './state-machine.js';
import type { PoolSlot } from './pool.js';
import { processStartTime } from './orphans.js';
import { compileCacheKey, type CompileCache } from './compile-cache.js';
import { expandArgv, expandEnv, type TokenValues } from '../runtimes/tokens.js';

export interface EngineHost {
  bwrapPath: string;
  helperPath: string;
  cgroups: CgroupDriver;
  identities: IdentityPool;
  seccompProgram: Buffer | undefined;
  landlockAbi: number;
  relax: ReadonlySet<RelaxableLayer>;
  /** The compile cache (opened on first use by a compiled language); undefined: every compile runs. */
  compileCache?: (() => CompileCache | undefined) | undefined;
  /** Workspace size of the sandbox each idle slot starts ahead of time (the default limit's);
   *  undefined: no sandbox is started ahead. Only runtimes under /usr use it. */
  prewarmWorkspaceBytes?: number | undefined;
}

export type ExecutionEvent = StateEvent | { type: 'stdout' | 'stderr'; executionId: string; stage: 'compile' | 'run'; data: Buffer };

export interface RunContext {
  signal?: AbortSignal | undefined;
  onEvent?: ((event: ExecutionEvent) => void) | undefined;
  /** Interactive input for the run stage (after the request's stdin); its end closes stdin. */
  stdinStream?: AsyncIterable<Buffer> | undefined;
  /** Filled in when the run stage's program starts, to signal it. */
  control?: SandboxControl | undefined;
}

/** Limits a prepared sandbox is planned with: only workspaceBytes shapes the sandbox itself. */
const WARM_LIMITS: Limits = { timeoutMs: 1, cpuTimeMs: 1, memoryBytes: 1, pids: 1, outputBytes: 1, workspaceBytes: 1, compileTimeoutMs: 1, compileMemoryBytes: 1 };

let cgroupCounter = 0;
const startTime = processStartTime('self') ?? '0';

/** Cgroup names carry the service's pid and start time, so a restarted service can tell its
 *  orphans apart (a recycled pid has another start time). */
export function cgroupName(): string {
  cgroupCounter += 1;
  return `x-${process.pid}-${startTime}-${cgroupCounter}`;
}

/**
 * A reusable sandbox slot: an unprivileged uid and a cgroup, created ahead of time by the pool.
 * There is no host-side workspace to wipe (the workspace is a tmpfs inside the sandbox's own
 * mount namespace), so making a slot clean means: every process in its cgroup killed and the
 * cgroup verified empty, its counters reset. A slot that cannot be made clean is retired; its
 * uid is only released when its cgroup is gone.
 */
export interface SandboxSlot extends PoolSlot {
  readonly identity: Identity;
  readonly cgroup: ExecutionCgroup;
  /** Hands over the sandbox started ahead for this slot, if any (it can be taken once). */
  takePrepared(): PreparedSandbox | undefined;
}

export function layersInForce(host: Pick<EngineHost, 'relax'>): Layer[] {
  return LAYERS.filter((l) => !host.relax.has(l as RelaxableLayer));
}

/** Processes and threads a compile stage may have at once (go build, rustc and javac are
 *  multi-threaded); never fewer than the run stage gets. */
export const COMPILE_PIDS = 256;

/** What a compile stage hands to the run stage. */
interface CompileOutcome {
  stage: Stage;
  /** The artifact files; undefined when the compile failed (the execution ends there). */
  artifacts: BundleFile[] | undefined;
  /** The execution's status when the compile failed. */
  status: ExecutionStatus;
}

/** The Stage reported for a compile skipped by a cache hit. */
function cachedCompileStage(): Stage {
  return { status: 'ok', exitCode: 0, signal: null, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false, wallMs: 0, cpuMs: 0, memoryBytes: 0, message: null, cached: true };
}

/** Parent directories of the artifacts, created before the compiler runs (compilers rarely
 *  create the directory of their -o path themselves). */
function artifactParents(artifacts: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const a of artifacts) {
    const parts = a.split('/');
    for (let k = 1; k < parts.length; k++) dirs.add(parts.slice(0, k).join('/'));
  }
  return [...dirs].sort((a, b) => a.length - b.length);
}

/** Request files plus artifacts: an artifact replaces a request file of the same name, and a
 *  request file cannot sit where the artifacts need a directory. */
function mergeArtifacts(files: readonly BundleFile[], artifacts: readonly BundleFile[]): BundleFile[] {
  const taken = new Set<string>();
  for (const a of artifacts) {
    const parts = a.name.split('/');
    for (let k = 1; k <= parts.length; k++) taken.add(parts.slice(0, k).join('/'));
  }
  return [...files.filter((f) => !taken.has(f.name) && !artifacts.some((a) => f.name.startsWith(`${a.name}/`))), ...artifacts];
}

/** bubblewrap's monitor and the helper (PID 1) live in the execution's cgroup too: the pids
 *  limit is for the program's own processes, so they are added on top (with `pids: 2` the
 *  sandbox could not even fork the program). */
const SUPERVISOR_PIDS = 2;

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
  plan(runtime: Pick<ResolvedRuntime, 'roots' | 'mounts'>, identity: Identity, cgroup: ExecutionCgroup, limits: Limits, argv: string[], env: Record<string, string>, emit?: SandboxPlan['emit']): SandboxPlan {
    const layout = filesystemLayout(runtime.roots, runtime.mounts);
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
      env,
      rlimits: rlimitsFor(limits),
      landlock: { mode: landlockMode, ...layout.landlock },
      argv,
      seccomp: !this.host.relax.has('seccomp'),
      emit,
    };
  }

  /** The environment of a stage: the base allowlist, the runtime's (and the compile stage's)
   *  variables with their tokens expanded, then the request's (run stage only). */
  private stageEnv(runtime: ResolvedRuntime, tokens: TokenValues, stage: 'compile' | 'run', requestEnv: Record<string, string>): Record<string, string> {
    const def = runtime.definition;
    const runtimeEnv = expandEnv(stage === 'compile' ? { ...def.env, ...def.compile?.env } : def.env, tokens);
    return sandboxEnvironment(runtime.binary, runtimeEnv, stage === 'run' ? requestEnv : {});
  }

  /**
   * The compile stage: a cache hit skips it; otherwise the compiler runs in its own sandbox with
   * its own cgroup and limits (compileTimeoutMs, compileMemoryBytes), and PID 1 streams the
   * artifact back out through a pipe. The host never reads the sandbox's filesystem.
   */
  private async compile(id: string, request: NormalizedRequest, runtime: ResolvedRuntime, slot: SandboxSlot, tokens: TokenValues, context: RunContext): Promise<CompileOutcome> {
    const { identity, cgroup } = slot;
    const def = runtime.definition;
    const compile = def.compile;
    if (compile === undefined) throw new Error('compile() called for an interpreted language');
    const cache = this.host.compileCache?.();
    const key = compileCacheKey({ language: def.id, toolchain: runtime.fingerprint, compile: { compile, env: def.env }, files: request.files });
    const decodeLimits = { maxBytes: request.limits.workspaceBytes + 16, maxFiles: 100_000 };
    if (cache !== undefined) {
      const hit = await cache.get(key);
      if (hit !== undefined) {
        try {
          return { stage: cachedCompileStage(), artifacts: decodeBundle(hit, decodeLimits), status: 'ok' };
        } catch {
          // an entry that does not decode is a miss (it is replaced below)
        }
      }
    }
    const limits: Limits = {
      ...request.limits,
      timeoutMs: request.limits.compileTimeoutMs,
      cpuTimeMs: request.limits.compileTimeoutMs * availableParallelism(),
      memoryBytes: request.limits.compileMemoryBytes,
      pids: Math.max(COMPILE_PIDS, request.limits.pids),
    };
    const stageTokens: TokenValues = { ...tokens, memoryBytes: limits.memoryBytes };
    const argv = expandArgv(compile.argv, stageTokens);
    cgroup.configure({ memoryBytes: limits.memoryBytes, pids: limits.pids + SUPERVISOR_PIDS });
    let result: SandboxRunResult;
    try {
      const plan = this.plan(runtime, identity, cgroup, limits, argv, this.stageEnv(runtime, stageTokens, 'compile', {}), { paths: compile.artifact, maxBytes: request.limits.workspaceBytes });
      plan.mkdirs = artifactParents(compile.artifact).map((d) => `${WORKSPACE}/${d}`);
      result = await this.runStage(slot, {
        plan,
        seccompProgram: this.host.seccompProgram,
        files: request.files.filter((f) => !plan.mkdirs?.includes(`${WORKSPACE}/${f.name}`)),
        stdin: Buffer.alloc(0),
        limits,
        cgroup,
        signal: context.signal,
        onStdout: (data) => context.onEvent?.({ type: 'stdout', executionId: id, stage: 'compile', data }),
        onStderr: (data) => context.onEvent?.({ type: 'stderr', executionId: id, stage: 'compile', data }),
      });
    } finally {
      // The run stage reuses the slot: empty it and reset its counters (throws if it cannot).
      await cgroup.reset();
    }
    if (result.cancelled) throw new CyloError('CYLO_E_CANCELLED', 'execution cancelled by the caller; every process of it was killed');
    const stage: Stage = { ...toStage(result), cached: false };
    if (stage.message !== null) stage.message = stage.message.replace('the program was', 'the compiler was');
    if (result.status === 'internal_error') return { stage, artifacts: undefined, status: 'internal_error' };
    if (result.status !== 'ok') {
      // A compiler that failed (or hit a limit) ends the execution: no run stage.
      if (stage.status === 'runtime_error') stage.status = 'compile_error';
      return { stage, artifacts: undefined, status: 'compile_error' };
    }
    let artifacts: BundleFile[] | undefined;
    let problem = result.artifactError ?? null;
    if (problem === null) {
      try {
        artifacts = decodeBundle(result.artifact ?? Buffer.alloc(0), decodeLimits);
        if (artifacts.length === 0) problem = `the compiler produced nothing at ${compile.artifact.join(', ')}`;
      } catch (error) {
        problem = (error as Error).message;
      }
    }
    if (artifacts === undefined || problem !== null) {
      stage.status = 'compile_error';
      stage.message = `the compiler exited 0 but its output could not be collected: ${problem ?? 'unknown error'}`;
      return { stage, artifacts: undefined, status: 'compile_error' };
    }
    // Written by this process only, from the bytes that came through the pipe.
    if (cache !== undefined && result.artifact !== undefined) await cache.put(key, result.artifact);
    return { stage, artifacts, status: 'ok' };
  }

  /** Creates a slot for the pool: its own uid and an (idle) cgroup. */
  createSlot(): SandboxSlot {
    const identity = this.host.identities.acquire();
    let cgroup: ExecutionCgroup;
    try {
      cgroup = this.host.cgroups.create(cgroupName(), { memoryBytes: 64 * 1024 * 1024, pids: 16 });
    } catch (error) {
      identity.release();
      throw error;
    }
    let prepared: PreparedSandbox | undefined;
    const prewarm = (): void => {
      const workspaceBytes = this.host.prewarmWorkspaceBytes;
      if (workspaceBytes === undefined) return;
      // Started now, while the slot is idle: bubblewrap's setup is off the next request's path.
      prepared = new PreparedSandbox(this.warmPlan(identity, cgroup, workspaceBytes), this.host.seccompProgram, cgroup);
    };
    const drop = async (): Promise<void> => {
      const p = prepared;
      prepared = undefined;
      await p?.discard();
    };
    prewarm();
    return {
      identity,
      cgroup,
      takePrepared: () => {
        const p = prepared;
        prepared = undefined;
        return p;
      },
      reset: async () => {
        await drop();
        await cgroup.reset();
        prewarm();
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
  }

  /** The plan of a sandbox started ahead: the system tree only, the default workspace size. Its
   *  job (argv, environment, rlimits) comes with the request. */
  private warmPlan(identity: Identity, cgroup: ExecutionCgroup, workspaceBytes: number): SandboxPlan {
    return this.plan({ roots: [], mounts: [] }, identity, cgroup, { ...WARM_LIMITS, workspaceBytes }, [], {});
  }

  /** Runs a stage in the slot's prepared sandbox when it fits the plan, else in a new one. */
  private async runStage(slot: SandboxSlot, options: SandboxRunOptions): Promise<SandboxRunResult> {
    const prepared = slot.takePrepared();
    if (prepared !== undefined) {
      if (prepared.ready && prepared.key === sandboxKey(options.plan)) {
        this.sandboxStats.prepared += 1;
        return prepared.run(options);
      }
      await prepared.discard();
    }
    this.sandboxStats.started += 1;
    return runSandbox(options);
  }

  /** How stages got their sandbox: a prepared one (started ahead) or one started on the spot. */
  readonly sandboxStats = { prepared: 0, started: 0 };

  /** Runs one execution in `slot` (from the pool); the pool makes the slot clean afterwards. */
  async execute(request: NormalizedRequest, runtime: ResolvedRuntime, slot: SandboxSlot, context: RunContext = {}): Promise<ExecutionResult> {
    const id = randomUUID();
    const def: RuntimeDefinition = runtime.definition;
    const machine = new ExecutionStateMachine(id, (e) => context.onEvent?.(e));
    const { identity, cgroup } = slot;
    try {
      // MountRamdisk: the slot's identity and cgroup get this execution's limits; the tmpfs
      // itself is mounted by bubblewrap inside the new mount namespace, sized by workspaceBytes.
      machine.transition('MountRamdisk');
      cgroup.configure({ memoryBytes: request.limits.memoryBytes, pids: request.limits.pids + SUPERVISOR_PIDS });

      machine.transition('PrepareExecution');
      const entry = request.files[0]?.name ?? def.entry;
      const binary = runtime.binary ?? '';
      const sources = request.files.filter((f) => f.name.endsWith(def.extension)).map((f) => f.name);
      const tokens: TokenValues = { bin: binary, entry, files: sources, args: request.args, memoryBytes: request.limits.memoryBytes, out: def.compile?.artifact[0], workspace: WORKSPACE };
      let files: BundleFile[] = request.files;
      let compileStage: Stage | null = null;
      if (def.compile !== undefined) {
        machine.transition('Compiling');
        const compiled = await this.compile(id, request, runtime, slot, tokens, context);
        compileStage = compiled.stage;
        if (compiled.artifacts === undefined) {
          machine.transition('Done');
          return { id, language: def.id, version: runtime.version ?? 'unknown', status: compiled.status, compile: compileStage, run: null, layers: layersInForce(this.host) };
        }
        files = mergeArtifacts(request.files, compiled.artifacts);
        cgroup.configure({ memoryBytes: request.limits.memoryBytes, pids: request.limits.pids + SUPERVISOR_PIDS });
      }
      const argv = expandArgv(def.run.argv, tokens);
      const plan = this.plan(runtime, identity, cgroup, request.limits, argv, this.stageEnv(runtime, tokens, 'run', request.env));

      machine.transition('Processing');
      const run = await this.runStage(slot, {
        plan,
        seccompProgram: this.host.seccompProgram,
        files,
        stdin: request.stdin,
        stdinStream: context.stdinStream,
        control: context.control,
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
      return { id, language: def.id, version: runtime.version ?? 'unknown', status, compile: compileStage, run: stage, layers: layersInForce(this.host) };
    } catch (error) {
      const err = toCyloError(error);
      if (!machine.finished) machine.transition('Failed', err.message);
      throw err;
    } finally {
      // Cleanup on every path: nothing of this execution may outlive it. The pool then resets
      // the slot (and retires it if it cannot be made clean).
      await cgroup.killAll();
    }
  }
}
