// One stage in a guest VM: the stage frame (the namespace helper's inner argv, the guest cgroup's
// limits), the job and files, stdin; then what the guest sends back (output, the helper's status
// lines, the artifact or output files, the stage's end with its cgroup counters), under the
// output caps and the wall-clock limit held from the host. Any stop (a limit, a cancellation)
// destroys the whole VM: it was single-use anyway, and a VM killed from the host needs nothing of
// the guest to cooperate. Resolves with the facts (a StageReport); src/engine/outcome.ts decides.
import type { StageReport, StageSpec } from '../backend/backend.js';
import { CappedCollector } from '../sandbox/capped-output.js';
import { LineSplitter, parseHelperStatus, workspaceIsFull } from '../sandbox/helper-status.js';
import { ProgramCpu } from '../sandbox/program-cpu.js';
import { Watchdog, type StopReason } from '../sandbox/watchdog.js';
import { decodeOutputBundle, outputStreamMaxBytes } from '../backend/output-bundle.js';
import { encodeChunks, encodeFrame, parseDone, type GuestChannel, type StageDone } from './channel.js';
import type { GuestVm } from './vm.js';
import { signalNumber } from '../util/signals.js';

/** Time a VM has to start the program once the stage is sent (unpacking files, the helper). */
export const VM_SETUP_TIMEOUT_MS = 30_000;

export class VmStageRun {
  private stopReason: StopReason | null = null;
  private setupError: string | null = null;
  private isolationLost: string | null = null;
  private execError: StageReport['execError'] = null;
  private artifactError: string | null = null;
  private exit: StageReport['exit'] = null;
  private workspaceFull: boolean | undefined;
  private done: StageDone | null = null;
  private startedAt: number | undefined;
  private endedAt: number | undefined;
  private finished = false;
  private readonly lines = new LineSplitter();
  private readonly out: CappedCollector;
  private readonly err: CappedCollector;
  private readonly emitted: CappedCollector | undefined;
  /** The guest stage cgroup's CPU counter as last reported ('C' frames), in ms. */
  private cpuNowMs = 0;
  private readonly cpu = new ProgramCpu(() => this.cpuNowMs);
  private readonly watchdog: Watchdog;
  private readonly onAbort = (): void => this.stop('cancelled');

  constructor(
    private readonly vm: GuestVm,
    private readonly spec: StageSpec,
    private readonly resolve: (report: StageReport) => void,
  ) {
    const { limits, emit, outputs } = spec;
    const retain = spec.retainOutput !== false;
    this.out = new CappedCollector(limits.outputBytes, () => this.stop('stdout'), spec.onStdout, retain);
    this.err = new CappedCollector(limits.outputBytes, () => this.stop('stderr'), spec.onStderr, retain);
    if (emit !== undefined && emit.paths.length > 0) {
      this.emitted = new CappedCollector(emit.maxBytes + 16, () => (this.artifactError ??= `the compiled artifact is larger than ${emit.maxBytes} bytes`));
    } else if (outputs !== undefined && outputs.patterns.length > 0) {
      this.emitted = new CappedCollector(outputStreamMaxBytes(outputs), () => (this.artifactError ??= 'the guest sent more output file data than the caps allow'));
    }
    // The wall-clock limit from the host; the CPU-time limit from the host too, held against the
    // guest stage cgroup's counter the agent reports about 4 times a second (a guest that lies
    // about it still meets the wall-clock limit), behind the guest's RLIMIT_CPU per process.
    this.watchdog = new Watchdog({ timeoutMs: limits.timeoutMs, cpuTimeMs: limits.cpuTimeMs, setupTimeoutMs: VM_SETUP_TIMEOUT_MS, cpuMs: () => this.cpu.used(), onStop: (r) => this.stop(r) });
    if (spec.signal?.aborted === true) queueMicrotask(this.onAbort);
    else spec.signal?.addEventListener('abort', this.onAbort, { once: true });
    vm.onEnd((reason) => {
      if (this.stopReason === null && this.done === null) this.isolationLost ??= reason;
      this.finish();
    });
  }

  /** Sends the stage, its job and files, and its input. */
  start(stageFrame: Buffer, jobAndFiles: Buffer[]): void {
    this.vm.setSink((channel, payload) => this.frame(channel, payload));
    const frames = [encodeFrame('S', stageFrame)];
    for (const part of jobAndFiles) frames.push(...encodeChunks('B', part));
    frames.push(encodeFrame('b'), ...encodeChunks('I', this.spec.stdin));
    this.vm.send(frames);
    if (this.spec.stdinStream === undefined) this.vm.send([encodeFrame('i')]);
    else void this.pumpStdin(this.spec.stdinStream);
  }

  private async pumpStdin(stream: AsyncIterable<Buffer>): Promise<void> {
    try {
      for await (const chunk of stream) {
        if (this.finished || !this.vm.send(encodeChunks('I', chunk))) return;
      }
    } catch {
      // the caller's stream failed: its end closes the program's stdin all the same
    }
    this.vm.send([encodeFrame('i')]);
  }

  private frame(channel: GuestChannel, payload: Buffer): void {
    if (channel === 'O') this.out.push(payload);
    else if (channel === 'E') this.err.push(payload);
    else if (channel === 'A') this.emitted?.push(payload);
    else if (channel === 'C') {
      const usec = /^\d{1,18}$/.test(payload.toString('latin1')) ? Number(payload.toString('latin1')) : null;
      if (usec !== null) this.cpuNowMs = usec / 1000;
    }
    else if (channel === 'T') for (const line of this.lines.push(payload.toString('utf8'))) this.status(line);
    else if (channel === 'F') this.setupError ??= `the guest agent failed: ${payload.toString('utf8').slice(0, 500)}`;
    else if (channel === 'D') {
      this.done = parseDone(payload);
      if (this.done === null) this.isolationLost ??= 'the guest agent sent a malformed end of stage';
      this.finish();
    }
  }

  private status(line: string): void {
    const s = parseHelperStatus(line);
    if (s?.type === 'started') {
      this.startedAt = performance.now();
      this.cpu.started(s.cpuUsec);
      this.watchdog.programStarted();
      this.enableSignals();
      this.spec.onStart?.();
    } else if (s?.type === 'setup-error') this.setupError ??= s.message;
    else if (s?.type === 'exec-error') this.execError ??= { errno: s.errno, message: s.message };
    else if (s?.type === 'artifact-error') this.artifactError ??= s.message;
    else if (s?.type === 'workspace') {
      this.endedAt ??= performance.now();
      this.watchdog.dispose();
      this.workspaceFull = workspaceIsFull(s.freeBytes, s.freeInodes);
    } else if (s?.type === 'exit') {
      this.endedAt ??= performance.now();
      this.watchdog.dispose();
      this.cpu.exited(s.cpuUsec);
      this.exit = { code: s.code, signalNumber: s.signalNumber };
    }
  }

  /** control.signal, once the program runs: a 'G' frame with the signal's number; the agent
   *  signals the program in the guest (native/guest/agent.c forward_signal, the same list of
   *  signals and the same target as src/sandbox/signal-program.ts). False once the program
   *  ended or the VM is gone. */
  private enableSignals(): void {
    const control = this.spec.control;
    if (control === undefined) return;
    control.signal = (sig) => {
      const num = signalNumber(sig);
      if (num === undefined || this.finished || this.exit !== null || this.stopReason !== null) return false;
      return this.vm.send([encodeFrame('G', Buffer.from(String(num), 'latin1'))]);
    };
  }

  /** Stops the stage by destroying the VM (once); the first reason is the one reported. */
  private stop(reason: StopReason): void {
    this.stopReason ??= reason;
    this.endedAt ??= performance.now();
    this.watchdog.dispose();
    void this.vm.destroy();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.watchdog.dispose();
    this.vm.setSink(undefined);
    this.spec.signal?.removeEventListener('abort', this.onAbort);
    this.endedAt ??= performance.now();
    if (this.stopReason === 'setup') this.setupError ??= `the guest did not start the program within ${VM_SETUP_TIMEOUT_MS} ms`;
    this.resolve({
      stopReason: this.stopReason,
      setupError: this.setupError,
      execError: this.execError,
      isolationLost: this.isolationLost,
      exit: this.exit,
      oomKilled: (this.done?.oomKills ?? 0) > 0,
      pidsLimitHit: this.done === null ? undefined : this.done.pidsMax > 0,
      workspaceFull: this.workspaceFull,
      stdout: this.out.buffer(),
      stderr: this.err.buffer(),
      stdoutTruncated: this.out.truncated,
      stderrTruncated: this.err.truncated,
      wallMs: this.startedAt === undefined ? 0 : Math.round((this.endedAt - this.startedAt) * 1000) / 1000,
      cpuMs: Math.round(this.cpu.total(this.cpuNowMs) * 1000) / 1000,
      memoryBytes: this.done?.memoryPeakBytes ?? 0,
      ...this.emittedFacts(),
    });
  }

  private emittedFacts(): Partial<StageReport> {
    const { emit, outputs } = this.spec;
    if (outputs !== undefined) {
      if (outputs.patterns.length === 0) return { outputFiles: { files: [], skipped: [], listingCut: false }, outputFilesError: null };
      const none = (why: string): Partial<StageReport> => ({ outputFiles: undefined, outputFilesError: why });
      if (this.stopReason !== null) return none(`not read: the stage was stopped (${this.stopReason}) and its VM destroyed`);
      if (this.artifactError !== null) return none(this.artifactError);
      if (this.exit === null || this.done === null) return none('not read: the VM ended before the output files came back');
      try {
        return { outputFiles: decodeOutputBundle((this.emitted as CappedCollector).buffer(), outputs), outputFilesError: null };
      } catch (error) {
        return none((error as Error).message);
      }
    }
    if (emit === undefined || emit.paths.length === 0) return {};
    return { artifact: this.emitted?.buffer() ?? Buffer.alloc(0), artifactError: this.artifactError };
  }
}
