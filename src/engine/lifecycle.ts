// The lifecycle of one execution: walks the state machine (state-machine.ts, documented in
// docs/architecture.md) through its stages on a backend slot the pool handed out, and turns
// the stages into the result. It decides what runs (argv, environment, files, limits); the
// backend decides how it is isolated; outcome.ts decides what the outcome means.
import { randomUUID } from 'node:crypto';
import type { NormalizedRequest } from '../api/request.js';
import type { ExecutionResult, Stage } from '../api/result.js';
import type { Limits } from '../api/limits.js';
import { WORKSPACE, type BackendSlot, type SandboxBackend, type StageControl, type StageSpec } from '../backend/backend.js';
import { MAX_OUTPUT_FILES } from '../api/outputs.js';
import { CyloError, toCyloError } from '../errors.js';
import type { ResolvedRuntime } from '../runtimes/registry.js';
import { planEntry } from '../runtimes/entry-point.js';
import { expandArgv, type TokenValues } from '../runtimes/tokens.js';
import type { BundleFile } from '../backend/file-bundle.js';
import type { CompileCache } from './compile-cache.js';
import type { SlotPreference } from './pool.js';
import { compileFlights, compileStage, mergeArtifacts } from './compile-stage.js';
import { classifyStage } from './outcome.js';
import { stageEnv } from './stage-env.js';
import { ExecutionStateMachine, type StateEvent } from './state-machine.js';

/** What an execution reports as it goes: lifecycle transitions and output chunks. */
export type ExecutionEvent = StateEvent | { type: 'stdout' | 'stderr'; executionId: string; stage: 'compile' | 'run'; data: Buffer; /** The test case (its index) whose run produced it. */ test?: number };

export interface RunContext {
  signal?: AbortSignal | undefined;
  onEvent?: ((event: ExecutionEvent) => void) | undefined;
  /** Interactive input for the run stage (after the request's stdin); its end closes stdin. */
  stdinStream?: AsyncIterable<Buffer> | undefined;
  /** Filled in when the run stage's program starts, to signal it. */
  control?: StageControl | undefined;
  /** The test case this run is (its output events carry it). */
  testIndex?: number | undefined;
}

/** A program ready to run: its sources named (and compiled, for compiled languages). */
export interface PreparedProgram {
  request: NormalizedRequest;
  runtime: ResolvedRuntime;
  tokens: TokenValues;
  /** The run stage's files: the sources, and the compile's artifacts. */
  files: BundleFile[];
  /** The compile stage, or null for interpreted languages. */
  compiled: Stage | null;
  /** Set when the compile failed: the execution's status; the program cannot run. */
  failed: ExecutionResult['status'] | undefined;
}

/** One run of a prepared program: its input, arguments and limits (a test case's, or the
 *  request's), and files added to the workspace (a checker's input, output and answer). */
export interface ProgramRun {
  stdin: Buffer;
  args: readonly string[];
  limits: Limits;
  extraFiles?: readonly BundleFile[] | undefined;
  /** Output file patterns and caps (a plain execution's `outputs`); undefined: none. */
  outputs?: StageSpec['outputs'];
}

export class Lifecycle<S extends BackendSlot = BackendSlot> {
  /** Compiles in progress: identical ones that arrive meanwhile wait instead of compiling. */
  private readonly flights = compileFlights();
  /** Compile stages whose compiler really ran (not a cache hit, not shared). */
  private compiles = 0;

  constructor(
    private readonly backend: SandboxBackend<S>,
    /** The compile cache, opened on first use by a compiled language; undefined: every compile runs. */
    private readonly compileCache: () => CompileCache | undefined = () => undefined,
  ) {}

  /** Compile stages this lifecycle ran the compiler for (cache hits and shared compiles excluded). */
  get compilesRun(): number {
    return this.compiles;
  }

  get layers(): ExecutionResult['layers'] {
    return [...this.backend.layers];
  }

  get backendName(): ExecutionResult['backend'] {
    return this.backend.name;
  }

  /** The pool's preference for an execution of `runtime`: a slot whose prepared sandbox its run
   *  stage fits (backend.ts preparedFor); undefined when the backend has no such hint. */
  slotPreference(runtime: ResolvedRuntime): SlotPreference<S> | undefined {
    const backend = this.backend;
    if (backend.preparedFor === undefined) return undefined;
    const kind = runtime.definition.prestart;
    return (slot) => backend.preparedFor?.(slot, kind) === true;
  }

  /** Runs one execution in `slot` (from the pool); the pool makes the slot clean afterwards. */
  async execute(sent: NormalizedRequest, runtime: ResolvedRuntime, slot: S, context: RunContext = {}): Promise<ExecutionResult> {
    const id = randomUUID();
    const machine = new ExecutionStateMachine(id, (e) => context.onEvent?.(e));
    const result = (status: ExecutionResult['status'], compile: Stage | null, run: Stage | null): ExecutionResult => ({ ...this.resultBase(id, runtime, sent), status, compile, run });
    try {
      // MountRamdisk: the slot is this execution's; the backend gives each stage a fresh
      // workspace sized by workspaceBytes and the request's limits.
      machine.transition('MountRamdisk');
      const program = await this.prepare(sent, runtime, slot, { ...context, executionId: id, machine });
      if (program.failed !== undefined) {
        machine.transition('Done');
        return result(program.failed, program.compiled, null);
      }
      machine.transition('Processing');
      const { stage } = await this.run(program, { stdin: program.request.stdin, args: program.request.args, limits: program.request.limits, outputs: runOutputs(program.request) }, slot, { ...context, executionId: id });
      machine.transition('Done');
      return result(stage.status, program.compiled, stage);
    } catch (error) {
      const err = toCyloError(error);
      if (!machine.finished) machine.transition('Failed', err.message);
      throw err;
    }
  }

  /** The fields every result of this request has (id, language, version, layers, backend, encoding). */
  resultBase(id: string, runtime: ResolvedRuntime, request: NormalizedRequest): Omit<ExecutionResult, 'status' | 'compile' | 'run'> {
    return { id, language: runtime.definition.id, version: runtime.version ?? 'unknown', layers: this.layers, backend: this.backendName, outputEncoding: request.outputEncoding };
  }

  /** PrepareExecution and Compiling: names the sources as the compiler needs them, finds the
   *  entry point, and compiles (in `slot`; compiled languages only: `slot` may be undefined
   *  for an interpreted one). Throws CYLO_E_CANCELLED when cancelled. */
  async prepare(sent: NormalizedRequest, runtime: ResolvedRuntime, slot: S | undefined, context: RunContext & { executionId: string; machine: ExecutionStateMachine }): Promise<PreparedProgram> {
    const def = runtime.definition;
    const { machine } = context;
    machine.transition('PrepareExecution');
    // Sources named as the compiler needs them, and the entry point (src/runtimes/entry-point.ts).
    const entry = planEntry(def, sent.files);
    const request: NormalizedRequest = { ...sent, files: entry.files };
    const tokens: TokenValues = { ...stageTokens(request, runtime), mainClass: entry.mainClass };
    if (def.compile === undefined) return { request, runtime, tokens, files: request.files, compiled: null, failed: undefined };
    if (slot === undefined) throw new Error('Lifecycle.prepare(): a compiled language needs a slot');
    machine.transition('Compiling');
    const output = outputEvents(context.executionId, context.onEvent);
    const outcome = await compileStage(request, runtime, { backend: this.backend, slot, cache: this.compileCache(), flights: this.flights, tokens, entryProblem: entry.problem, signal: context.signal, onStdout: output('compile', 'stdout'), onStderr: output('compile', 'stderr'), onCompilerRan: () => (this.compiles += 1) });
    if (outcome.artifacts === undefined) return { request, runtime, tokens, files: request.files, compiled: outcome.stage, failed: outcome.status };
    return { request, runtime, tokens, files: mergeArtifacts(request.files, outcome.artifacts), compiled: outcome.stage, failed: undefined };
  }

  /** Processing: one run stage of a prepared program in `slot`, with this input, arguments and
   *  limits. Returns the stage and the program's raw stdout (for comparing with an expected
   *  output whatever the output encoding). Throws CYLO_E_CANCELLED when cancelled. */
  async run(program: PreparedProgram, run: ProgramRun, slot: S, context: RunContext & { executionId: string }): Promise<{ stage: Stage; stdout: Buffer }> {
    const { request, runtime } = program;
    const def = runtime.definition;
    const tokens: TokenValues = { ...program.tokens, args: run.args, memoryBytes: run.limits.memoryBytes };
    const output = outputEvents(context.executionId, context.onEvent, context.testIndex);
    const report = await this.backend.runStage(slot, {
      kind: 'run',
      roots: runtime.roots,
      mounts: runtime.mounts,
      argv: expandArgv(def.run.argv, tokens),
      env: stageEnv(runtime, tokens, 'run', request.env),
      files: withExtraFiles(program.files, run.extraFiles),
      stdin: run.stdin,
      // The run stage only: a compiler's diagnostics stay on their own streams (and in the
      // compile cache, whatever the request that first compiled asked for).
      stderrToStdout: request.redirectStderrToStdout,
      stdinStream: context.stdinStream,
      control: context.control,
      limits: run.limits,
      outputs: run.outputs,
      signal: context.signal,
      onStdout: output('run', 'stdout'),
      onStderr: output('run', 'stderr'),
      prestart: def.prestart,
      preimport: runtime.preimport,
    });
    if (report.stopReason === 'cancelled') throw new CyloError('CYLO_E_CANCELLED', 'execution cancelled by the caller; every process of it was killed');
    return { stage: classifyStage(report, 'run', run.limits, request.outputEncoding), stdout: report.stdout };
  }
}

/** The program's files with `extra` added; an extra file replaces a program file of its name. */
function withExtraFiles(files: BundleFile[], extra: readonly BundleFile[] | undefined): BundleFile[] {
  if (extra === undefined) return files;
  const names = new Set(extra.map((f) => f.name));
  return [...files.filter((f) => !names.has(f.name)), ...extra];
}

/** Output chunk listeners that report `stdout`/`stderr` events of one stage (of one test case). */
function outputEvents(executionId: string, onEvent: RunContext['onEvent'], test?: number) {
  return (stage: 'compile' | 'run', type: 'stdout' | 'stderr') =>
    (data: Buffer): void => onEvent?.(test === undefined ? { type, executionId, stage, data } : { type, executionId, stage, data, test });
}

/** The run stage's output patterns and caps; undefined when the request named none. */
function runOutputs(request: NormalizedRequest): StageSpec['outputs'] {
  const patterns = request.outputs ?? [];
  if (patterns.length === 0) return undefined;
  return { patterns, fileMaxBytes: request.limits.outputFileBytes, totalMaxBytes: request.limits.outputFilesBytes, maxFiles: MAX_OUTPUT_FILES };
}

/** The values runtime templates ({bin}, {entry}, {files}, ...) expand to for this request. */
function stageTokens(request: NormalizedRequest, runtime: ResolvedRuntime): TokenValues {
  const def = runtime.definition;
  const entry = request.files[0]?.name ?? def.entry;
  const sources = request.files.filter((f) => f.name.endsWith(def.extension)).map((f) => f.name);
  return { bin: runtime.binary ?? '', entry, files: sources, args: request.args, compilerOptions: request.compilerOptions, memoryBytes: request.limits.memoryBytes, out: def.compile?.artifact[0], workspace: WORKSPACE };
}
