// One session: a long-lived run stage of a small driver program (driver-python.ts,
// driver-javascript.ts) in a sandbox of its own slot (a uid and a cgroup that no execution
// shares), kept alive between runs. Requests are written to the driver's stdin and answered on
// its stdout (protocol.ts); one request at a time, in order. The stage's limits are the
// session's (memory, pids, workspace; timeoutMs is its lifetime); a run's wall time is held by
// a host timer that interrupts the driver (SIGINT) and ends the whole session when it does not
// come back within a grace. When the stage ends for any reason, every process is killed, the
// cgroup removed and the uid freed (the slot is destroyed): nothing of a session outlives it.
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { SandboxBackend, StageLimits, StageReport, StageControl } from '../backend/backend.js';
import { WORKSPACE } from '../backend/backend.js';
import type { NamespaceSlot } from '../sandbox/namespace-backend.js';
import { CyloError } from '../errors.js';
import { classifySessionEnd, classifySessionRun, type SessionEnd, type SessionEndReason } from '../engine/outcome.js';
import { stageEnv } from '../engine/stage-env.js';
import { InputQueue } from '../engine/interactive.js';
import type { ResolvedRuntime } from '../runtimes/registry.js';
import { AnswerReader, encodeRequest, maxAnswerBytes, type DriverAnswer, type DriverRequest } from './protocol.js';
import { driverArgv } from './drivers.js';
import type { SessionFile, SessionLimits, SessionRunResult } from './types.js';

export type { SessionEnd, SessionEndReason };

/** Bytes the driver may write on its answer channel over the whole session (counted, not kept). */
const CHANNEL_BYTES = 1024 ** 3;
/** How long an interrupted run has to come back before the session is ended. */
export const INTERRUPT_GRACE_MS = 2000;
/** How long the driver has to answer a ping or a file operation. */
const OP_TIMEOUT_MS = 30_000;

export interface SessionSetup {
  backend: SandboxBackend<NamespaceSlot>;
  slot: NamespaceSlot;
  runtime: ResolvedRuntime;
  limits: SessionLimits;
  lifetimeMs: number;
  fileMaxBytes: number;
  /** Called once, when the session has ended and its slot is destroyed. */
  onEnd: (session: Session) => void;
}

type Pending = { id: number; resolve: (a: DriverAnswer) => void };

export class Session {
  /** 128 random bits, URL-safe: unguessable. */
  readonly id = randomBytes(16).toString('base64url');
  readonly language: string;
  readonly createdAt = Date.now();
  private readonly input = new InputQueue();
  private readonly control: StageControl = {};
  private readonly stop = new AbortController();
  private requested: { reason: SessionEndReason; message: string } | null = null;
  private endState: SessionEnd | undefined;
  private readonly stageDone: Promise<SessionEnd>;
  private pending: Pending | undefined;
  private nextId = 1;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly stageLimits: StageLimits;
  private driverStderr = '';

  constructor(private readonly setup: SessionSetup) {
    this.language = setup.runtime.definition.id;
    const { limits } = setup;
    // timeoutMs is the session's lifetime; CPU is bounded by it on every core (a run's own
    // wall time is the host timer's); output is the answer channel's budget, not kept.
    this.stageLimits = { timeoutMs: setup.lifetimeMs, cpuTimeMs: setup.lifetimeMs * availableParallelism(), memoryBytes: limits.memoryBytes, pids: limits.pids, workspaceBytes: limits.workspaceBytes, outputBytes: CHANNEL_BYTES };
    this.stageDone = this.runStage();
  }

  /** Why the session ended, or undefined while it is alive. */
  get ended(): SessionEnd | undefined {
    return this.endState;
  }

  /** Resolves once the driver answers (the sandbox works); rejects when it never does. */
  async ready(): Promise<void> {
    const answer = await this.request({ id: 0, op: 'ping' }, OP_TIMEOUT_MS);
    if (answer === undefined) {
      const end = await this.stageDone;
      throw new CyloError('CYLO_E_INTERNAL', `the session could not start: ${end.message}${this.driverStderr === '' ? '' : ` (driver: ${this.driverStderr.slice(-500)})`}`);
    }
  }

  private async runStage(): Promise<SessionEnd> {
    const { backend, slot, runtime, limits } = this.setup;
    const caps = { textChars: limits.outputBytes, contentChars: Math.ceil((this.setup.fileMaxBytes * 4) / 3) + 4 };
    const reader = new AnswerReader(caps, maxAnswerBytes(caps), (a) => this.answered(a), (problem) => this.end('crashed', `the session crashed: ${problem}; its sandbox was destroyed`));
    const tokens = { bin: runtime.binary ?? '', entry: '', files: [], args: [], memoryBytes: limits.memoryBytes, workspace: WORKSPACE };
    let report: StageReport | undefined;
    try {
      report = await backend.runStage(slot, {
        kind: 'run',
        roots: runtime.roots,
        mounts: runtime.mounts,
        argv: driverArgv(this.language, runtime.binary ?? '', limits.outputBytes, this.setup.fileMaxBytes),
        // MPLBACKEND: matplotlib draws into memory (figures come back as images), no display.
        env: stageEnv(runtime, tokens, 'run', this.language === 'python' ? { MPLBACKEND: 'Agg' } : {}),
        files: [],
        stdin: Buffer.alloc(0),
        stdinStream: this.input,
        control: this.control,
        retainOutput: false,
        limits: this.stageLimits,
        signal: this.stop.signal,
        onStdout: (chunk) => reader.push(chunk),
        onStderr: (chunk) => (this.driverStderr = (this.driverStderr + chunk.toString('utf8')).slice(-4096)),
      });
    } catch (error) {
      this.requested ??= { reason: 'crashed', message: `the session crashed: ${(error as Error).message}` };
    }
    const end = classifySessionEnd(report ?? emptyReport(), this.stageLimits, this.requested);
    this.endState = end;
    this.input.end();
    this.pending = undefined;
    await slot.destroy().catch(() => {});
    this.setup.onEnd(this);
    return end;
  }

  /** Ends the session (once): the stage is cancelled, every process killed, the slot destroyed. */
  end(reason: SessionEndReason, message: string): Promise<SessionEnd> {
    this.requested ??= { reason, message };
    this.stop.abort();
    return this.stageDone;
  }

  /** Closes the session; resolves when nothing of it is left. */
  async close(): Promise<void> {
    await this.end('closed', 'the session was closed');
  }

  private answered(answer: DriverAnswer): void {
    const p = this.pending;
    if (p === undefined || answer.id !== p.id) {
      void this.end('crashed', 'the session crashed: its driver answered a request that was not asked; its sandbox was destroyed');
      return;
    }
    this.pending = undefined;
    p.resolve(answer);
  }

  /** Sends one request; resolves with its answer, or undefined when the session ended first.
   *  `onTimeout` (default: end the session) runs when no answer came within `timeoutMs`. */
  private request(request: DriverRequest, timeoutMs: number, onTimeout?: () => void): Promise<DriverAnswer | undefined> {
    const op = async (): Promise<DriverAnswer | undefined> => {
      if (this.endState !== undefined || this.requested !== null) return undefined;
      const answer = new Promise<DriverAnswer>((resolve) => (this.pending = { id: request.id, resolve }));
      const timer = setTimeout(onTimeout ?? (() => void this.end('timeout', `the session's driver did not answer within ${timeoutMs} ms; the session was destroyed`)), timeoutMs);
      this.input.push(encodeRequest(request));
      try {
        return await Promise.race([answer, this.stageDone.then(() => undefined)]);
      } finally {
        clearTimeout(timer);
      }
    };
    const result = this.chain.then(op, op);
    this.chain = result.catch(() => {});
    return result;
  }

  private alive(): void {
    if (this.endState !== undefined || this.requested !== null) throw endedError(this.endState ?? { reason: this.requested?.reason ?? 'closed', message: this.requested?.message ?? '' });
  }

  /** Runs code in the session's context. The result says whether the session ended with it. */
  async run(code: string): Promise<SessionRunResult> {
    this.alive();
    const { timeoutMs } = this.setup.limits;
    let interrupted = false;
    let grace: NodeJS.Timeout | undefined;
    const interrupt = (): void => {
      interrupted = true;
      this.control.signal?.('SIGINT');
      grace = setTimeout(() => void this.end('timeout', `a run exceeded its wall-clock limit of ${timeoutMs} ms and did not stop within ${INTERRUPT_GRACE_MS} ms of being interrupted; the session was destroyed`), INTERRUPT_GRACE_MS);
    };
    const started = performance.now();
    const answer = await this.request({ id: this.nextId++, op: 'exec', code, timeoutMs }, timeoutMs, interrupt).finally(() => clearTimeout(grace));
    const wallMs = Math.round((performance.now() - started) * 1000) / 1000;
    if (answer === undefined) {
      const end = await this.stageDone;
      return { status: end.status, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false, result: null, images: [], error: null, wallMs, message: end.message, limit: end.reason === 'memory_limit' ? 'memory' : end.reason === 'timeout' ? 'wall' : null, sessionEnded: { reason: end.reason, message: end.message } };
    }
    const v = classifySessionRun(answer.error, interrupted, timeoutMs);
    return { status: v.status, stdout: answer.stdout ?? '', stderr: answer.stderr ?? '', stdoutTruncated: answer.stdoutTruncated ?? false, stderrTruncated: answer.stderrTruncated ?? false, result: answer.result ?? null, images: answer.images ?? [], error: answer.error ?? null, wallMs, message: v.message, limit: v.limit, sessionEnded: null };
  }

  /** A file operation through the driver; throws CYLO_E_BAD_PATH / CYLO_E_FILE_TOO_LARGE as
   *  the driver reports, CYLO_E_SESSION_ENDED when the session ended. */
  private async fileOp(request: DriverRequest): Promise<DriverAnswer> {
    this.alive();
    const answer = await this.request(request, OP_TIMEOUT_MS);
    if (answer === undefined) throw endedError(await this.stageDone);
    const error = answer.error;
    if (error == null) return answer;
    const where = 'path' in request ? request.path : '';
    if (error.type === 'FileTooLarge') throw new CyloError('CYLO_E_FILE_TOO_LARGE', `path: ${where} is ${error.message}: the session file cap (sessionFileMaxBytes)`, { field: 'path' });
    throw new CyloError('CYLO_E_BAD_PATH', `path: ${where}: ${error.type === 'BadPath' ? error.message : `${error.type}: ${error.message}`}`, { field: 'path' });
  }

  async writeFile(path: string, content: Buffer): Promise<{ size: number }> {
    const answer = await this.fileOp({ id: this.nextId++, op: 'write', path, content: content.toString('base64') });
    return { size: answer.size ?? content.length };
  }

  async readFile(path: string): Promise<Buffer> {
    const answer = await this.fileOp({ id: this.nextId++, op: 'read', path });
    const data = Buffer.from(answer.content ?? '', 'base64');
    if (data.length > this.setup.fileMaxBytes) throw new CyloError('CYLO_E_FILE_TOO_LARGE', `path: ${path} is larger than the session file cap of ${this.setup.fileMaxBytes} bytes`, { field: 'path' });
    return data;
  }

  async listFiles(): Promise<SessionFile[]> {
    return (await this.fileOp({ id: this.nextId++, op: 'list' })).files ?? [];
  }

  async deleteFile(path: string): Promise<void> {
    await this.fileOp({ id: this.nextId++, op: 'delete', path });
  }
}

/** CYLO_E_SESSION_ENDED naming why. */
export function endedError(end: Pick<SessionEnd, 'reason' | 'message'>): CyloError {
  return new CyloError('CYLO_E_SESSION_ENDED', `session ended (${end.reason}): ${end.message}; create a new session`);
}

function emptyReport(): StageReport {
  return { stopReason: null, setupError: null, exit: null, oomKilled: false, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), stdoutTruncated: false, stderrTruncated: false, wallMs: 0, cpuMs: 0, memoryBytes: 0 };
}
