// The lifecycle of one execution: walks the state machine (state-machine.ts, documented in
// docs/architecture.md) through its stages on a backend slot the pool handed out, and turns
// the stages into the result. It decides what runs (argv, environment, files, limits); the
// backend decides how it is isolated; outcome.ts decides what the outcome means.
import { randomUUID } from 'node:crypto';
import type { NormalizedRequest } from '../api/request.js';
import type { ExecutionResult, Stage } from '../api/result.js';
import { WORKSPACE, type BackendSlot, type SandboxBackend, type StageControl } from '../backend/backend.js';
import { CyloError, toCyloError } from '../errors.js';
import type { ResolvedRuntime } from '../runtimes/registry.js';
import { planEntry } from '../runtimes/entry-point.js';
import { expandArgv, type TokenValues } from '../runtimes/tokens.js';
import type { BundleFile } from '../backend/file-bundle.js';
import type { CompileCache } from './compile-cache.js';
import { compileFlights, compileStage, mergeArtifacts } from './compile-stage.js';
import { classifyStage } from './outcome.js';
import { stageEnv } from './stage-env.js';
import { ExecutionStateMachine, type StateEvent } from './state-machine.js';

/** What an execution reports as it goes: lifecycle transitions and output chunks. */
export type ExecutionEvent = StateEvent | { type: 'stdout' | 'stderr'; executionId: string; stage: 'compile' | 'run'; data: Buffer };

export interface RunContext {
  signal?: AbortSignal | undefined;
  onEvent?: ((event: ExecutionEvent) => void) | undefined;
  /** Interactive input for the run stage (after the request's stdin); its end closes stdin. */
  stdinStream?: AsyncIterable<Buffer> | undefined;
  /** Filled in when the run stage's program starts, to signal it. */
  control?: StageControl | undefined;
}

export class Lifecycle<S extends BackendSlot = BackendSlot> {
  /** Compiles in progress: identical ones that arrive meanwhile wait instead of compiling. */
  private readonly flights = compileFlights();

  constructor(
    private readonly backend: SandboxBackend<S>,
    /** The compile cache, opened on first use by a compiled language; undefined: every compile runs. */
    private readonly compileCache: () => CompileCache | undefined = () => undefined,
  ) {}

  /** Runs one execution in `slot` (from the pool); the pool makes the slot clean afterwards. */
  async execute(sent: NormalizedRequest, runtime: ResolvedRuntime, slot: S, context: RunContext = {}): Promise<ExecutionResult> {
    const id = randomUUID();
    const def = runtime.definition;
    const machine = new ExecutionStateMachine(id, (e) => context.onEvent?.(e));
    const output = (stage: 'compile' | 'run', type: 'stdout' | 'stderr') => (data: Buffer) => context.onEvent?.({ type, executionId: id, stage, data });
    const result = (status: ExecutionResult['status'], compile: Stage | null, run: Stage | null): ExecutionResult => ({ id, language: def.id, version: runtime.version ?? 'unknown', status, compile, run, layers: [...this.backend.layers], backend: this.backend.name, outputEncoding: sent.outputEncoding });
    try {
      // MountRamdisk: the slot is this execution's; the backend gives each stage a fresh
      // workspace sized by workspaceBytes and the request's limits.
      machine.transition('MountRamdisk');
      machine.transition('PrepareExecution');
      // Sources named as the compiler needs them, and the entry point (src/runtimes/entry-point.ts).
      const entry = planEntry(def, sent.files);
      const request: NormalizedRequest = { ...sent, files: entry.files };
      const tokens: TokenValues = { ...stageTokens(request, runtime), mainClass: entry.mainClass };
      let files: BundleFile[] = request.files;
      let compiled: Stage | null = null;
      if (def.compile !== undefined) {
        machine.transition('Compiling');
        const outcome = await compileStage(request, runtime, { backend: this.backend, slot, cache: this.compileCache(), flights: this.flights, tokens, entryProblem: entry.problem, signal: context.signal, onStdout: output('compile', 'stdout'), onStderr: output('compile', 'stderr') });
        compiled = outcome.stage;
        if (outcome.artifacts === undefined) {
          machine.transition('Done');
          return result(outcome.status, compiled, null);
        }
        files = mergeArtifacts(request.files, outcome.artifacts);
      }
      machine.transition('Processing');
      const report = await this.backend.runStage(slot, {
        kind: 'run',
        roots: runtime.roots,
        mounts: runtime.mounts,
        argv: expandArgv(def.run.argv, tokens),
        env: stageEnv(runtime, tokens, 'run', request.env),
        files,
        stdin: request.stdin,
        // The run stage only: a compiler's diagnostics stay on their own streams (and in the
        // compile cache, whatever the request that first compiled asked for).
        stderrToStdout: request.redirectStderrToStdout,
        stdinStream: context.stdinStream,
        control: context.control,
        limits: request.limits,
        signal: context.signal,
        onStdout: output('run', 'stdout'),
        onStderr: output('run', 'stderr'),
      });
      if (report.stopReason === 'cancelled') throw new CyloError('CYLO_E_CANCELLED', 'execution cancelled by the caller; every process of it was killed');
      const run = classifyStage(report, 'run', request.limits, request.outputEncoding);
      machine.transition('Done');
      return result(run.status, compiled, run);
    } catch (error) {
      const err = toCyloError(error);
      if (!machine.finished) machine.transition('Failed', err.message);
      throw err;
    }
  }
}

/** The values runtime templates ({bin}, {entry}, {files}, ...) expand to for this request. */
function stageTokens(request: NormalizedRequest, runtime: ResolvedRuntime): TokenValues {
  const def = runtime.definition;
  const entry = request.files[0]?.name ?? def.entry;
  const sources = request.files.filter((f) => f.name.endsWith(def.extension)).map((f) => f.name);
  return { bin: runtime.binary ?? '', entry, files: sources, args: request.args, compilerOptions: request.compilerOptions, memoryBytes: request.limits.memoryBytes, out: def.compile?.artifact[0], workspace: WORKSPACE };
}
