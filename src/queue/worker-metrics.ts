// A worker's own /metrics (`cylo worker --metrics-port N`): Prometheus text on a loopback HTTP
// listener (never the API: a worker takes no requests) with its jobs running and finished (by
// outcome), their run time, and its pool's slots. Bound to 127.0.0.1 unless told otherwise.
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Cylo } from '../cylo.js';
import { CyloError } from '../errors.js';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly finished: Counter<'outcome'>;
  private readonly seconds: Histogram;

  constructor(cylo: Cylo, running: () => number) {
    const registers = [this.registry];
    this.finished = new Counter({ name: 'cylo_worker_jobs_finished_total', help: 'Jobs this worker finished, by outcome (result: the execution ran to a result; error: it ended with an error such as a validation failure or a cancel).', labelNames: ['outcome'], registers });
    this.seconds = new Histogram({ name: 'cylo_worker_job_seconds', help: 'Time this worker spent on a job.', buckets: BUCKETS, registers });
    new Gauge({ name: 'cylo_worker_jobs_running', help: 'Jobs this worker runs now.', registers, collect() { this.set(running()); } });
    new Gauge({ name: 'cylo_concurrency', help: 'Executions this worker may run at once.', registers, collect() { this.set(cylo.stats().concurrency); } });
    collectDefaultMetrics({ register: this.registry, prefix: 'cylo_' });
  }

  /** Records a finished job (`seconds`: its run time on this worker). */
  record(outcome: 'result' | 'error', seconds: number): void {
    this.finished.inc({ outcome });
    this.seconds.observe(seconds);
  }

  /** Serves GET /metrics on host:port (port 0: a free one); resolves with the port bound.
   *  Throws CYLO_E_CONFIG naming --metrics-port when it cannot listen. */
  async listen(host: string, port: number): Promise<{ server: Server; port: number }> {
    const server = createServer((request, response) => {
      if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
        response.writeHead(404).end();
        return;
      }
      void this.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        () => response.writeHead(500).end(),
      );
    });
    server.listen(port, host);
    try {
      await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e as Error))]);
    } catch (error) {
      throw new CyloError('CYLO_E_CONFIG', `--metrics-port: cannot listen on ${host}:${port} (${(error as NodeJS.ErrnoException).code ?? String(error)}); pick another port`, { field: 'metricsPort' });
    }
    const address = server.address();
    return { server, port: typeof address === 'object' && address !== null ? address.port : port };
  }
}
