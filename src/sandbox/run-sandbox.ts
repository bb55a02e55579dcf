// Runs one sandboxed process to completion: spawns the helper chain with argv arrays, feeds the
// seccomp program, the files and stdin through pipes, collects stdout/stderr under their caps,
// enforces the wall-clock and CPU-time limits, and guarantees that when it resolves no process
// of the sandbox is alive (the cgroup is emptied before the caller removes it).
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { ExecutionStatus } from '../api/result.js';
import { buildOuterArgv, type SandboxPlan } from './bwrap-argv.js';
import type { ExecutionCgroup } from './cgroups.js';
import { signalProgram, type ForwardableSignal } from './signal-program.js';
import { encodeBundle, type BundleFile } from './file-bundle.js';

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

export function runSandbox(options: SandboxRunOptions): Promise<SandboxRunResult> {
  const { plan, limits, cgroup } = options;
  const argv = buildOuterArgv(plan);
  const cores = availableParallelism();

  return new Promise<SandboxRunResult>((resolve) => {
    const emitting = plan.emit !== undefined && plan.emit.paths.length > 0;
    const child = spawn(argv[0] as string, argv.slice(1), {
      // stdin, stdout, stderr, seccomp (3), status (4), bundle (5) and, for compile stages, the
      // artifact coming back out (6)
      stdio: emitting ? ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
      env: {},
      windowsHide: true,
    });
    let stopReason: StopReason | undefined;
    let setupError: string | undefined;
    let startedAt: number | undefined;
    let endedAt: number | undefined;
    let exit: { code: number | null; signal: string | null } | undefined;
    const timers: NodeJS.Timeout[] = [];

    const sweepDone = new AbortController();
    const stop = (reason: StopReason): void => {
      if (stopReason === undefined) stopReason = reason;
      endedAt ??= performance.now();
      // SIGKILL the bubblewrap monitor: with --die-with-parent its PID 1 dies, and the kernel
      // kills every process of the PID namespace. The cgroup sweep below makes it certain.
      child.kill('SIGKILL');
      void cgroup.killAll(sweepDone.signal);
    };

    const stdout = new CappedCollector(limits.outputBytes, () => stop('stdout'), options.onStdout);
    const stderr = new CappedCollector(limits.outputBytes, () => stop('stderr'), options.onStderr);
    (child.stdout as Readable).on('data', (c: Buffer) => stdout.push(c));
    (child.stderr as Readable).on('data', (c: Buffer) => stderr.push(c));
    // The artifact: read from a pipe (never from the sandbox's filesystem), capped like output.
    let artifactError: string | null = null;
    const artifact = emitting
      ? new CappedCollector((plan.emit?.maxBytes ?? 0) + 16, () => {
          artifactError ??= `the compiled artifact is larger than ${plan.emit?.maxBytes ?? 0} bytes`;
        })
      : undefined;
    if (artifact !== undefined) {
      const emitStream = (child.stdio as unknown as Readable[])[6] as Readable;
      emitStream.on('data', (c: Buffer) => artifact.push(c));
      emitStream.on('error', () => {});
    }

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

    // Status protocol from the helper: "R" (program started), "E msg" (setup failed),
    // "X code signal" (program exited).
    let statusBuf = '';
    const statusStream = child.stdio[4] as Readable;
    statusStream.setEncoding('utf8');
    statusStream.on('data', (text: string) => {
      statusBuf += text;
      let nl: number;
      while ((nl = statusBuf.indexOf('\n')) >= 0) {
        const line = statusBuf.slice(0, nl);
        statusBuf = statusBuf.slice(nl + 1);
        if (line === 'R') onProgramStart();
        else if (line.startsWith('E')) setupError = line.slice(1);
        else if (line.startsWith('A')) artifactError ??= line.slice(1);
        else if (line.startsWith('X ')) {
          endedAt ??= performance.now();
          const [, code, sig] = line.split(' ');
          const signum = Number(sig);
          exit = signum > 0 ? { code: null, signal: SIGNAL_NAMES.get(signum) ?? `SIG${signum}` } : { code: Number(code), signal: null };
        }
      }
    });
    statusStream.on('error', () => {});

    const setupTimer = setTimeout(() => {
      setupError ??= `the sandbox did not start within ${options.setupTimeoutMs ?? 10_000} ms`;
      stop('setup');
    }, options.setupTimeoutMs ?? 10_000);

    const stdio = child.stdio as unknown as Writable[];
    writeAll(stdio[3] as Writable, options.seccompProgram === undefined ? [] : [options.seccompProgram]);
    writeAll(stdio[5] as Writable, encodeBundle(options.files));
    if (options.stdinStream === undefined) writeAll(stdio[0] as Writable, [options.stdin]);
    else void pipeInteractive(stdio[0] as Writable, options.stdin, options.stdinStream);

    let spawnError: Error | undefined;
    child.on('error', (error) => {
      spawnError = error;
    });

    child.on('close', (code, signal) => {
      void (async () => {
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
        if (spawnError !== undefined) setupError ??= `cannot start the sandbox helper: ${spawnError.message}`;
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
      })();
    });
  });
}
