// One job's run inside a prepared sandbox, as an object rather than closures: it receives what
// the sandbox reports (output chunks, the helper's status lines, the close of bubblewrap),
// enforces the output caps and the watchdog's limits by stopping the sandbox, and when
// bubblewrap has closed, empties the cgroup and resolves with the facts (a StageReport).
// It never decides a status: src/engine/outcome.ts does, from these facts.
import type { SandboxProcess } from './spawner.js';
import type { StageReport, StageSpec } from '../backend/backend.js';
import { CappedCollector } from './capped-output.js';
import type { ExecutionCgroup } from './cgroups.js';
import { parseHelperStatus, workspaceIsFull } from './helper-status.js';
import { killInsideOut } from './kill-inside-out.js';
import { ProgramCpu } from './program-cpu.js';
import { programChildren, signalProgram } from './signal-program.js';
import { decodeOutputBundle, outputStreamMaxBytes } from '../backend/output-bundle.js';
import { Watchdog, type StopReason } from './watchdog.js';

/** Time allowed for the sandbox to start its program (bubblewrap, unpacking the files). */
export const SETUP_TIMEOUT_MS = 10_000;

/** After a run stage with outputs is stopped at a limit, the time its PID 1 has to kill the
 *  rest, read the output files and exit, before the whole sandbox is killed (and no file comes
 *  back). Reading a few MiB from a tmpfs takes milliseconds; this is for a loaded host. */
export const OUTPUTS_GRACE_MS = 5_000;

/** What a prepared sandbox reports, routed to its run. */
export interface SandboxSink {
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
  artifact(chunk: Buffer): void;
  status(line: string): void;
  close(code: number | null, signal: NodeJS.Signals | null): void;
}

export class SandboxRun implements SandboxSink {
  private stopReason: StopReason | null = null;
  private setupError: string | null = null;
  private execError: StageReport['execError'] = null;
  private artifactError: string | null = null;
  private outputsError: string | null = null;
  /** The whole-sandbox kill that follows a stop which left PID 1 alive to read the outputs. */
  private graceTimer: NodeJS.Timeout | undefined;
  private startedAt: number | undefined;
  private endedAt: number | undefined;
  private exit: StageReport['exit'] = null;
  /** Whether the workspace was full when the program ended; undefined until PID 1 says. */
  private workspaceFull: boolean | undefined;
  private killing = false;
  /** Aborted when the run is over: ends a kill sweep still going on. */
  private readonly sweepDone = new AbortController();
  private readonly out: CappedCollector;
  private readonly err: CappedCollector;
  private readonly emitted: CappedCollector | undefined;
  private readonly watchdog: Watchdog;
  /** The program's own CPU time (the cgroup counter minus the sandbox's setup). */
  private readonly cpu: ProgramCpu;
  private readonly onAbort = (): void => this.stop('cancelled');

  constructor(
    private readonly child: SandboxProcess,
    private readonly cgroup: ExecutionCgroup,
    private readonly spec: StageSpec,
    private readonly spawnError: () => Error | undefined,
    private readonly resolve: (report: StageReport) => void,
  ) {
    const { limits, emit } = spec;
    const retain = spec.retainOutput !== false;
    this.out = new CappedCollector(limits.outputBytes, () => this.stop('stdout'), spec.onStdout, retain);
    this.err = new CappedCollector(limits.outputBytes, () => this.stop('stderr'), spec.onStderr, retain);
    // The artifact: read from a pipe (never from the sandbox's filesystem), capped like output.
    this.emitted =
      emit === undefined || emit.paths.length === 0
        ? undefined
        : new CappedCollector(emit.maxBytes + 16, () => {
            this.artifactError ??= `the compiled artifact is larger than ${emit.maxBytes} bytes`;
          });
    if (spec.outputs !== undefined && spec.outputs.patterns.length > 0) {
      // The output files: read from a pipe (never from the sandbox's filesystem), capped at
      // what a helper that obeys the caps can send.
      this.emitted = new CappedCollector(outputStreamMaxBytes(spec.outputs), () => {
        this.outputsError ??= 'the sandbox sent more output file data than the caps allow';
      });
    }
    this.cpu = new ProgramCpu(() => cgroup.cpuMs());
    // The CPU-time limit holds the program's own CPU, not the setup before its exec.
    this.watchdog = new Watchdog({ timeoutMs: limits.timeoutMs, cpuTimeMs: limits.cpuTimeMs, setupTimeoutMs: SETUP_TIMEOUT_MS, cpuMs: () => this.cpu.used(), onStop: (reason) => this.stop(reason) });
    if (spec.signal?.aborted === true) queueMicrotask(this.onAbort);
    else spec.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  stdout(chunk: Buffer): void {
    this.out.push(chunk);
  }

  stderr(chunk: Buffer): void {
    this.err.push(chunk);
  }

  artifact(chunk: Buffer): void {
    this.emitted?.push(chunk);
  }

  status(line: string): void {
    const status = parseHelperStatus(line);
    if (status?.type === 'started') this.programStarted(status.cpuUsec);
    else if (status?.type === 'setup-error') this.setupError = status.message;
    else if (status?.type === 'exec-error') this.execError ??= { errno: status.errno, message: status.message };
    else if (status?.type === 'artifact-error') {
      if (this.spec.outputs === undefined) this.artifactError ??= status.message;
      else this.outputsError ??= status.message;
    }
    else if (status?.type === 'workspace') {
      this.workspaceFull = workspaceIsFull(status.freeBytes, status.freeInodes);
      if ((this.spec.outputs?.patterns.length ?? 0) > 0) this.readingOutputs();
    }
    else if (status?.type === 'exit') {
      this.endedAt ??= performance.now();
      this.watchdog.dispose();
      this.cpu.exited(status.cpuUsec);
      this.exit = { code: status.code, signalNumber: status.signalNumber };
    }
  }

  close(): void {
    void this.finish();
  }

  /** Something the host sets up for the stage before its job (a build's network) failed: the
   *  stage is stopped as a setup failure, nothing of the program ran. */
  setupFailed(message: string): void {
    this.setupError ??= message;
    this.stop('setup');
  }

  /** Stops the sandbox (once): PID 1 first, then bubblewrap if it lingers; the cgroup sweep
   *  makes it certain. The first reason is the one reported. */
  private stop(reason: StopReason): void {
    this.stopReason ??= reason;
    this.endedAt ??= performance.now();
    this.watchdog.dispose();
    if (this.killing) return;
    this.killing = true;
    if (this.stopProgramOnly(reason)) return;
    void killInsideOut(this.child, this.cgroup, this.sweepDone.signal);
  }

  /** A run stage with outputs stopped at a limit: kills only the program (PID 1's children),
   *  so that PID 1 kills and reaps the rest and still streams the output files out; the whole
   *  sandbox is killed if it has not ended OUTPUTS_GRACE_MS later. False when that does not
   *  apply (no outputs, cancellation, setup, the program not started): kill everything now. */
  private stopProgramOnly(reason: StopReason): boolean {
    const bwrap = this.child.pid;
    const patterns = this.spec.outputs?.patterns.length ?? 0;
    if (patterns === 0 || reason === 'cancelled' || reason === 'setup' || this.startedAt === undefined || bwrap === undefined) return false;
    for (const pid of programChildren(bwrap)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.armOutputsGrace();
    return true;
  }

  /** PID 1 reported the workspace ("W"), its last step before it reads the output files: the
   *  program has ended. Its wall-clock time ends here (reading the files is cylo's work, and a
   *  program that exited in time is never a timeout because of it); the read gets
   *  OUTPUTS_GRACE_MS instead of the program's limits. */
  private readingOutputs(): void {
    this.endedAt ??= performance.now();
    this.watchdog.dispose();
    this.armOutputsGrace();
  }

  /** Kills the whole sandbox if it has not ended OUTPUTS_GRACE_MS from now (once). */
  private armOutputsGrace(): void {
    if (this.graceTimer !== undefined) return;
    this.graceTimer = setTimeout(() => {
      this.outputsError ??= `the sandbox did not end within ${OUTPUTS_GRACE_MS} ms after the program ended; it was killed before its output files were read`;
      void killInsideOut(this.child, this.cgroup, this.sweepDone.signal);
    }, OUTPUTS_GRACE_MS);
  }

  private programStarted(cpuUsec: number | null): void {
    this.startedAt = performance.now();
    this.cpu.started(cpuUsec);
    const control = this.spec.control;
    const bwrapPid = this.child.pid;
    if (control !== undefined && bwrapPid !== undefined) {
      control.signal = (sig) => this.endedAt === undefined && signalProgram(bwrapPid, sig);
    }
    this.watchdog.programStarted();
    this.spec.onStart?.();
  }

  private async finish(): Promise<void> {
    this.watchdog.dispose();
    clearTimeout(this.graceTimer);
    this.spec.signal?.removeEventListener('abort', this.onAbort);
    this.endedAt ??= performance.now();
    // Whatever happened, nothing of this sandbox may outlive the run.
    await this.cgroup.killAll();
    // The early sweep started by stop() must end before the cgroup can be reused.
    this.sweepDone.abort();
    const stats = this.cgroup.stats();
    const spawnError = this.spawnError();
    if (this.stopReason === 'setup') this.setupError ??= `the sandbox did not start within ${SETUP_TIMEOUT_MS} ms`;
    if (spawnError !== undefined) this.setupError ??= `cannot start the sandbox helper: ${spawnError.message}`;
    // bubblewrap itself failed (it prints why on stderr) before the helper could report.
    const bwrapFailed = this.startedAt === undefined && this.stopReason === null;
    if (bwrapFailed) this.setupError ??= this.err.buffer().toString('utf8').trim() || `the sandbox exited with code ${this.child.exitCode ?? this.child.signalCode} before the program started`;
    this.resolve({
      stopReason: this.stopReason,
      setupError: this.setupError,
      execError: this.execError,
      exit: this.exit,
      oomKilled: stats.oomKilled,
      pidsLimitHit: stats.pidsLimitHit,
      workspaceFull: this.workspaceFull,
      stdout: bwrapFailed ? Buffer.alloc(0) : this.out.buffer(),
      stderr: bwrapFailed ? Buffer.alloc(0) : this.err.buffer(),
      stdoutTruncated: this.out.truncated,
      stderrTruncated: this.err.truncated,
      wallMs: this.startedAt === undefined ? 0 : round3(Math.max(0, this.endedAt - this.startedAt)),
      cpuMs: round3(this.cpu.total(stats.cpuMs)),
      memoryBytes: stats.memoryPeakBytes,
      ...(this.spec.outputs !== undefined ? this.outputFacts() : this.emitted === undefined ? {} : { artifact: this.emitted.buffer(), artifactError: this.artifactError }),
    });
  }

  /** The output files the stage streamed back, decoded and checked, or why there are none. */
  private outputFacts(): Pick<StageReport, 'outputFiles' | 'outputFilesError'> {
    const caps = this.spec.outputs;
    if (caps === undefined || caps.patterns.length === 0) return { outputFiles: { files: [], skipped: [], listingCut: false }, outputFilesError: null };
    const none = (why: string): Pick<StageReport, 'outputFiles' | 'outputFilesError'> => ({ outputFiles: undefined, outputFilesError: why });
    if (this.stopReason === 'cancelled') return none('not read: the execution was cancelled');
    if (this.setupError !== null) return none('not read: the sandbox could not be set up');
    if (this.outputsError !== null) return none(this.outputsError);
    if (this.exit === null) return none("not read: the sandbox ended before its PID 1 could read them");
    try {
      return { outputFiles: decodeOutputBundle((this.emitted as CappedCollector).buffer(), caps), outputFilesError: null };
    } catch (error) {
      return none((error as Error).message);
    }
  }
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
