// What the routes of one server share: the cylo instance, the metrics, the shutdown state, and
// the one server-side execution path every API uses (native JSON, SSE, Piston HTTP, Piston
// WebSocket, MCP over HTTP): refusal once shutdown began, metrics, the log line, and the
// Retry-After estimate. Below it, cylo's gate does admission, the pool, the lifecycle.
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { Cylo, RuntimeInfo } from '../cylo.js';
import { normalizeRequest, type ExecuteRequest } from '../api/request.js';
import type { ExecutionResult } from '../api/result.js';
import type { ExecuteOptions } from '../gate/execution-gate.js';
import type { ExecutionEvent } from '../engine/lifecycle.js';
import { startInteractive, type InteractiveExecution } from '../engine/interactive.js';
import { requestedOutputEncoding } from '../api/output-encoding.js';
import { CyloError, toCyloError } from '../errors.js';
import type { ApiName, ServerMetrics } from './metrics.js';
import type { SubmissionService } from '../submissions/service.js';
import type { QueueClient } from '../queue/producer.js';
import { requestKey } from './auth.js';
import { ownerOfKey } from '../submissions/view.js';

/** Options of one server-side execution: the gate's, plus the log to write its line to and, in
 *  queue mode, the caller's owner (SHA-256 of its API key, carried by the job). */
export type RunOptions = ExecuteOptions & { log?: FastifyBaseLogger; owner?: string | null };

export interface ServerContext {
  readonly cylo: Cylo;
  readonly metrics: ServerMetrics;
  /** True once shutdown started: new executions get 503 CYLO_E_SHUTTING_DOWN. */
  readonly shuttingDown: boolean;
  /** The durable asynchronous submissions (src/submissions), for adapters such as the native
   *  /v1/submissions routes; undefined when the server was built without `submissions`. */
  readonly submissions: SubmissionService | undefined;
  /** Queue mode (`cylo serve --queue`): executions run on workers through Redis
   *  (src/queue/producer.ts); undefined: on this process's own gate. */
  readonly queue: QueueClient | undefined;
  /** Seconds a client refused with 503 should wait: an estimate of when a slot frees up. */
  retryAfterSeconds(): number;
  /** The runtimes this server offers: its own, or in queue mode what the live workers offer
   *  (for /v1/runtimes, Piston's runtimes, Judge0's languages). */
  runtimes(): Promise<RuntimeInfo[]>;
  /** The server-side execution path (every API goes through it). */
  run(api: ApiName, body: ExecuteRequest, options?: RunOptions): Promise<ExecutionResult>;
  /** `run` for an HTTP request: cancelled when the client disconnects. */
  execute(api: ApiName, request: FastifyRequest, reply: FastifyReply, body: ExecuteRequest, onEvent?: (event: ExecutionEvent) => void): Promise<ExecutionResult>;
  /** `run` as an interactive execution (WebSocket sessions). */
  interactive(api: ApiName, body: ExecuteRequest, log?: FastifyBaseLogger): InteractiveExecution;
}

const SHUTTING_DOWN = 'the service is shutting down and accepts no new executions; retry on another instance';

/** Interactive executions (Piston's WebSocket protocol) in queue mode: refused (docs/scaling.md). */
export const INTERACTIVE_IN_QUEUE_MODE = 'interactive executions (the WebSocket protocol, sessions) are not offered in queue mode: a job runs to its result on a worker; use POST /v1/execute (with Accept: text/event-stream for live output) or run cylo serve without --queue';

export class ServerState implements ServerContext {
  shuttingDown = false;
  submissions: SubmissionService | undefined = undefined;
  queue: QueueClient | undefined = undefined;
  /** Exponentially weighted mean of execution times (seconds), for Retry-After. */
  private meanSeconds = 1;

  constructor(
    readonly cylo: Cylo,
    readonly metrics: ServerMetrics,
  ) {}

  retryAfterSeconds(): number {
    if (this.queue !== undefined) return this.queue.retryAfterSeconds();
    const { concurrency, queued } = this.cylo.stats();
    const estimate = Math.ceil((this.meanSeconds * (queued + concurrency)) / Math.max(1, concurrency));
    return Math.min(60, Math.max(1, estimate));
  }

  async runtimes(): Promise<RuntimeInfo[]> {
    const local = await this.cylo.runtimes();
    return this.queue === undefined ? local : this.queue.runtimes(local);
  }

  async run(api: ApiName, body: ExecuteRequest, options: RunOptions = {}): Promise<ExecutionResult> {
    const { log, owner, ...execOptions } = options;
    if (this.shuttingDown) {
      this.metrics.errors.inc({ api, code: 'CYLO_E_SHUTTING_DOWN' });
      throw new CyloError('CYLO_E_SHUTTING_DOWN', SHUTTING_DOWN);
    }
    const started = performance.now();
    let startedRunning: number | undefined;
    try {
      const onEvent = (event: ExecutionEvent): void => {
        startedRunning ??= performance.now();
        execOptions.onEvent?.(event);
      };
      const result = this.queue === undefined ? await this.cylo.execute(body, { ...execOptions, onEvent }) : await this.viaQueue(this.queue, api, body, { ...execOptions, onEvent: execOptions.onEvent === undefined ? undefined : onEvent }, owner);
      this.record(api, result, started, startedRunning);
      log?.info({ executionId: result.id, language: result.language, status: result.status, wallMs: result.run?.wallMs ?? result.compile?.wallMs, seconds: Number(((performance.now() - started) / 1000).toFixed(3)) }, 'execution finished');
      return result;
    } catch (error) {
      let err = toCyloError(error);
      if (err.code === 'CYLO_E_CLOSED') err = new CyloError('CYLO_E_SHUTTING_DOWN', SHUTTING_DOWN, { cause: err });
      this.metrics.errors.inc({ api, code: err.code });
      if (execOptions.signal?.aborted === true) log?.info({ code: err.code }, 'execution cancelled: the client went away');
      throw err;
    }
  }

  /** Queue mode: validated here too (a 400 without a trip through Redis), then run by a worker. */
  private async viaQueue(queue: QueueClient, api: ApiName, body: ExecuteRequest, options: { signal?: AbortSignal | undefined; onEvent?: ((event: ExecutionEvent) => void) | undefined }, owner: string | null | undefined): Promise<ExecutionResult> {
    normalizeRequest(body, this.cylo.policy);
    return queue.execute(body, { signal: options.signal, onEvent: options.onEvent, owner: owner ?? null, api });
  }

  private record(api: ApiName, result: ExecutionResult, started: number, startedRunning: number | undefined): void {
    const seconds = (performance.now() - started) / 1000;
    const runSeconds = startedRunning === undefined ? seconds : (performance.now() - startedRunning) / 1000;
    this.meanSeconds = this.meanSeconds * 0.8 + runSeconds * 0.2;
    this.metrics.executions.inc({ api, status: result.status, backend: result.backend });
    this.metrics.duration.observe({ api, status: result.status, backend: result.backend }, seconds);
    if (startedRunning !== undefined) this.metrics.queueWait.observe({ api }, (startedRunning - started) / 1000);
  }

  async execute(api: ApiName, request: FastifyRequest, reply: FastifyReply, body: ExecuteRequest, onEvent?: (event: ExecutionEvent) => void): Promise<ExecutionResult> {
    const controller = new AbortController();
    // 'close' on the response fires when the connection goes away; before the response was
    // written, that means the client gave up: cancel its execution (queued or running).
    const onClose = (): void => {
      if (!reply.raw.writableEnded) controller.abort(new CyloError('CYLO_E_CANCELLED', 'the client disconnected'));
    };
    reply.raw.once('close', onClose);
    try {
      return await this.run(api, body, { signal: controller.signal, log: request.log, owner: ownerOfKey(requestKey(request)), ...(onEvent === undefined ? {} : { onEvent }) });
    } finally {
      reply.raw.off('close', onClose);
    }
  }

  interactive(api: ApiName, body: ExecuteRequest, log?: FastifyBaseLogger): InteractiveExecution {
    if (this.queue !== undefined) {
      return startInteractive(() => Promise.reject(new CyloError('CYLO_E_UNSUPPORTED', INTERACTIVE_IN_QUEUE_MODE)), undefined, requestedOutputEncoding(body));
    }
    return startInteractive((options) => this.run(api, body, { ...options, ...(log === undefined ? {} : { log }) }), undefined, requestedOutputEncoding(body));
  }
}
