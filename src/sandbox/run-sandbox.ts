// Runs one sandboxed process to completion: spawns the helper chain with argv arrays, feeds the
// seccomp program, the files and stdin through pipes, collects stdout/stderr under their caps,
// enforces the wall-clock and CPU-time limits, and guarantees that when it resolves no process
// of the sandbox is alive (the cgroup is emptied before the caller removes it).
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { ExecutionStatus } from '../api/result.js';
import { buildOuterArgv, sandboxKey, type SandboxPlan } from './bwrap-argv.js';
import type { ExecutionCgroup } from './cgroups.js';
import { signalProgram, type ForwardableSignal } from './signal-program.js';
import { encodeBundle, encodeJob, type BundleFile } from './file-bundle.js';

export interface SandboxRunLimits {
  timeoutMs: number;
  cpuTimeMs: number;
  outputBytes: number;
  memoryBytes: number;
  pids: number;
}

export interface SandboxRunOptions {
  plan: SandboxPlan;
  seccompProgram: Buffer | undefined;
  files: readonly BundleFile[];
  stdin: Buffer;
  /** Interactive sessions: more input after `stdin`, written as it arrives; its end closes the
   *  program's stdin. Without it, stdin is closed after `stdin`. */
  stdinStream?: AsyncIterable<Buffer> | undefined;
  /** Filled in when the program has started: lets the caller signal it. */
  control?: SandboxControl | undefined;
  limits: SandboxRunLimits;
  cgroup: ExecutionCgroup;
  signal?: AbortSignal | undefined;
  /** Time allowed for the sandbox to start (bwrap + unpacking files) before the program runs. */
  setupTimeoutMs?: number;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  onStart?: () => void;
}

export interface SandboxControl {
  /** Sends a signal to the running program; false when it is not running. */
  signal?: (signal: ForwardableSignal) => boolean;
}

export interface SandboxRunResult {
  status: ExecutionStatus;
  exitCode: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: Buffer;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  wallMs: number;
  cpuMs: number;
  memoryBytes: number;
  message: string | null;
  /** True when the caller's AbortSignal ended the run. */
  cancelled: boolean;
  /** Compile stages (plan.emit): the artifact bundle PID 1 streamed out after a clean exit. */
  artifact?: Buffer | undefined;
  /** Why the artifact could not be emitted (too large, a link, ...), or null. */
  artifactError?: string | null;
}

const SIGNAL_NAMES = new Map<number, string>(Object.entries(osConstants.signals).map(([name, num]) => [num, name]));

type StopReason = 'timeout' | 'cpu' | 'stdout' | 'stderr' | 'cancelled' | 'setup';

/** Collects a stream up to a byte cap; calls onOverflow once when more arrives. */
class CappedCollector {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(
    private readonly cap: number,
    private readonly onOverflow: () => void,
    private readonly onChunk?: (chunk: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.truncated) return;
    const room = this.cap - this.size;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (kept.length > 0) {
      this.chunks.push(kept);
      this.size += kept.length;
      this.onChunk?.(kept);
    }
    if (chunk.length > room) {
      this.truncated = true;
      this.onOverflow();
    }
  }

  buffer(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

function writeAll(stream: Writable, chunks: readonly Buffer[]): void {
  // EPIPE/ECONNRESET when the program never reads its input is normal, not an error.
  stream.on('error', () => {});
  for (const c of chunks) if (c.length > 0) stream.write(c);
  stream.end();
}

/** Writes the initial stdin, then whatever the stream yields (respecting backpressure), then
 *  closes the program's stdin when the stream ends. */
async function pipeInteractive(stream: Writable, first: Buffer, rest: AsyncIterable<Buffer>): Promise<void> {
  stream.on('error', () => {});
  if (first.length > 0) stream.write(first);
  try {
    for await (const chunk of rest) {
      if (stream.destroyed) return;
      if (!stream.write(chunk)) await new Promise<void>((resolve) => {
        stream.once('drain', resolve);
        stream.once('close', resolve);
      });
    }
  } finally {
    stream.end();
  }
}

type Sink = {
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
  artifact(chunk: Buffer): void;
  status(line: string): void;
  close(code: number | null, signal: NodeJS.Signals | null): void;
};

/**
 * A sandbox started ahead of its job: bubblewrap has set up the namespaces, mounts and seccomp,
 * and the helper (PID 1) waits on the bundle pipe for the job and the files. Starting it takes
 * bubblewrap's few milliseconds, which a pool can spend before the request arrives. It runs
 * exactly one job; until then, whatever it reports is kept and replayed to the run.
 */
/**
 * Kills a running sandbox from the inside out: every process of its cgroup but the bubblewrap
 * monitor first. Its PID 1 dies, the kernel kills the rest of the PID namespace, and bubblewrap,
 * PID 1's parent, reaps it and exits by itself. Killing bubblewrap first (--die-with-parent then
 * kills PID 1) orphans PID 1 to the host's init, and until that init gets round to reaping it
 * (1-2 s on this kind of host, never under an init that does not reap) the zombie still counts in
 * the cgroup's pids.current: the slot's reset waited for it and then retired the slot, so every
 * killed execution (timeout, output limit, cancellation) held a worker ~2 s longer
 * (test/security/hostile-resources.test.ts, test/security/leaks.test.ts). If bubblewrap
 * lingers, it is killed too; the cgroup sweep then makes it certain.
 */
async function killInsideOut(child: ChildProcess, cgroup: ExecutionCgroup, stop: AbortSignal): Promise<void> {
  const bwrap = child.pid;
  let exited = child.exitCode !== null || child.signalCode !== null;
  const onExit = (): void => {
    exited = true;
  };
  child.once('exit', onExit);
  // Until bubblewrap has exited (~1 ms after PID 1 died; an exited PID 1 leaves cgroup.procs
  // before bubblewrap has reaped it, so an empty list is no sign to stop waiting), at most
  // ~160 ms (bubblewrap that has not forked PID 1 yet never exits on its own).
  for (let attempt = 0; attempt < 40 && !exited && bwrap !== undefined; attempt++) {
    const inside = cgroup.pids().filter((pid) => pid !== bwrap);
    for (const pid of inside) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sleep(attempt < 10 ? 1 : 5);
  }
  child.off('exit', onExit);
  if (!exited) child.kill('SIGKILL');
  await cgroup.killAll(stop);
}

export class PreparedSandbox {
  readonly key: string;
  private readonly child: ChildProcess;
  private readonly backlog: Array<(sink: Sink) => void> = [];
  private sink: Sink | undefined;
  private used = false;
  private closed = false;
  private failed = false;
  private spawnError: Error | undefined;

  constructor(
    readonly plan: SandboxPlan,
    seccompProgram: Buffer | undefined,
    readonly cgroup: ExecutionCgroup,
  ) {
    this.key = sandboxKey(plan);
    const argv = buildOuterArgv(plan);
    const emitting = plan.emit !== undefined && plan.emit.paths.length > 0;
    this.child = spawn(argv[0] as string, argv.slice(1), {
      // stdin, stdout, stderr, seccomp (3), status (4), bundle (5) and, for compile stages, the
      // artifact coming back out (6)
      stdio: emitting ? ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
      env: {},
      windowsHide: true,
    });
    const dispatch = (event: (sink: Sink) => void): void => {
      if (this.sink !== undefined) event(this.sink);
      else this.backlog.push(event);
    };
    const stdio = this.child.stdio as unknown as Array<Readable & Writable>;
    (stdio[1] as Readable).on('data', (c: Buffer) => dispatch((s) => s.stdout(c)));
    (stdio[2] as Readable).on('data', (c: Buffer) => dispatch((s) => s.stderr(c)));
    if (emitting) {
      const emitStream = stdio[6] as Readable;
      emitStream.on('data', (c: Buffer) => dispatch((s) => s.artifact(c)));
      emitStream.on('error', () => {});
    }
    let statusBuf = '';
    const statusStream = stdio[4] as Readable;
    statusStream.setEncoding('utf8');
    statusStream.on('data', (text: string) => {
      statusBuf += text;
      let nl: number;
      while ((nl = statusBuf.indexOf('\n')) >= 0) {
        const line = statusBuf.slice(0, nl);
        statusBuf = statusBuf.slice(nl + 1);
        if (line.startsWith('E')) this.failed = true;
        dispatch((s) => s.status(line));
      }
    });
    statusStream.on('error', () => {});
    this.child.on('error', (error) => {
      this.spawnError = error;
      this.failed = true;
    });
    this.child.on('close', (code, signal) => {
      this.closed = true;
      dispatch((s) => s.close(code, signal));
    });
    writeAll(stdio[3] as Writable, seccompProgram === undefined ? [] : [seccompProgram]);
    // A sandbox waiting for its job must not keep the process alive (a library user's script
    // ends when its work is done); run() takes the references back.
    this.setReferenced(false);
  }

  private setReferenced(on: boolean): void {
    if (on) this.child.ref();
    else this.child.unref();
    for (const stream of this.child.stdio) {
      const handle = stream as unknown as { ref?: () => void; unref?: () => void } | null;
      if (on) handle?.ref?.();
      else handle?.unref?.();
    }
  }

  /** True while it waits for its job, healthy. */
  get ready(): boolean {
    return !this.used && !this.closed && !this.failed;
  }

  /** Kills a sandbox that will not be used (its plan does not fit, or its slot is reset or
   *  destroyed): its processes first, so that bubblewrap reaps its PID 1 and exits at once. */
  async discard(): Promise<void> {
    this.used = true;
    await killInsideOut(this.child, this.cgroup, new AbortController().signal);
  }

  /** The same, synchronously and without waiting (at process exit). */
  discardNow(): void {
    this.used = true;
    this.child.kill('SIGKILL');
  }

  /** Runs the job of `options.plan` (which must have this sandbox's key) to completion. */
  run(options: Omit<SandboxRunOptions, 'seccompProgram' | 'cgroup'>): Promise<SandboxRunResult> {
    if (this.used) throw new Error('a prepared sandbox runs one job only');
    if (sandboxKey(options.plan) !== this.key) throw new Error('the plan does not match this prepared sandbox');
    this.used = true;
    this.setReferenced(true);
    const { plan, limits } = options;
    const { child, cgroup } = this;
    const cores = availableParallelism();

    return new Promise<SandboxRunResult>((resolve) => {
      let stopReason: StopReason | undefined;
      let setupError: string | undefined;
      let startedAt: number | undefined;
      let endedAt: number | undefined;
      let exit: { code: number | null; signal: string | null } | undefined;
      const timers: NodeJS.Timeout[] = [];

      const sweepDone = new AbortController();
      let killing = false;
      const stop = (reason: StopReason): void => {
        if (stopReason === undefined) stopReason = reason;
        endedAt ??= performance.now();
        if (killing) return;
        killing = true;
        // PID 1 first, then bubblewrap if it lingers; the cgroup sweep makes it certain.
        void killInsideOut(child, cgroup, sweepDone.signal);
      };

      const stdout = new CappedCollector(limits.outputBytes, () => stop('stdout'), options.onStdout);
      const stderr = new CappedCollector(limits.outputBytes, () => stop('stderr'), options.onStderr);
      // The artifact: read from a pipe (never from the sandbox's filesystem), capped like output.
      let artifactError: string | null = null;
      const emitting = plan.emit !== undefined && plan.emit.paths.length > 0;
      const artifact = emitting
        ? new CappedCollector((plan.emit?.maxBytes ?? 0) + 16, () => {
            artifactError ??= `the compiled artifact is larger than ${plan.emit?.maxBytes ?? 0} bytes`;
          })
        : undefined;

      const onAbort = (): void => stop('cancelled');
      if (options.signal !== undefined) {
        if (options.signal.aborted) queueMicrotask(onAbort);
        else options.signal.addEventListener('abort', onAbort, { once: true });
      }

      const checkCpu = (): void => {
        if (stopReason !== undefined || endedAt !== undefined) return;
        const used = cgroup.cpuMs();
        if (used >= limits.cpuTimeMs) {
          stop('cpu');
          return;
        }
        // CPU time grows at most `cores` ms per ms of wall time: sleep until it could be reached.
        timers.push(setTimeout(checkCpu, Math.max(5, Math.min(250, (limits.cpuTimeMs - used) / cores))));
      };

      const setupTimer = setTimeout(() => {
        setupError ??= `the sandbox did not start within ${options.setupTimeoutMs ?? 10_000} ms`;
        stop('setup');
      }, options.setupTimeoutMs ?? 10_000);

      const onProgramStart = (): void => {
        startedAt = performance.now();
        clearTimeout(setupTimer);
        if (options.control !== undefined && child.pid !== undefined) {
          const bwrapPid = child.pid;
          options.control.signal = (sig) => endedAt === undefined && signalProgram(bwrapPid, sig);
        }
        options.onStart?.();
        timers.push(setTimeout(() => stop('timeout'), limits.timeoutMs));
        checkCpu();
      };

      const finish = async (code: number | null, signal: NodeJS.Signals | null): Promise<void> => {
        clearTimeout(setupTimer);
        for (const t of timers) clearTimeout(t);
        options.signal?.removeEventListener('abort', onAbort);
        endedAt ??= performance.now();
        // Whatever happened, nothing of this sandbox may outlive the run.
        await cgroup.killAll();
        // The early sweep started by stop() must end before the cgroup can be reused.
        sweepDone.abort();
        const stats = cgroup.stats();
        const wallMs = startedAt === undefined ? 0 : Math.max(0, endedAt - startedAt);
        const bwrapFailed = startedAt === undefined && stopReason === undefined;
        if (this.spawnError !== undefined) setupError ??= `cannot start the sandbox helper: ${this.spawnError.message}`;
        if (bwrapFailed) setupError ??= stderr.buffer().toString('utf8').trim() || `the sandbox exited with code ${code ?? signal} before the program started`;
        let status: ExecutionStatus;
        let message: string | null = null;
        if (stopReason === 'cancelled') {
          status = 'internal_error';
          message = 'cancelled by the caller';
        } else if (setupError !== undefined) {
          status = 'internal_error';
          message = `sandbox setup failed: ${setupError}`;
        } else if (stopReason === 'stdout' || stopReason === 'stderr') {
          status = 'output_limit';
          message = `${stopReason} exceeded the output limit of ${limits.outputBytes} bytes; the program was stopped`;
        } else if (stopReason === 'timeout') {
          status = 'timeout';
          message = `wall-clock time limit of ${limits.timeoutMs} ms exceeded; the program was killed`;
        } else if (stopReason === 'cpu') {
          status = 'timeout';
          message = `CPU time limit of ${limits.cpuTimeMs} ms exceeded; the program was killed`;
        } else if (stats.oomKilled) {
          status = 'memory_limit';
          message = `memory limit of ${limits.memoryBytes} bytes exceeded; the program was killed`;
        } else if (exit === undefined) {
          status = 'internal_error';
          message = 'the sandbox ended without reporting the program exit status';
        } else if (exit.code === 0) {
          status = 'ok';
        } else {
          status = 'runtime_error';
        }
        resolve({
          status,
          exitCode: exit?.code ?? null,
          signal: exit?.signal ?? (stopReason !== undefined && stopReason !== 'setup' ? 'SIGKILL' : null),
          stdout: bwrapFailed ? Buffer.alloc(0) : stdout.buffer(),
          stderr: bwrapFailed ? Buffer.alloc(0) : stderr.buffer(),
          stdoutTruncated: stdout.truncated,
          stderrTruncated: stderr.truncated,
          wallMs: Math.round(wallMs * 1000) / 1000,
          cpuMs: Math.round(stats.cpuMs * 1000) / 1000,
          memoryBytes: stats.memoryPeakBytes,
          message,
          cancelled: stopReason === 'cancelled',
          ...(artifact === undefined ? {} : { artifact: status === 'ok' && artifactError === null ? artifact.buffer() : undefined, artifactError }),
        });
      };

      // Status protocol from the helper: "R" (program started), "E msg" (setup failed),
      // "A msg" (artifact refused), "X code signal" (program exited).
      this.sink = {
        stdout: (c) => stdout.push(c),
        stderr: (c) => stderr.push(c),
        artifact: (c) => artifact?.push(c),
        status: (line) => {
          if (line === 'R') onProgramStart();
          else if (line.startsWith('E')) setupError = line.slice(1);
          else if (line.startsWith('A')) artifactError ??= line.slice(1);
          else if (line.startsWith('X ')) {
            endedAt ??= performance.now();
            const [, code, sig] = line.split(' ');
            const signum = Number(sig);
            exit = signum > 0 ? { code: null, signal: SIGNAL_NAMES.get(signum) ?? `SIG${signum}` } : { code: Number(code), signal: null };
          }
        },
        close: (code, signal) => void finish(code, signal),
      };
      for (const event of this.backlog.splice(0)) event(this.sink);

      const stdio = child.stdio as unknown as Writable[];
      writeAll(stdio[5] as Writable, [encodeJob(plan), ...encodeBundle(options.files)]);
      if (options.stdinStream === undefined) writeAll(stdio[0] as Writable, [options.stdin]);
      else void pipeInteractive(stdio[0] as Writable, options.stdin, options.stdinStream);
    });
  }
}

/** Starts a sandbox for `options.plan` and runs its job (no pre-started sandbox). */
export function runSandbox(options: SandboxRunOptions): Promise<SandboxRunResult> {
  return new PreparedSandbox(options.plan, options.seccompProgram, options.cgroup).run(options);
}
