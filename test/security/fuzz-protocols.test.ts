// Bad input on the long-lived protocols, property-based (fast-check), on real loopback sockets:
// - the Piston WebSocket protocol (/api/v2/connect): arbitrary sequences of frames (protocol
//   messages with wrong, missing and extra fields, any order, text that is not JSON, binary
//   frames, huge frames), then a close;
// - MCP over Streamable HTTP (/mcp): arbitrary JSON-RPC bodies (any method, params and id, batches,
//   bodies that are not JSON), with and without an MCP session;
// - MCP over stdio (`cylo mcp`): arbitrary lines after the handshake; it must answer only JSON-RPC
//   on stdout, stay responsive (a final ping is answered) and exit 0 when stdin closes.
// Every case must get protocol answers only (documented close codes and message types, JSON-RPC
// errors, 4xx), never a stack trace or an internal path, and the service must stay up and
// leave nothing running (the pool's counters go back to zero). Executions that a random frame
// does start are tiny (bash `cat`/`exit`, 1 s limits) or name a language that does not exist.
// CYLO_FUZZ_RUNS raises the number of cases (default: a bounded number for `npm test`).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import WebSocket from 'ws';
import type { FastifyInstance } from 'fastify';
import { createCylo, type Cylo } from '../../src/cylo.js';
import { buildServer } from '../../src/server/app.js';
import { SERVE_PLUGINS } from '../../src/cli/commands/serve.js';
import { CLOSE } from '../../src/server/piston-connect.js';
import { spawn } from 'node:child_process';
import { SECURITY_UID_COUNT, SECURITY_UIDS } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { waitFor } from '../support/wait.js';

// A failing property's report carries the error itself (fast-check 4 puts it only in `cause`,
// which the test runner's TAP output does not show).
fc.configureGlobal({ ...fc.readConfigureGlobal(), includeErrorInReport: true });

const RUNS = Number(process.env.CYLO_FUZZ_RUNS ?? 40);
const skip = sandboxSkipReason() ?? false;
const LEAKS = [/\n\s+at\s/, /node_modules/, /\/work\//, /dist\/src/, /\.js:\d+/, /TypeError|RangeError|ReferenceError/];

let cylo: Cylo;
let app: FastifyInstance;
let base: string;

before(async () => {
  if (skip !== false) return;
  cylo = createCylo({ uidBase: SECURITY_UIDS.load, uidCount: SECURITY_UID_COUNT, concurrency: 2, defaultLimits: { timeoutMs: 1000, cpuTimeMs: 1000, memoryBytes: 64 * 1024 * 1024, pids: 16, outputBytes: 16 * 1024, workspaceBytes: 4 * 1024 * 1024 } });
  // As `cylo serve` assembles it: the HTTP APIs and MCP at /mcp.
  app = await buildServer({ cylo, logger: false, processMetrics: false, plugins: SERVE_PLUGINS });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  base = `127.0.0.1:${address.port}`;
});

after(async () => {
  await app?.close();
  await cylo?.close({ graceMs: 0 });
});

function assertNoLeak(text: string, where: string): void {
  for (const leak of LEAKS) assert.doesNotMatch(text, leak, `${where} leaks internals: ${text.slice(0, 300)}`);
}

/** Frames a client could send: protocol messages (any field may be wrong), and garbage. */
const wsFrame = fc.oneof(
  fc.record(
    {
      type: fc.constantFrom('init', 'data', 'signal', 'stdin_end', 'exit', 'runtime', '', 'INIT'),
      language: fc.constantFrom('bash', 'no-such-language', '', 42),
      version: fc.constantFrom('*', 'x', '5', null),
      files: fc.oneof(fc.constant([{ content: 'cat' }]), fc.constant([{ content: 'exit 3' }]), fc.constant([]), fc.constant('x'), fc.array(fc.record({ name: fc.string(), content: fc.string() }), { maxLength: 2 })),
      stream: fc.constantFrom('stdin', 'stdout', 'stderr', 7),
      data: fc.oneof(fc.string({ maxLength: 64 }), fc.integer(), fc.constant(null)),
      signal: fc.constantFrom('SIGTERM', 'SIGKILL', 'SIGINT', 'SIGSTOP', 'NOPE', 9, -1),
      run_timeout: fc.constantFrom(500, 1000, -1, 'x'),
      extra: fc.jsonValue({ maxDepth: 2 }),
    },
    { requiredKeys: ['type'] },
  ).map((m) => JSON.stringify(m)),
  fc.string({ maxLength: 200 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
  fc.constant('x'.repeat(2 * 1024 * 1024)),
);

const CLOSE_CODES = new Set<number>([...Object.values(CLOSE), 1000, 1005, 1006, 1009]);
const SERVER_TYPES = new Set(['runtime', 'stage', 'data', 'exit', 'error']);

/** Sends `frames` on a fresh connection, then closes it; resolves with what the server said. */
async function session(frames: Array<string | Buffer>): Promise<{ messages: string[]; code: number | undefined }> {
  const ws = new WebSocket(`ws://${base}/api/v2/connect`);
  ws.on('error', () => {});
  const messages: string[] = [];
  let code: number | undefined;
  const closed = new Promise<void>((resolve) => ws.once('close', (c) => ((code = c), resolve())));
  ws.on('message', (raw: Buffer) => messages.push(raw.toString('utf8')));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  for (const f of frames) if (ws.readyState === WebSocket.OPEN) ws.send(f);
  // Let the server answer (an execution it started ends within its 1 s limit), then close.
  await Promise.race([closed, new Promise((r) => setTimeout(r, 150))]);
  if (ws.readyState === WebSocket.OPEN) ws.close(1000);
  await closed;
  return { messages, code };
}

test('WebSocket protocol: arbitrary frames in any order get protocol answers only; the service stays up and idle', { skip, timeout: 300_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(wsFrame, { minLength: 1, maxLength: 6 }), async (frames) => {
      const { messages, code } = await session(frames);
      assert.ok(code === undefined || CLOSE_CODES.has(code), `close code ${code}`);
      for (const m of messages) {
        assertNoLeak(m, 'a WebSocket message');
        const parsed = JSON.parse(m) as { type?: unknown };
        assert.ok(SERVER_TYPES.has(String(parsed.type)), `message type ${String(parsed.type)}`);
      }
    }),
    { numRuns: RUNS },
  );
  const health = await fetch(`http://${base}/healthz`);
  assert.equal(health.status, 200);
  // Every execution a frame started has ended: nothing runs, nothing waits.
  await waitFor('the pool to be idle', () => cylo.stats().running === 0 && cylo.stats().queued === 0, 20_000);
});

const jsonRpc = fc.record(
  {
    jsonrpc: fc.constantFrom('2.0', '1.0', 2, null),
    id: fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null)),
    method: fc.constantFrom('initialize', 'tools/list', 'tools/call', 'notifications/initialized', 'ping', 'resources/list', 'prompts/get', 'nope', ''),
    params: fc.oneof(
      fc.constant({ protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fuzz', version: '1' } }),
      fc.record({ name: fc.constantFrom('run_code', 'list_runtimes', 'nope'), arguments: fc.oneof(fc.constant({ language: 'no-such-language', code: 'x' }), fc.jsonValue({ maxDepth: 2 })) }),
      fc.jsonValue({ maxDepth: 3 }),
    ),
  },
  { requiredKeys: ['method'] },
);

const mcpBody = fc.oneof(
  jsonRpc.map((m) => JSON.stringify(m)),
  fc.array(jsonRpc, { maxLength: 4 }).map((b) => JSON.stringify(b)),
  fc.string({ maxLength: 200 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
);

test('MCP over HTTP: arbitrary JSON-RPC bodies get JSON-RPC errors or 4xx, never a 5xx or a leak; the service stays up', { skip, timeout: 300_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(mcpBody, fc.boolean(), fc.constantFrom('application/json, text/event-stream', 'application/json', 'text/html'), async (body, withSession, accept) => {
      const headers: Record<string, string> = { 'content-type': 'application/json', accept };
      if (withSession) headers['mcp-session-id'] = 'fuzz-no-such-session';
      const res = await fetch(`http://${base}/mcp`, { method: 'POST', headers, body, signal: AbortSignal.timeout(30_000) });
      const text = await res.text();
      assert.ok(res.status < 500, `status ${res.status}: ${text.slice(0, 200)}`);
      assertNoLeak(text, 'an MCP answer');
    }),
    { numRuns: RUNS * 2 },
  );
  const health = await fetch(`http://${base}/healthz`);
  assert.equal(health.status, 200);
});

test('MCP over stdio: arbitrary lines get JSON-RPC answers only; `cylo mcp` stays responsive and exits 0 when stdin closes', { skip, timeout: 120_000 }, async () => {
  const lines = fc.sample(mcpBody, RUNS * 2).map((l) => l.replace(/\n/g, ' '));
  const child = spawn(process.execPath, ['bin/cylo', 'mcp'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, CYLO_UID_BASE: String(SECURITY_UIDS.fresh), CYLO_UID_COUNT: String(SECURITY_UID_COUNT) } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const send = (line: string): boolean => child.stdin.write(`${line}\n`);
  send(JSON.stringify({ jsonrpc: '2.0', id: 'fuzz-init', method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fuzz', version: '1' } } }));
  await waitFor('the initialize answer', () => out.includes('"fuzz-init"'), 30_000);
  send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  for (const line of lines) send(line);
  send(JSON.stringify({ jsonrpc: '2.0', id: 'fuzz-final-ping', method: 'ping' }));
  await waitFor('the final ping answer (the server is still responsive)', () => out.includes('"fuzz-final-ping"'), 60_000).catch((error: Error) => {
    throw new Error(`${error.message}; sent: ${JSON.stringify(lines).slice(0, 2000)}`);
  });
  child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await exited;
  clearTimeout(timer);
  assert.equal(code, 0, 'exits 0 when the client closes stdin');
  for (const line of out.split('\n').filter((l) => l !== '')) {
    assertNoLeak(line, 'an MCP stdio line');
    assert.equal((JSON.parse(line) as { jsonrpc?: unknown }).jsonrpc, '2.0', line.slice(0, 200));
  }
});
