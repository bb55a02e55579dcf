// A bounded load test on loopback: 500 requests, 50 at a time, against a server with 2 workers
// and a queue of 8. Every request must be answered 200 (with the right output) or 503 (queue
// full, with Retry-After), none may hang, and afterwards nothing runs or waits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/server/app.js';
import { testCylo } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { listenLoopback } from '../support/http.js';
import { percentile } from '../support/stats.js';
import { waitFor } from '../support/wait.js';

const TOTAL = 500;
const CLIENTS = 50;
const PER_REQUEST_TIMEOUT_MS = 30_000;

test('500 requests, 50 concurrent: every one answered 200 or 503, none hangs', { timeout: 180_000 }, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const cylo = testCylo({ concurrency: 2, queueLimit: 8 }, 256);
  let app: FastifyInstance | undefined;
  try {
    app = await buildServer({ cylo, logger: false, processMetrics: false });
    const base = await listenLoopback(app);
    const statuses = new Map<number, number>();
    const latencies: { 200: number[]; 503: number[] } = { 200: [], 503: [] };
    const problems: string[] = [];
    let next = 0;
    const started = performance.now();
    const client = async (): Promise<void> => {
      while (next < TOTAL) {
        const i = next++;
        const t0 = performance.now();
        let res: Response;
        try {
          res = await fetch(`${base}/v1/execute`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ language: 'bash', code: `echo req-${i}` }),
            signal: AbortSignal.timeout(PER_REQUEST_TIMEOUT_MS),
          });
        } catch (error) {
          problems.push(`request ${i}: ${(error as Error).name}: ${(error as Error).message}`);
          continue;
        }
        const body = (await res.json()) as { status?: string; run?: { stdout: string }; error?: { code: string } };
        const ms = performance.now() - t0;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === 200) {
          latencies[200].push(ms);
          if (body.status !== 'ok' || body.run?.stdout !== `req-${i}\n`) problems.push(`request ${i}: 200 with ${JSON.stringify(body).slice(0, 200)}`);
        } else if (res.status === 503) {
          latencies[503].push(ms);
          if (body.error?.code !== 'CYLO_E_QUEUE_FULL') problems.push(`request ${i}: 503 with ${JSON.stringify(body)}`);
          if (!/^\d+$/.test(res.headers.get('retry-after') ?? '')) problems.push(`request ${i}: 503 without Retry-After`);
        } else {
          problems.push(`request ${i}: status ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
    const seconds = (performance.now() - started) / 1000;
    const ok = statuses.get(200) ?? 0;
    const busy = statuses.get(503) ?? 0;
    const s200 = [...latencies[200]].sort((a, b) => a - b);
    const s503 = [...latencies[503]].sort((a, b) => a - b);
    t.diagnostic(`${TOTAL} requests in ${seconds.toFixed(1)} s: ${ok} x 200, ${busy} x 503`);
    t.diagnostic(`200 latency p50 ${percentile(s200, 50).toFixed(0)} ms, p99 ${percentile(s200, 99).toFixed(0)} ms, max ${(s200.at(-1) ?? NaN).toFixed(0)} ms`);
    t.diagnostic(`503 latency p50 ${percentile(s503, 50).toFixed(1)} ms, p99 ${percentile(s503, 99).toFixed(1)} ms`);
    assert.deepEqual(problems, []);
    assert.equal(ok + busy, TOTAL, 'every request answered 200 or 503');
    assert.ok(ok >= 10, `some executions ran (${ok})`);
    assert.ok(busy > 0, 'the bounded queue refused some with 503');
    // Workers reset their slot right after answering: give the last ones a moment.
    await waitFor('the workers to be free', () => cylo.stats().running === 0);
    assert.equal(cylo.stats().queued, 0);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, new RegExp(`cylo_executions_total\\{api="native",status="ok",backend="namespace"\\} ${ok}\\b`));
    assert.match(metrics, new RegExp(`cylo_execution_errors_total\\{api="native",code="CYLO_E_QUEUE_FULL"\\} ${busy}\\b`));
  } finally {
    await app?.close();
    await cylo.close({ graceMs: 0 });
  }
});
