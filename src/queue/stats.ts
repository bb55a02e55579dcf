// Queue metrics of an API node (in its /metrics): jobs waiting and running (read from Redis on
// scrape), live workers, the wait (enqueued -> a worker started it) and run time (started ->
// finished on the worker) of each job, jobs finished per worker (throughput); and the
// Retry-After estimate of a refused request.
import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { JobOutcome } from './job-schema.js';
import type { WorkerInfo } from './registry.js';

const BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class QueueStats {
  private meanRunSeconds = 1;
  private lastWaiting = 0;
  private metrics: { wait: Histogram; run: Histogram; finished: Counter<'worker'> } | undefined;

  constructor(
    private readonly queue: Queue,
    private readonly workers: () => Promise<WorkerInfo[]>,
  ) {}

  /** Adds the queue metrics to a Prometheus registry (the API node's /metrics). */
  register(registry: Registry): void {
    const registers = [registry];
    const { queue, workers } = this;
    const counts = async (): Promise<Record<string, number>> => queue.getJobCounts('waiting', 'active', 'prioritized').catch(() => ({}));
    new Gauge({ name: 'cylo_jobs_waiting', help: 'Queue mode: jobs waiting in Redis for a worker.', registers, async collect() { const c = await counts(); this.set((c.waiting ?? 0) + (c.prioritized ?? 0)); } });
    new Gauge({ name: 'cylo_jobs_active', help: 'Queue mode: jobs a worker is running.', registers, async collect() { this.set((await counts()).active ?? 0); } });
    new Gauge({ name: 'cylo_workers_live', help: 'Queue mode: workers whose heartbeat is live.', registers, async collect() { this.set((await workers().catch(() => [])).length); } });
    this.metrics = {
      wait: new Histogram({ name: 'cylo_job_wait_seconds', help: 'Queue mode: time from enqueueing a job to a worker starting it.', buckets: BUCKETS, registers }),
      run: new Histogram({ name: 'cylo_job_run_seconds', help: 'Queue mode: time a worker spent on a job.', buckets: BUCKETS, registers }),
      finished: new Counter({ name: 'cylo_jobs_finished_total', help: 'Queue mode: jobs finished, by the worker that ran them (throughput per worker).', labelNames: ['worker'], registers }),
    };
  }

  /** Records one job's outcome (`enqueued`: ms since the epoch). */
  record(outcome: JobOutcome, enqueued: number): void {
    const run = Math.max(0, outcome.finishedAt - outcome.startedAt) / 1000;
    this.meanRunSeconds = this.meanRunSeconds * 0.8 + run * 0.2;
    this.metrics?.wait.observe(Math.max(0, outcome.startedAt - enqueued) / 1000);
    this.metrics?.run.observe(run);
    this.metrics?.finished.inc({ worker: outcome.worker });
  }

  /** The depth seen by the last bound check. */
  noteWaiting(waiting: number): void {
    this.lastWaiting = waiting;
  }

  /** Seconds a refused client should wait: the waiting jobs over the live workers' slots times
   *  the mean run time, within 1..60. */
  retryAfterSeconds(workers: readonly WorkerInfo[]): number {
    const slots = Math.max(1, workers.reduce((n, w) => n + (w.draining ? 0 : w.concurrency), 0));
    return Math.min(60, Math.max(1, Math.ceil((this.meanRunSeconds * Math.max(1, this.lastWaiting)) / slots)));
  }
}
