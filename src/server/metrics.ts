// Prometheus metrics of one server (its own registry, so several servers in one process, as in
// the tests, never share counters): executions by status, their durations and queue waits,
// refusals by error code, queue depth and executions in flight (read from the pool on scrape).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Cylo } from '../cylo.js';

export type ApiName = 'native' | 'piston' | 'mcp' | 'judge0' | 'submissions';

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export class ServerMetrics {
  readonly registry = new Registry();
  readonly executions: Counter<'api' | 'status' | 'backend'>;
  readonly errors: Counter<'api' | 'code'>;
  readonly duration: Histogram<'api' | 'status' | 'backend'>;
  readonly queueWait: Histogram<'api'>;
  readonly httpRequests: Counter<'method' | 'route' | 'status_code'>;

  constructor(cylo: Cylo, options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.executions = new Counter({ name: 'cylo_executions_total', help: 'Executions that produced a result, by API, result status and the backend that ran them (namespace, microvm).', labelNames: ['api', 'status', 'backend'], registers });
    this.errors = new Counter({ name: 'cylo_execution_errors_total', help: 'Execution requests answered with an error instead of a result (validation, queue full, cancelled, ...), by error code.', labelNames: ['api', 'code'], registers });
    this.duration = new Histogram({ name: 'cylo_execution_duration_seconds', help: 'Time from accepting an execution request to its result (queue wait included), by result status and backend.', labelNames: ['api', 'status', 'backend'], buckets: DURATION_BUCKETS, registers });
    this.queueWait = new Histogram({ name: 'cylo_queue_wait_seconds', help: 'Time an execution waited for a free slot.', labelNames: ['api'], buckets: DURATION_BUCKETS, registers });
    this.httpRequests = new Counter({ name: 'cylo_http_requests_total', help: 'HTTP requests answered, by method, route and status code.', labelNames: ['method', 'route', 'status_code'], registers });
    new Gauge({
      name: 'cylo_queue_depth',
      help: 'Executions waiting for a free slot.',
      registers,
      collect() {
        this.set(cylo.stats().queued);
      },
    });
    new Gauge({
      name: 'cylo_executions_in_flight',
      help: 'Executions running now.',
      registers,
      collect() {
        this.set(cylo.stats().running);
      },
    });
    new Gauge({
      name: 'cylo_concurrency',
      help: 'Executions that may run at once.',
      registers,
      collect() {
        this.set(cylo.stats().concurrency);
      },
    });
    new Gauge({
      name: 'cylo_queue_limit',
      help: 'Executions that may wait; beyond it requests get 503.',
      registers,
      collect() {
        this.set(cylo.stats().queueLimit);
      },
    });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'cylo_' });
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
