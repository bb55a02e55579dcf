// What the routes of one server share: the cylo instance, the metrics, the shutdown state, and
// the one execution path both APIs use (admission, cancellation on client disconnect, metrics,
// Retry-After estimate).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Cylo } from '../cylo.js';
import type { ExecuteRequest } from '../api/request.js';
import type { ExecutionResult } from '../api/result.js';
import type { ExecutionEvent } from '../engine/lifecycle.js';
import { CyloError, toCyloError } from '../errors.js';
import type { ApiName, ServerMetrics } from './metrics.js';

export interface ServerContext {
  readonly cylo: Cylo;
  readonly metrics: ServerMetrics;
  /** True once shutdown started: new executions get 503 CYLO_E_SHUTTING_DOWN. */
  readonly shuttingDown: boolean;
  /** Seconds a client refused with 503 should wait: an estimate of when a worker frees up. */
  retryAfterSeconds(): number;
  /** Runs an execution for an HTTP request: cancelled when the client disconnects. */
  execute(api: ApiName, request: FastifyRequest, reply: FastifyReply, body: ExecuteRequest, onEvent?: (event: ExecutionEvent) => void): Promise<ExecutionResult>;
}

export class ServerState implements ServerContext {
  shuttingDown = false;
  /** Exponentially weighted mean of execution times (seconds), for Retry-After. */
  private meanSeconds = 1;

  constructor(
    readonly cylo: Cylo,
    readonly metrics: ServerMetrics,
  ) {}

  retryAfterSeconds(): number {
    const { concurrency, queued } = this.cylo.stats();
    const estimate = Math.ceil((this.meanSeconds * (queued + concurrency)) / Math.max(1, concurrency));
    return Math.min(60, Math.max(1, estimate));
  }

  async execute(api: ApiName, request: FastifyRequest, reply: FastifyReply, body: ExecuteRequest, onEvent?: (event: ExecutionEvent) => void): Promise<ExecutionResult> {
    if (this.shuttingDown) {
      this.metrics.errors.inc({ api, code: 'CYLO_E_SHUTTING_DOWN' });
      throw new CyloError('CYLO_E_SHUTTING_DOWN', 'the service is shutting down and accepts no new executions; retry on another instance');
    }
    const controller = new AbortController();
    // 'close' on the response fires when the connection goes away; before the response was
    // written, that means the client gave up: cancel its execution (queued or running).
    const onClose = (): void => {
      if (!reply.raw.writableEnded) controller.abort(new CyloError('CYLO_E_CANCELLED', 'the client disconnected'));
    };
    reply.raw.once('close', onClose);
    const started = performance.now();
    let startedRunning: number | undefined;
    try {
      const result = await this.cylo.execute(body, {
        signal: controller.signal,
        onEvent: (event) => {
          startedRunning ??= performance.now();
          onEvent?.(event);
        },
      });
      const seconds = (performance.now() - started) / 1000;
      const runSeconds = startedRunning === undefined ? seconds : (performance.now() - startedRunning) / 1000;
      this.meanSeconds = this.meanSeconds * 0.8 + runSeconds * 0.2;
      this.metrics.executions.inc({ api, status: result.status });
      this.metrics.duration.observe({ api, status: result.status }, seconds);
      if (startedRunning !== undefined) this.metrics.queueWait.observe({ api }, (startedRunning - started) / 1000);
      request.log.info({ executionId: result.id, language: result.language, status: result.status, wallMs: result.run?.wallMs ?? result.compile?.wallMs, seconds: Number(seconds.toFixed(3)) }, 'execution finished');
      return result;
    } catch (error) {
      let err = toCyloError(error);
      if (err.code === 'CYLO_E_CANCELLED' && this.shuttingDown && !controller.signal.aborted) {
        err = new CyloError('CYLO_E_SHUTTING_DOWN', 'the service shut down before the execution finished: it was stopped when the grace period ended', { cause: err });
      }
      if (err.code === 'CYLO_E_CLOSED') err = new CyloError('CYLO_E_SHUTTING_DOWN', 'the service is shutting down and accepts no new executions; retry on another instance', { cause: err });
      this.metrics.errors.inc({ api, code: err.code });
      if (controller.signal.aborted) request.log.info({ code: err.code }, 'execution cancelled: the client disconnected');
      throw err;
    } finally {
      reply.raw.off('close', onClose);
    }
  }
}
