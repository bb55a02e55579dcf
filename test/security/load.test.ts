// Load: a running `cylo serve` (its own process, on loopback) gets CYLO_LOAD_N requests (default
// 1,000), 100 at a time, a third of them hostile (fork bomb, memory bomb, endless output,
// sleeping forever, busy loop: tight limits). Every request must be answered (200, or 503 with
// Retry-After when the queue is full); /healthz, polled throughout from another connection, must
// answer 200 every time while the load runs (how fast it answers is a figure of the benchmark,
// `npm run bench`, not a test threshold: its latency percentiles are printed as a diagnostic);
// afterwards a normal execution works and nothing is left (no sandbox process, no busy cgroup).
//
// SAFETY: skipWithoutPreflight(t) first; hostile requests carry pids 16, memory 64 MiB, 0.5 s.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request as httpRequest } from 'node:http';
import { closeSharedCylos, SECURITY_UID_COUNT, SECURITY_UIDS } from '../support/cylo.js';
import { skipWithoutPreflight } from '../support/preflight.js';
import { busyCgroups, processesWith, strayProcesses, uniqueMarker } from '../support/processes.js';
import { type Served, startServe } from '../support/serve.js';
import { percentile } from '../support/stats.js';
import { MiB } from '../support/units.js';
import { settled } from '../support/wait.js';

const TOTAL = Number(process.env.CYLO_LOAD_N ?? 1000);
const CLIENTS = 100;
const HEALTH_EVERY_MS = 20;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request over `agent` (node:http: the load's and the health checker's connections
 *  are separate pools). */
function call(agent: Agent, url: string, body?: unknown, timeoutMs = 120_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(url, { agent, method: payload === undefined ? 'GET' : 'POST', headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

const HOSTILE = [
  { kind: 'fork-bomb', body: (m: string) => ({ language: 'bash', code: ':(){ :|:& };:; sleep 5', args: [m], limits: { pids: 16, timeoutMs: 500, memoryBytes: 64 * MiB } }) },
  { kind: 'memory-bomb', body: (m: string) => ({ language: 'python', code: 'b = []\nwhile True: b.append(bytearray(1 << 20))', args: [m], limits: { memoryBytes: 64 * MiB, timeoutMs: 500 } }) },
  { kind: 'output-flood', body: (m: string) => ({ language: 'bash', code: 'yes', args: [m], limits: { outputBytes: 16 * 1024, timeoutMs: 500 } }) },
  { kind: 'sleep-forever', body: (m: string) => ({ language: 'bash', code: 'sleep infinity', args: [m], limits: { timeoutMs: 500 } }) },
  { kind: 'busy-loop', body: (m: string) => ({ language: 'bash', code: 'while :; do :; done', args: [m], limits: { timeoutMs: 500, cpuTimeMs: 500 } }) },
  // 15 busy processes: runnable tasks that compete with the service for the CPU
  { kind: 'busy-swarm', body: (m: string) => ({ language: 'bash', code: 'for i in $(seq 15); do (while :; do :; done) & done; wait', args: [m], limits: { pids: 16, timeoutMs: 500, cpuTimeMs: 1000 } }) },
];

// The pre-flight used the shared test cylo: close it, so the process can exit.
after(() => closeSharedCylos());

test(`load: ${TOTAL} requests, ${CLIENTS} at a time, a third hostile: every one answered, /healthz always 200 during the load, healthy afterwards`, { timeout: 300_000 }, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const marker = uniqueMarker();
  let served: Served | undefined;
  // Separate connection pools: the load's 100 sockets and the health checker's own one.
  const loadAgent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const healthAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    served = await startServe({ CYLO_UID_BASE: String(SECURITY_UIDS.load), CYLO_UID_COUNT: String(SECURITY_UID_COUNT), CYLO_CONCURRENCY: '2', CYLO_QUEUE_LIMIT: '64', CYLO_LOG_LEVEL: 'info', CYLO_MAX_CONNECTIONS: '512' });
    const base = served.base;
    const statuses = new Map<number, number>();
    const byKind = new Map<string, Map<string, number>>();
    const problems: string[] = [];
    const health: number[] = [];
    const healthFailures: string[] = [];
    let loading = true;
    // Requests sent and not yet answered: a /healthz poll counts as "during the load" when it
    // was sent and answered while some were in flight.
    let inFlight = 0;
    let pollsUnderLoad = 0;

    const checker = (async () => {
      while (loading) {
        const t0 = performance.now();
        const loadedBefore = inFlight > 0;
        try {
          const res = await call(healthAgent, `${base}/healthz`, undefined, 10_000);
          if (res.status !== 200) healthFailures.push(`status ${res.status}`);
          else if (loadedBefore && inFlight > 0) pollsUnderLoad++;
        } catch (error) {
          healthFailures.push((error as Error).message);
        }
        health.push(performance.now() - t0);
        await sleep(HEALTH_EVERY_MS);
      }
    })();

    let next = 0;
    const started = performance.now();
    const client = async (): Promise<void> => {
      while (next < TOTAL) {
        const i = next++;
        const hostile = i % 3 === 0 ? HOSTILE[(i / 3) % HOSTILE.length] : undefined;
        const kind = hostile?.kind ?? 'normal';
        const body = hostile?.body(marker) ?? { language: i % 2 === 0 ? 'bash' : 'python', code: i % 2 === 0 ? `echo req-${i}` : `print("req-${i}")`, args: [marker] };
        let res: Reply;
        let json: { status?: string; run?: { stdout: string }; error?: { code: string } };
        inFlight++;
        try {
          res = await call(loadAgent, `${base}/v1/execute`, body);
          json = JSON.parse(res.body) as typeof json;
        } catch (error) {
          problems.push(`request ${i} (${kind}): ${(error as Error).message}`);
          continue;
        } finally {
          inFlight--;
        }
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const outcome = res.status === 200 ? (json.status ?? '?') : `${res.status} ${json.error?.code ?? '?'}`;
        const k = byKind.get(kind) ?? new Map<string, number>();
        k.set(outcome, (k.get(outcome) ?? 0) + 1);
        byKind.set(kind, k);
        if (res.status === 200) {
          if (kind === 'normal' && (json.status !== 'ok' || json.run?.stdout !== `req-${i}\n`)) problems.push(`request ${i}: 200 with ${JSON.stringify(json).slice(0, 200)}`);
          if (hostile !== undefined && json.status === 'ok') problems.push(`request ${i} (${kind}) ended ok`);
        } else if (res.status === 503) {
          if (json.error?.code !== 'CYLO_E_QUEUE_FULL') problems.push(`request ${i}: 503 with ${JSON.stringify(json)}`);
          if (!/^\d+$/.test(String(res.headers['retry-after'] ?? ''))) problems.push(`request ${i}: 503 without Retry-After`);
          // A well-behaved client waits as asked (Retry-After, capped at 1 s here) before its
          // next request.
          await sleep(Math.min(1000, Number(res.headers['retry-after'] ?? 1) * 1000) * (0.5 + Math.random() / 2));
        } else {
          problems.push(`request ${i} (${kind}): status ${res.status} ${JSON.stringify(json).slice(0, 200)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
    const seconds = (performance.now() - started) / 1000;
    loading = false;
    await checker;

    const ok = statuses.get(200) ?? 0;
    const busy = statuses.get(503) ?? 0;
    const sorted = [...health].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    t.diagnostic(`${TOTAL} requests in ${seconds.toFixed(1)} s: ${ok} x 200, ${busy} x 503`);
    for (const [kind, outcomes] of byKind) t.diagnostic(`  ${kind}: ${[...outcomes].map(([o, n]) => `${o} ${n}`).join(', ')}`);
    t.diagnostic(`/healthz: ${health.length} polls (${pollsUnderLoad} answered 200 with requests in flight), p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${(sorted.at(-1) ?? NaN).toFixed(1)} ms (figures only: latency is the benchmark's)`);

    assert.deepEqual(problems, [], 'every request answered as it should');
    assert.equal(ok + busy, TOTAL, 'every request answered 200 or 503');
    assert.ok(ok > 0, 'executions ran');
    assert.deepEqual(healthFailures, [], '/healthz always answered 200');
    assert.ok(pollsUnderLoad >= 20, `/healthz answered 200 while the load ran, polled throughout (${pollsUnderLoad} of ${health.length} polls with requests in flight)`);

    // Healthy afterwards: a normal execution works and nothing is left.
    const after = await fetch(`${base}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'bash', code: 'echo healthy' }) });
    assert.equal(after.status, 200);
    assert.equal(((await after.json()) as { run: { stdout: string } }).run.stdout, 'healthy\n');
    const pid = served.pid;
    const left = await settled(
      () => ({ markers: processesWith(marker).map((p) => p.cmdline.join(' ')), cgroups: busyCgroups(pid), stray: strayProcesses(SECURITY_UIDS.load, SECURITY_UID_COUNT, pid) }),
      (now) => now.markers.length === 0 && now.cgroups.length === 0 && now.stray.length === 0,
    );
    assert.deepEqual(left.markers, [], 'no process of the load is left');
    assert.deepEqual(left.cgroups, [], 'no cgroup of the service holds a process');
    assert.deepEqual(left.stray, [], 'no process runs as a sandbox uid');
    served.child.kill('SIGTERM');
    assert.equal((await served.exited).code, 0, 'the service stops cleanly');
    served = undefined;
  } finally {
    if (served !== undefined) served.child.kill('SIGKILL');
    loadAgent.destroy();
    healthAgent.destroy();
  }
});
