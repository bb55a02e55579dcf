// The server on a real loopback socket: plain HTTP clients, the published piston-client package
// (Python, and C as a compiled language), and a client that disconnects mid-execution, which
// must cancel the execution (its processes gone, its worker free).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { FastifyInstance } from 'fastify';
import piston from 'piston-client';
import { buildServer } from '../../src/server/app.js';
import { testCylo } from '../support/cylo.js';
import { sandboxSkipReason, skipWithoutSandbox } from '../support/host.js';
import { listenLoopback } from '../support/http.js';
import { processesWith, uniqueMarker } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const T = { timeout: 60_000 };
const cylo = testCylo({ concurrency: 2, queueLimit: 8 }, 128);
let app: FastifyInstance;
let base = '';

test.before(async () => {
  app = await buildServer({ cylo, logger: false, processMetrics: false });
  base = await listenLoopback(app);
});

test.after(async () => {
  await app.close();
  await cylo.close({ graceMs: 0 });
});

test('real socket: healthz, an execution, the request id header', T, async (t) => {
  const h = await fetch(`${base}/healthz`);
  assert.equal(h.status, 200);
  assert.deepEqual(await h.json(), { status: 'ok' });
  assert.match(h.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  if (skipWithoutSandbox(t)) return;
  const r = await fetch(`${base}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'js', code: 'console.log(6 * 7)' }) });
  assert.equal(r.status, 200);
  const result = (await r.json()) as { status: string; language: string; run: { stdout: string } };
  assert.equal(result.status, 'ok');
  assert.equal(result.language, 'javascript');
  assert.equal(result.run.stdout, '42\n');
});

test('the published piston-client package: hello world in Python', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const client = piston({ server: base });
  const runtimes = await client.runtimes();
  assert.ok(Array.isArray(runtimes), `runtimes: ${JSON.stringify(runtimes)}`);
  assert.ok(runtimes.some((r) => r.language === 'python'));
  const result = await client.execute('python', 'import sys\nprint("Hello, World!")\nprint(sys.argv[1:])');
  assert.equal(result.success, undefined, `not a client failure: ${JSON.stringify(result)}`);
  const run = result.run as Record<string, unknown>;
  assert.equal(result.language, 'python');
  // piston-client sends args ["1","2","3"] by default
  assert.equal(run.stdout, "Hello, World!\n['1', '2', '3']\n");
  assert.equal(run.output, run.stdout);
  assert.equal(run.code, 0);
  assert.equal(run.status, null);
  assert.equal(run.signal, null);
});

test('the published piston-client package: a compiled language (C), including a compile error', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const runtimes = await cylo.runtimes();
  const c = runtimes.find((r) => r.language === 'c');
  if (c === undefined || !c.available || !c.compiled) {
    t.skip(`C is not available on this host: ${c?.problem ?? 'no c runtime defined'}`);
    return;
  }
  const client = piston({ server: base });
  const ok = await client.execute('c', '#include <stdio.h>\nint main(int argc, char **argv) { printf("Hello from C, %d args\\n", argc - 1); return 0; }\n');
  assert.equal(ok.success, undefined, JSON.stringify(ok));
  assert.equal(ok.language, 'c');
  const compile = ok.compile as Record<string, unknown> | undefined;
  assert.ok(compile, `a compile stage: ${JSON.stringify(ok)}`);
  assert.equal(compile.code, 0);
  assert.equal(compile.status, null);
  const run = ok.run as Record<string, unknown>;
  assert.equal(run.stdout, 'Hello from C, 3 args\n');
  assert.equal(run.status, null);

  const bad = await client.execute('c', 'int main() { this is not C }\n');
  const badCompile = bad.compile as Record<string, unknown>;
  assert.equal(badCompile.status, 'RE', JSON.stringify(bad));
  assert.notEqual(badCompile.code, 0);
  assert.match(String(badCompile.stderr), /error/);
  assert.deepEqual(bad.run, bad.compile, 'as Piston: run repeats compile when compilation failed');
});

test('a client that disconnects cancels its execution: the processes go, the worker is free', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const marker = uniqueMarker(''); // digits: it goes into `sleep N.<marker>`
  const body = JSON.stringify({ language: 'bash', code: `sleep 30.${marker}`, limits: { timeoutMs: 40_000, cpuTimeMs: 40_000 } });
  const req = httpRequest(`${base}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
  req.on('error', () => {});
  req.end(body);
  await waitFor('the sandboxed sleep to start', () => processesWith(marker).length > 0);
  assert.equal(cylo.stats().running, 1);
  const t0 = Date.now();
  req.destroy();
  await waitFor('the sandboxed sleep to be killed', () => processesWith(marker).length === 0, 10_000);
  await waitFor('the worker to be free', () => cylo.stats().running === 0, 10_000);
  t.diagnostic(`cancelled ${Date.now() - t0} ms after the client disconnected`);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /cylo_execution_errors_total\{api="native",code="CYLO_E_CANCELLED"\} 1/);
});

test('the sandbox skip decision matches the service: an execution works exactly when sandbox tests run', T, async (t) => {
  // Never skipped: it checks the skip itself. A host check that wrongly reported a missing layer
  // would skip every sandbox test while sandboxes work (and the suite would pass having tested
  // nothing); one that wrongly reported none would run them on a host that cannot.
  const why = sandboxSkipReason();
  if (why !== undefined) t.diagnostic(`sandbox tests skipped: ${why}`);
  const r = await fetch(`${base}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'bash', code: 'echo ran' }) });
  const body = (await r.json()) as { status?: string; run?: { stdout: string }; error?: { code: string; message: string } };
  const ran = r.status === 200 && body.status === 'ok' && body.run?.stdout === 'ran\n';
  if (why === undefined) assert.ok(ran, `sandbox tests run here, so an execution must work: ${r.status} ${JSON.stringify(body).slice(0, 500)}`);
  else assert.ok(!ran, `sandbox tests are skipped (${why}), yet an execution worked: the skip hides a working sandbox`);
});
