// Piston's interactive WebSocket protocol at /api/v2/connect, with three things Piston lacks:
// output stays capped (the execution's outputBytes), a `signal` message really reaches the
// program, and the client can close the program's stdin with `{ "type": "stdin_end" }`.
//   client -> server: init (within 1 s), data {stream: "stdin", data}, signal {signal}, stdin_end
//   server -> client: runtime, stage, data {stream, data}, exit {stage, code, signal}, error
//   close codes: 4000 already initialised, 4001 init timeout, 4002 error (sent as `error` first),
//                4003 not yet initialised, 4004 can only write to stdin, 4005 invalid signal,
//                4999 job completed
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { zodIssueToCyloError } from '../api/zod-errors.js';
import { signalNumber } from '../util/signals.js';
import type { ExecutionResult, Stage } from '../api/result.js';
import type { InteractiveExecution } from '../engine/interactive.js';
import type { StateEvent } from '../engine/state-machine.js';
import { toCyloError } from '../errors.js';
import { isForwardableSignal } from '../util/signals.js';
import type { ServerContext } from './context.js';
import { pistonToCyloRequest, resolvePistonRuntime } from './piston.js';
import { pistonExecuteRequestSchema, type PistonExecuteRequest } from './schemas.js';

export const INIT_TIMEOUT_MS = 1000;

export const CLOSE = {
  alreadyInitialised: 4000,
  initTimeout: 4001,
  error: 4002,
  notInitialised: 4003,
  onlyStdin: 4004,
  invalidSignal: 4005,
  completed: 4999,
} as const;

function exitMessage(stage: 'compile' | 'run', s: Stage): Record<string, unknown> {
  const signum = s.signal === null ? null : (signalNumber(s.signal) ?? null);
  return { type: 'exit', stage, code: s.exitCode, signal: s.signal, signal_number: signum, status: s.status, message: s.message, limit: s.limit };
}

export function registerPistonConnect(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/api/v2/connect', { websocket: true, schema: { tags: ['piston'], summary: 'Interactive execution over WebSocket (Piston v2 protocol)', hide: true } }, (socket: WebSocket, request) => {
    const session = new PistonSession(socket, ctx, request.log);
    socket.on('message', (raw: Buffer) => session.onMessage(raw));
    socket.on('close', () => session.onClose());
    socket.on('error', (error) => request.log.info({ err: error }, 'websocket error'));
  });
}

/** A client message, before its fields are checked. */
type ClientMessage = { type?: unknown; stream?: unknown; data?: unknown; signal?: unknown };

/** One WebSocket connection's session: it waits for init, starts the execution, forwards the
 *  client's stdin and signals to it, and sends its events back as Piston messages. */
class PistonSession {
  private execution: InteractiveExecution | undefined;
  private initialising = false;
  private socketClosed = false;
  private compileExitSent = false;
  // Messages that arrive between init and the execution's creation (the runtime is resolved
  // asynchronously): applied, in order, as soon as it exists. A client may send init and its
  // first stdin in one burst.
  private pending: Array<(exec: InteractiveExecution) => void> = [];
  private readonly initTimer: NodeJS.Timeout;

  constructor(
    private readonly socket: WebSocket,
    private readonly ctx: ServerContext,
    private readonly log: FastifyBaseLogger,
  ) {
    this.initTimer = setTimeout(() => socket.close(CLOSE.initTimeout, 'Initialization Timeout'), INIT_TIMEOUT_MS);
  }

  /** Dispatches one client message by its type. */
  onMessage(raw: Buffer): void {
    const message = this.parse(raw);
    if (message === undefined) return;
    switch (message.type) {
      case 'init':
        return this.init(message);
      case 'data':
        return this.data(message);
      case 'stdin_end':
        return this.stdinEnd();
      case 'signal':
        return this.signal(message);
      default:
        this.fail(`message: unknown type ${JSON.stringify(message.type)}; expected init, data, signal or stdin_end`);
    }
  }

  onClose(): void {
    this.socketClosed = true;
    this.pending = [];
    clearTimeout(this.initTimer);
    // A client that goes away cancels its execution.
    this.execution?.cancel();
  }

  private parse(raw: Buffer): ClientMessage | undefined {
    let message: ClientMessage;
    try {
      message = JSON.parse(raw.toString('utf8')) as ClientMessage;
    } catch {
      this.fail('message: not valid JSON');
      return undefined;
    }
    if (message === null || typeof message !== 'object') {
      this.fail('message: expected a JSON object');
      return undefined;
    }
    return message;
  }

  private init(message: ClientMessage): void {
    if (this.execution !== undefined || this.initialising) {
      this.socket.close(CLOSE.alreadyInitialised, 'Already Initialized');
      return;
    }
    this.initialising = true;
    clearTimeout(this.initTimer);
    this.start(message).catch((error: unknown) => {
      this.pending = [];
      this.fail(toCyloError(error).message);
    });
  }

  private data(message: ClientMessage): void {
    if (!this.initialising) return void this.socket.close(CLOSE.notInitialised, 'Not yet Initialized');
    if (message.stream !== 'stdin' || typeof message.data !== 'string') return void this.socket.close(CLOSE.onlyStdin, 'Can only write to stdin');
    const data = message.data;
    this.whenStarted((exec) => {
      try {
        exec.write(data);
      } catch (error) {
        this.send({ type: 'error', message: toCyloError(error).message });
      }
    });
  }

  private stdinEnd(): void {
    if (!this.initialising) return void this.socket.close(CLOSE.notInitialised, 'Not yet Initialized');
    this.whenStarted((exec) => exec.end());
  }

  private signal(message: ClientMessage): void {
    if (!this.initialising) return void this.socket.close(CLOSE.notInitialised, 'Not yet Initialized');
    const signal = message.signal;
    if (!isForwardableSignal(signal)) return void this.socket.close(CLOSE.invalidSignal, 'Invalid signal');
    this.whenStarted((exec) => exec.kill(signal));
  }

  /** Checks the init message, resolves its runtime and starts the execution. */
  private async start(init: unknown): Promise<void> {
    const parsed = pistonExecuteRequestSchema.safeParse(init);
    if (!parsed.success) {
      this.fail(zodIssueToCyloError(parsed.error, init).message);
      return;
    }
    const body = parsed.data as PistonExecuteRequest;
    // Data messages are text: base64 output could not apply to them, so it is refused rather
    // than silently ignored.
    if (body.outputEncoding === 'base64') {
      this.fail('outputEncoding: base64 is not available on /api/v2/connect (data messages carry text); use POST /api/v2/execute or /v1/execute');
      return;
    }
    const runtime = await resolvePistonRuntime(this.ctx.cylo, body.language, body.version);
    const cyloRequest = pistonToCyloRequest(body, runtime.id, this.ctx.cylo);
    cyloRequest.stdin = body.stdin ?? ''; // interactive: no newline appended
    // The client went away while the runtime was being resolved: start nothing.
    if (this.socketClosed) return;
    const exec = this.ctx.interactive('piston', cyloRequest, this.log);
    this.execution = exec;
    for (const action of this.pending.splice(0)) action(exec);
    this.send({ type: 'runtime', language: runtime.id, version: runtime.version });
    await this.relay(exec);
  }

  /** Sends the execution's events as Piston messages until it ends. */
  private async relay(exec: InteractiveExecution): Promise<void> {
    let result: ExecutionResult | undefined;
    for await (const event of exec.events) {
      if (event.type === 'state') {
        this.stateChanged(event);
      } else if (event.type === 'stdout' || event.type === 'stderr') {
        this.send({ type: 'data', stream: event.type, data: event.data });
      } else if (event.type === 'result') {
        result = event.result;
      } else if (event.type === 'error') {
        this.fail(event.error.message);
        return;
      }
    }
    if (result !== undefined) this.complete(result);
  }

  private stateChanged(event: StateEvent): void {
    if (event.to === 'Compiling') this.send({ type: 'stage', stage: 'compile' });
    if (event.to === 'Processing') {
      // As Piston: the compile stage's exit comes before the run stage starts. Reaching
      // the run stage means the compiler exited 0 (or the compile cache had the artifact).
      if (event.from === 'Compiling') {
        this.send({ type: 'exit', stage: 'compile', code: 0, signal: null, signal_number: null, status: 'ok', message: null, limit: null });
        this.compileExitSent = true;
      }
      this.send({ type: 'stage', stage: 'run' });
    }
  }

  /** The stages' exits, then the close that ends the job. */
  private complete(result: ExecutionResult): void {
    // Every `stage: compile` gets its `exit` (a failed compile ends the execution: sent here).
    if (result.compile !== null && !this.compileExitSent) this.send(exitMessage('compile', result.compile));
    if (result.run !== null) this.send(exitMessage('run', result.run));
    this.socket.close(CLOSE.completed, 'Job Completed');
  }

  /** Runs `action` on the execution now, or as soon as it exists. */
  private whenStarted(action: (exec: InteractiveExecution) => void): void {
    if (this.execution !== undefined) action(this.execution);
    else this.pending.push(action);
  }

  private send(message: Record<string, unknown>): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private fail(message: string): void {
    this.send({ type: 'error', message });
    this.socket.close(CLOSE.error, 'Notified Error');
  }
}
