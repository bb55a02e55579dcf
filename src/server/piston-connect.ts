// Piston's interactive WebSocket protocol at /api/v2/connect, with three things Piston lacks:
// output stays capped (the execution's outputBytes), a `signal` message really reaches the
// program, and the client can close the program's stdin with `{ "type": "stdin_end" }`.
//   client -> server: init (within 1 s), data {stream: "stdin", data}, signal {signal}, stdin_end
//   server -> client: runtime, stage, data {stream, data}, exit {stage, code, signal}, error
//   close codes: 4000 already initialised, 4001 init timeout, 4002 error (sent as `error` first),
//                4003 not yet initialised, 4004 can only write to stdin, 4005 invalid signal,
//                4999 job completed
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { zodIssueToCyloError } from '../api/zod-errors.js';
import { signalNumber } from '../util/signals.js';
import type { ExecutionResult, Stage } from '../api/result.js';
import type { InteractiveExecution } from '../engine/interactive.js';
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
  return { type: 'exit', stage, code: s.exitCode, signal: s.signal, signal_number: signum, status: s.status, message: s.message };
}

export function registerPistonConnect(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/api/v2/connect', { websocket: true, schema: { tags: ['piston'], summary: 'Interactive execution over WebSocket (Piston v2 protocol)', hide: true } }, (socket: WebSocket, request) => {
    let execution: InteractiveExecution | undefined;
    let initialising = false;
    let socketClosed = false;
    // Messages that arrive between init and the execution's creation (the runtime is resolved
    // asynchronously): applied, in order, as soon as it exists. A client may send init and its
    // first stdin in one burst.
    let pending: Array<(exec: InteractiveExecution) => void> = [];
    const whenStarted = (action: (exec: InteractiveExecution) => void): void => {
      if (execution !== undefined) action(execution);
      else pending.push(action);
    };
    const send = (message: Record<string, unknown>): void => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
    };
    const fail = (message: string): void => {
      send({ type: 'error', message });
      socket.close(CLOSE.error, 'Notified Error');
    };
    const initTimer = setTimeout(() => socket.close(CLOSE.initTimeout, 'Initialization Timeout'), INIT_TIMEOUT_MS);

    const start = async (init: unknown): Promise<void> => {
      const parsed = pistonExecuteRequestSchema.safeParse(init);
      if (!parsed.success) {
        fail(zodIssueToCyloError(parsed.error, init).message);
        return;
      }
      const body = parsed.data as PistonExecuteRequest;
      const runtime = await resolvePistonRuntime(ctx.cylo, body.language, body.version);
      const cyloRequest = pistonToCyloRequest(body, runtime.id, ctx.cylo);
      cyloRequest.stdin = body.stdin ?? ''; // interactive: no newline appended
      // The client went away while the runtime was being resolved: start nothing.
      if (socketClosed) return;
      const exec = ctx.interactive('piston', cyloRequest, request.log);
      execution = exec;
      for (const action of pending.splice(0)) action(exec);
      send({ type: 'runtime', language: runtime.id, version: runtime.version });
      let result: ExecutionResult | undefined;
      let compileExitSent = false;
      for await (const event of exec.events) {
        if (event.type === 'state') {
          if (event.to === 'Compiling') send({ type: 'stage', stage: 'compile' });
          if (event.to === 'Processing') {
            // As Piston: the compile stage's exit comes before the run stage starts. Reaching
            // the run stage means the compiler exited 0 (or the compile cache had the artifact).
            if (event.from === 'Compiling') {
              send({ type: 'exit', stage: 'compile', code: 0, signal: null, signal_number: null, status: 'ok', message: null });
              compileExitSent = true;
            }
            send({ type: 'stage', stage: 'run' });
          }
        } else if (event.type === 'stdout' || event.type === 'stderr') {
          send({ type: 'data', stream: event.type, data: event.data });
        } else if (event.type === 'result') {
          result = event.result;
        } else if (event.type === 'error') {
          fail(event.error.message);
          return;
        }
      }
      if (result === undefined) return;
      // Every `stage: compile` gets its `exit` (a failed compile ends the execution: sent here).
      if (result.compile !== null && !compileExitSent) send(exitMessage('compile', result.compile));
      if (result.run !== null) send(exitMessage('run', result.run));
      socket.close(CLOSE.completed, 'Job Completed');
    };

    socket.on('message', (raw: Buffer) => {
      let message: { type?: unknown; stream?: unknown; data?: unknown; signal?: unknown };
      try {
        message = JSON.parse(raw.toString('utf8')) as typeof message;
      } catch {
        fail('message: not valid JSON');
        return;
      }
      if (message === null || typeof message !== 'object') {
        fail('message: expected a JSON object');
        return;
      }
      switch (message.type) {
        case 'init':
          if (execution !== undefined || initialising) {
            socket.close(CLOSE.alreadyInitialised, 'Already Initialized');
            return;
          }
          initialising = true;
          clearTimeout(initTimer);
          start(message).catch((error: unknown) => {
            pending = [];
            fail(toCyloError(error).message);
          });
          return;
        case 'data': {
          if (!initialising) return void socket.close(CLOSE.notInitialised, 'Not yet Initialized');
          if (message.stream !== 'stdin' || typeof message.data !== 'string') return void socket.close(CLOSE.onlyStdin, 'Can only write to stdin');
          const data = message.data;
          whenStarted((exec) => {
            try {
              exec.write(data);
            } catch (error) {
              send({ type: 'error', message: toCyloError(error).message });
            }
          });
          return;
        }
        case 'stdin_end':
          if (!initialising) return void socket.close(CLOSE.notInitialised, 'Not yet Initialized');
          whenStarted((exec) => exec.end());
          return;
        case 'signal': {
          if (!initialising) return void socket.close(CLOSE.notInitialised, 'Not yet Initialized');
          const signal = message.signal;
          if (!isForwardableSignal(signal)) return void socket.close(CLOSE.invalidSignal, 'Invalid signal');
          whenStarted((exec) => exec.kill(signal));
          return;
        }
        default:
          fail(`message: unknown type ${JSON.stringify(message.type)}; expected init, data, signal or stdin_end`);
      }
    });
    socket.on('close', () => {
      socketClosed = true;
      pending = [];
      clearTimeout(initTimer);
      // A client that goes away cancels its execution.
      execution?.cancel();
    });
    socket.on('error', (error) => request.log.info({ err: error }, 'websocket error'));
  });
}
