// The compile stage of a compiled language: a compile-cache hit skips it; otherwise the
// compiler runs through the backend as a stage of its own, with its own limits
// (compileTimeoutMs, compileMemoryBytes, more processes for multi-threaded compilers), and the
// backend streams the artifact back out. The host never reads the isolated filesystem; the
// cache stores only the bytes that came through the pipe (the artifact, and the compiler's
// output and exit code, so that a hit reports the same diagnostics).
// Identical compiles (same cache key, same compile limits) in progress at the same time run once
// (single-flight.ts): the others report the first one's stage as `cached: true`.
import { availableParallelism } from 'node:os';
import type { NormalizedRequest } from '../api/request.js';
import type { ExecutionStatus, Stage } from '../api/result.js';
import type { BackendSlot, SandboxBackend, StageLimits, StageReport, StageSpec } from '../backend/backend.js';
import { CyloError } from '../errors.js';
import type { ResolvedRuntime } from '../runtimes/registry.js';
import { expandArgv, type TokenValues } from '../runtimes/tokens.js';
import { decodeBundle, type BundleFile } from '../backend/file-bundle.js';
import { compileCacheKey, type CompileCache } from './compile-cache.js';
import type { CompileDiagnostics } from './compile-cache-entry.js';
import type { OutputEncoding } from '../api/output-encoding.js';
import { classifyStage } from './outcome.js';
import { SingleFlight } from './single-flight.js';
import { unrunnableArtifact } from './artifact-check.js';
import { unrunnableCompileStage } from './outcome.js';
import { stageEnv } from './stage-env.js';

/** Processes and threads a compile stage may have at once (go build, rustc and javac are
 *  multi-threaded); never fewer than the run stage gets. */
export const COMPILE_PIDS = 256;

/** What a compile stage hands to the run stage. */
export interface CompileOutcome {
  stage: Stage;
  /** The artifact files; undefined when the compile failed (the execution ends there). */
  artifacts: BundleFile[] | undefined;
  /** The execution's status when the compile failed. */
  status: ExecutionStatus;
}

export interface CompileContext {
  backend: SandboxBackend;
  slot: BackendSlot;
  cache: CompileCache | undefined;
  /** Compiles in progress, shared by every execution of one cylo (see compileFlights()). */
  flights: SingleFlight<SharedCompile>;
  tokens: TokenValues;
  /** Why the sources have no entry point the run stage can start (src/runtimes/entry-point.ts):
   *  a compile that succeeds is then a compile_error saying so, and is not cached. */
  entryProblem?: string | undefined;
  signal?: AbortSignal | undefined;
  onStdout?: StageSpec['onStdout'];
  onStderr?: StageSpec['onStderr'];
  /** Called when the compiler really runs (not a cache hit, not a shared compile): counted. */
  onCompilerRan?: (() => void) | undefined;
}

/** A compile's outcome as another execution may reuse it: the outcome and the compiler's raw
 *  output (replayed as that execution's compile output events). */
export interface SharedCompile {
  outcome: CompileOutcome;
  diagnostics: CompileDiagnostics;
}

const cancelled = (): CyloError => new CyloError('CYLO_E_CANCELLED', 'execution cancelled by the caller; every process of it was killed');

/** The single-flight registry of compiles, one per cylo instance. */
export function compileFlights(): SingleFlight<SharedCompile> {
  return new SingleFlight<SharedCompile>(cancelled);
}

/** Parent directories of the artifacts, created before the compiler runs (compilers rarely
 *  create the directory of their -o path themselves). */
export function artifactParents(artifacts: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const a of artifacts) {
    const parts = a.split('/');
    for (let k = 1; k < parts.length; k++) dirs.add(parts.slice(0, k).join('/'));
  }
  return [...dirs].sort((a, b) => a.length - b.length);
}

/** Request files plus artifacts: an artifact replaces a request file of the same name, and a
 *  request file cannot sit where the artifacts need a directory. */
export function mergeArtifacts(files: readonly BundleFile[], artifacts: readonly BundleFile[]): BundleFile[] {
  const taken = new Set<string>();
  for (const a of artifacts) {
    const parts = a.name.split('/');
    for (let k = 1; k <= parts.length; k++) taken.add(parts.slice(0, k).join('/'));
  }
  return [...files.filter((f) => !taken.has(f.name) && !artifacts.some((a) => f.name.startsWith(`${a.name}/`))), ...artifacts];
}

/** The limits of a compile stage: the request's, with the compile-specific ones. */
export function compileLimits(request: NormalizedRequest): StageLimits {
  const l = request.limits;
  return { ...l, timeoutMs: l.compileTimeoutMs, cpuTimeMs: l.compileTimeoutMs * availableParallelism(), memoryBytes: l.compileMemoryBytes, pids: Math.max(COMPILE_PIDS, l.pids) };
}

/** Runs (or skips, on a cache hit or an identical compile in progress) the compile stage.
 *  Throws CYLO_E_CANCELLED when this execution is cancelled. */
export async function compileStage(request: NormalizedRequest, runtime: ResolvedRuntime, ctx: CompileContext): Promise<CompileOutcome> {
  const def = runtime.definition;
  if (def.compile === undefined) throw new Error('compileStage() called for an interpreted language');
  const key = compileCacheKey({ language: def.id, toolchain: runtime.fingerprint, compile: { compile: def.compile, env: def.env, compilerOptions: request.compilerOptions }, files: request.files });
  const limits = compileLimits(request);
  // The limits are part of what makes two compiles identical: a compile that failed under
  // other limits says nothing about this one.
  // So is the output encoding: the shared stage's text is in the leader's encoding.
  const flightKey = `${key}:${request.outputEncoding}:${JSON.stringify(limits)}`;
  // Shared: every outcome but cylo's own fault (internal_error; a cancellation or a host
  // failure throws, and is never shared either): the waiters then compile themselves.
  const { value, shared } = await ctx.flights.run(flightKey, () => compileOrHit(request, runtime, ctx, key, limits), (v) => v.outcome.status !== 'internal_error', ctx.signal);
  if (!shared) return value.outcome;
  // Another execution compiled it: this one spent nothing, and says what that compile said.
  replay(value.diagnostics, ctx);
  return { ...value.outcome, stage: { ...value.outcome.stage, wallMs: 0, cpuMs: 0, memoryBytes: 0, cached: true } };
}

/** The stage of a compile that did not run here: the stored diagnostics, classified like any
 *  stage's facts, with zero times (nothing was spent) and `cached: true`. */
export function skippedCompileStage(d: CompileDiagnostics, limits: StageLimits, encoding: OutputEncoding): Stage {
  const report: StageReport = { stopReason: null, setupError: null, exit: { code: d.exitCode, signalNumber: null }, oomKilled: false, stdout: d.stdout, stderr: d.stderr, stdoutTruncated: d.stdoutTruncated, stderrTruncated: d.stderrTruncated, wallMs: 0, cpuMs: 0, memoryBytes: 0 };
  return { ...classifyStage(report, 'compile', limits, encoding), cached: true };
}

/** The compiler's output as live events, for an execution that did not run it. */
function replay(d: CompileDiagnostics, ctx: CompileContext): void {
  if (d.stdout.length > 0) ctx.onStdout?.(d.stdout);
  if (d.stderr.length > 0) ctx.onStderr?.(d.stderr);
}

/** The leader's part: a cache hit, or the compile itself (then stored in the cache). */
async function compileOrHit(request: NormalizedRequest, runtime: ResolvedRuntime, ctx: CompileContext, key: string, limits: StageLimits): Promise<SharedCompile> {
  const def = runtime.definition;
  const compile = def.compile;
  if (compile === undefined) throw new Error('compileOrHit() called for an interpreted language');
  const decodeLimits = { maxBytes: request.limits.workspaceBytes + 16, maxFiles: 100_000 };
  // The run stage's program (argv[0]); when it is an artifact, the artifact must be runnable.
  const program = expandArgv(def.run.argv.slice(0, 1), ctx.tokens)[0] ?? '';
  const hit = ctx.entryProblem === undefined ? await ctx.cache?.get(key) : undefined;
  if (hit !== undefined) {
    try {
      const artifacts = decodeBundle(hit.artifact, decodeLimits);
      // an entry that is not runnable (cached by an older cylo) is a miss: compiled again below
      if (unrunnableArtifact(program, compile.artifact, artifacts) === null) {
        replay(hit.diagnostics, ctx);
        return { outcome: { stage: skippedCompileStage(hit.diagnostics, limits, request.outputEncoding), artifacts, status: 'ok' }, diagnostics: hit.diagnostics };
      }
    } catch {
      // an entry that does not decode is a miss (it is replaced below)
    }
  }
  ctx.onCompilerRan?.();
  const report = await runCompiler(request, runtime, ctx, limits);
  const diagnostics: CompileDiagnostics = { exitCode: report.exit?.code ?? -1, stdout: report.stdout, stderr: report.stderr, stdoutTruncated: report.stdoutTruncated, stderrTruncated: report.stderrTruncated };
  let outcome = collect(report, runtime, limits, decodeLimits, request.outputEncoding);
  if (outcome.artifacts !== undefined) {
    // Nothing runnable (go build of a non-main package): a compile_error, and never cached.
    const unrunnable = ctx.entryProblem ?? unrunnableArtifact(program, compile.artifact, outcome.artifacts);
    const hint = ctx.entryProblem === undefined ? compile.notRunnableHint : undefined;
    if (unrunnable !== null) outcome = { stage: unrunnableCompileStage(outcome.stage, unrunnable, hint), artifacts: undefined, status: 'compile_error' };
  }
  // Written by this process only, from the bytes that came through the pipe.
  if (outcome.artifacts !== undefined && ctx.cache !== undefined && report.artifact !== undefined) await ctx.cache.put(key, { diagnostics, artifact: report.artifact });
  return { outcome, diagnostics };
}

/** Runs the compiler in the slot. Throws CYLO_E_CANCELLED when cancelled. */
async function runCompiler(request: NormalizedRequest, runtime: ResolvedRuntime, ctx: CompileContext, limits: StageLimits): Promise<StageReport> {
  const compile = runtime.definition.compile;
  if (compile === undefined) throw new Error('runCompiler() called for an interpreted language');
  const tokens: TokenValues = { ...ctx.tokens, memoryBytes: limits.memoryBytes };
  const mkdirs = artifactParents(compile.artifact);
  const report = await ctx.backend.runStage(ctx.slot, {
    kind: 'compile',
    roots: runtime.roots,
    mounts: runtime.mounts,
    argv: expandArgv(compile.argv, tokens),
    env: stageEnv(runtime, tokens, 'compile', {}),
    files: request.files.filter((f) => !mkdirs.includes(f.name)),
    mkdirs,
    stdin: Buffer.alloc(0),
    limits,
    emit: { paths: compile.artifact, maxBytes: request.limits.workspaceBytes },
    signal: ctx.signal,
    onStdout: ctx.onStdout,
    onStderr: ctx.onStderr,
  });
  if (report.stopReason === 'cancelled') throw cancelled();
  return report;
}

/** The outcome of a compile that ran: its stage, and the artifacts when it succeeded. */
function collect(report: StageReport, runtime: ResolvedRuntime, limits: StageLimits, decodeLimits: { maxBytes: number; maxFiles: number }, encoding: OutputEncoding): CompileOutcome {
  const stage: Stage = { ...classifyStage(report, 'compile', limits, encoding), cached: false };
  // A compiler that failed (or hit a limit) ends the execution: no run stage.
  if (stage.status !== 'ok') return { stage, artifacts: undefined, status: stage.status === 'internal_error' ? 'internal_error' : 'compile_error' };
  let artifacts: BundleFile[] | undefined;
  let problem = report.artifactError ?? null;
  if (problem === null) {
    try {
      artifacts = decodeBundle(report.artifact ?? Buffer.alloc(0), decodeLimits);
      if (artifacts.length === 0) problem = `the compiler produced nothing at ${runtime.definition.compile?.artifact.join(', ') ?? ''}`;
    } catch (error) {
      problem = (error as Error).message;
    }
  }
  if (artifacts === undefined || problem !== null) {
    return { stage: { ...stage, status: 'compile_error', message: `the compiler exited 0 but its output could not be collected: ${problem ?? 'unknown error'}` }, artifacts: undefined, status: 'compile_error' };
  }
  return { stage, artifacts, status: 'ok' };
}
