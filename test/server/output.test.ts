// Output order and bytes through the HTTP APIs (Fastify inject, a real sandbox behind it):
// redirectStderrToStdout, outputEncoding and stdinEncoding on the native API (/v1/execute) and
// as cylo's extension fields on the Piston API (/api/v2/execute), and their refusal on the
// Piston WebSocket, whose data messages are text. Each test says what it proves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildServer } from '../../src/server/app.js';
import { executionResultSchema, pistonExecuteResponseSchema } from '../../src/server/schemas.js';
import { testCylo } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';

const T = { timeout: 60_000 };
const cylo = testCylo({ concurrency: 2 });
let app: FastifyInstance;

test.before(async () => {
  app = await buildServer({ cylo, logger: false, processMetrics: false });
  await app.ready();
});

test.after(async () => {
  await app.close();
  await cylo.close();
});

const post = (url: string, payload: unknown): InjectOptions => ({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) });

const INTERLEAVED = 'import sys\nfor s, t in ((sys.stdout, "out1"), (sys.stderr, "err1"), (sys.stdout, "out2"), (sys.stderr, "err2")):\n    s.write(t + "\\n")\n    s.flush()\n';
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_v, i) => i));
/** Echoes stdin to stdout, then writes every byte value to stdout and, reversed, to stderr. */
const BINARY = 'import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())\nsys.stdout.buffer.write(bytes(range(256)))\nsys.stdout.flush()\nsys.stderr.buffer.write(bytes(reversed(range(256))))\n';

test('native API: redirectStderrToStdout orders the output; the result documents every field it has', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: the HTTP body reaches the sandbox's job (the merged stream), and the result,
  // with its new outputEncoding field, matches the published schema.
  const merged = await app.inject(post('/v1/execute', { language: 'python', code: INTERLEAVED, redirectStderrToStdout: true }));
  assert.equal(merged.statusCode, 200, merged.body);
  const result = executionResultSchema.parse(merged.json());
  assert.equal(result.outputEncoding, 'utf8');
  assert.deepEqual([result.run?.stdout, result.run?.stderr], ['out1\nerr1\nout2\nerr2\n', '']);
  const apart = executionResultSchema.parse((await app.inject(post('/v1/execute', { language: 'python', code: INTERLEAVED }))).json());
  assert.deepEqual([apart.run?.stdout, apart.run?.stderr], ['out1\nout2\n', 'err1\nerr2\n']);
});

test('native API: base64 stdin in, base64 output out, byte for byte', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: stdinEncoding and outputEncoding over JSON (which cannot carry these bytes as text).
  const input = Buffer.from([0xff, 0x00, 0xc3, 0x28, 0x0a]);
  const r = await app.inject(post('/v1/execute', { language: 'python', code: BINARY, stdin: input.toString('base64'), stdinEncoding: 'base64', outputEncoding: 'base64' }));
  assert.equal(r.statusCode, 200, r.body);
  const result = executionResultSchema.parse(r.json());
  assert.equal(result.outputEncoding, 'base64');
  assert.deepEqual(Buffer.from(result.run?.stdout ?? '', 'base64'), Buffer.concat([input, ALL_BYTES]));
  assert.deepEqual(Buffer.from(result.run?.stderr ?? '', 'base64'), Buffer.from(ALL_BYTES).reverse());
});

test('native API over SSE with outputEncoding base64: stdout frames carry base64 chunks of the exact bytes', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: the event stream follows the request's outputEncoding, frame by frame.
  const r = await app.inject({ method: 'POST', url: '/v1/execute', headers: { accept: 'text/event-stream', 'content-type': 'application/json' }, payload: { language: 'python', code: BINARY, outputEncoding: 'base64' } });
  assert.equal(r.statusCode, 200, r.body);
  const frames = r.body
    .split('\n\n')
    .map((block) => ({ event: /^event: (.*)$/m.exec(block)?.[1], data: /^data: (.*)$/m.exec(block)?.[1] }))
    .filter((f): f is { event: string; data: string } => f.event !== undefined && f.data !== undefined)
    .map((f) => ({ event: f.event, data: JSON.parse(f.data) as { data?: string } }));
  const bytes = (event: string): Buffer => Buffer.concat(frames.filter((f) => f.event === event).map((f) => Buffer.from(f.data.data ?? '', 'base64')));
  assert.deepEqual(bytes('stdout'), ALL_BYTES);
  assert.deepEqual(bytes('stderr'), Buffer.from(ALL_BYTES).reverse());
  const result = executionResultSchema.parse(frames.find((f) => f.event === 'result')?.data);
  assert.equal(result.outputEncoding, 'base64');
});

test('Piston API: the extension fields give ordered, byte-exact stages; without them the response is Piston\'s shape', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: stdinEncoding/outputEncoding/redirectStderrToStdout work on /api/v2/execute, base64
  // stdin gets no newline appended (it would change the bytes), `output` is base64 of the bytes
  // in the order cylo read them, and `outputEncoding` appears only when base64 was asked for.
  const input = Buffer.from([0x00, 0x80, 0xff]);
  const body = { language: 'python', version: '*', files: [{ content: BINARY }], stdin: input.toString('base64'), stdinEncoding: 'base64', outputEncoding: 'base64' };
  const r = await app.inject(post('/api/v2/execute', body));
  assert.equal(r.statusCode, 200, r.body);
  const res = pistonExecuteResponseSchema.parse(r.json());
  assert.equal(res.outputEncoding, 'base64');
  const stdout = Buffer.concat([input, ALL_BYTES]);
  const stderr = Buffer.from(ALL_BYTES).reverse();
  assert.deepEqual(Buffer.from(res.run.stdout, 'base64'), stdout);
  assert.deepEqual(Buffer.from(res.run.stderr, 'base64'), stderr);
  // `output` is the bytes in the order cylo read them from the two pipes (each write arrives as
  // one chunk; which pipe is read first is not the program's order, hence either).
  const output = Buffer.from(res.run.output, 'base64');
  assert.ok(output.equals(Buffer.concat([stdout, stderr])) || output.equals(Buffer.concat([stderr, stdout])), `output: ${res.run.output}`);

  const merged = await app.inject(post('/api/v2/execute', { language: 'python', version: '*', files: [{ content: INTERLEAVED }], redirectStderrToStdout: true }));
  const m = pistonExecuteResponseSchema.parse(merged.json());
  assert.deepEqual([m.run.stdout, m.run.stderr, m.run.output], ['out1\nerr1\nout2\nerr2\n', '', 'out1\nerr1\nout2\nerr2\n']);
  assert.equal('outputEncoding' in (merged.json() as object), false, 'a plain Piston request gets Piston\'s shape');
});
