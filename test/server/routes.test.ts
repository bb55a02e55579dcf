// Route tests through Fastify's inject(): the native API, the Piston API, the service routes,
// the table of bad inputs (each with its 4xx and error code), authentication, the error shape
// (never a stack trace), 503 with Retry-After, and the extension point for other routes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { z } from 'zod';
import { executeRequestSchema } from '../../src/api/request.js';
import { DEFAULT_MAX_LIMITS } from '../../src/api/limits.js';
import type { Cylo } from '../../src/cylo.js';
import { CyloError } from '../../src/errors.js';
import { buildServer } from '../../src/server/app.js';
import { executionResultSchema, runtimeInfoSchema, stageSchema } from '../../src/server/schemas.js';
import { toJsonSchema } from '../../src/server/openapi.js';
import { testCylo } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { MiB } from '../support/units.js';

const TOKEN = 'test-token-0123456789';
const BODY_LIMIT = 64 * 1024;

const logLines: string[] = [];
const logStream = new Writable({
  write(chunk: Buffer, _enc, done) {
    logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  },
});

const cylo = testCylo({ concurrency: 2, queueLimit: 8 });
let app: FastifyInstance;
let authApp: FastifyInstance;

test.before(async () => {
  const boom = (instance: FastifyInstance): void => {
    instance.get('/test/boom', async () => {
      throw new Error('secret detail at /srv/cylo/internal.js:42');
    });
  };
  app = await buildServer({ cylo, bodyLimit: BODY_LIMIT, logger: { level: 'info', format: 'json', stream: logStream }, processMetrics: false, plugins: [boom] });
  authApp = await buildServer({ cylo, token: TOKEN, logger: false, processMetrics: false, plugins: [boom] });
  await app.ready();
  await authApp.ready();
});

test.after(async () => {
  await app.close();
  await authApp.close();
  await cylo.close();
});

function json(body: string): Record<string, unknown> {
  return JSON.parse(body) as Record<string, unknown>;
}

function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /\n\s+at |\.js:\d+|\.ts:\d+|stack/i, `no stack trace in ${text}`);
}

test('GET /healthz answers 200 {status:"ok"}, without a token even when one is required', async () => {
  for (const a of [app, authApp]) {
    const r = await a.inject({ method: 'GET', url: '/healthz' });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), { status: 'ok' });
  }
});

test('GET /v1/runtimes lists languages with versions, aliases and availability', async () => {
  const r = await app.inject({ method: 'GET', url: '/v1/runtimes' });
  assert.equal(r.statusCode, 200);
  const list = r.json() as Array<Record<string, unknown>>;
  const python = list.find((x) => x.language === 'python');
  assert.ok(python, 'python is listed');
  // Every field the library returns is documented in the OpenAPI schema.
  for (const key of Object.keys(python)) assert.ok(key in runtimeInfoSchema.shape, `runtime field ${key} is documented`);
  for (const key of ['language', 'aliases', 'version', 'available', 'compiled', 'problem']) assert.ok(key in python, key);
  assert.ok((python.aliases as string[]).includes('py'));
});

test('GET /api/v2/runtimes lists the installed runtimes in Piston\'s shape', async () => {
  const r = await app.inject({ method: 'GET', url: '/api/v2/runtimes' });
  assert.equal(r.statusCode, 200);
  const list = r.json() as Array<Record<string, unknown>>;
  assert.ok(list.length > 0);
  for (const rt of list) {
    assert.equal(typeof rt.language, 'string');
    assert.equal(typeof rt.version, 'string');
    assert.ok(Array.isArray(rt.aliases));
  }
});

test('GET /openapi.json is generated from the same zod schemas that validate requests', async () => {
  const r = await app.inject({ method: 'GET', url: '/openapi.json' });
  assert.equal(r.statusCode, 200);
  const doc = r.json() as { openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> }; responses: Record<string, unknown> }>> };
  assert.equal(doc.openapi, '3.0.3');
  for (const p of ['/v1/execute', '/v1/runtimes', '/api/v2/execute', '/api/v2/runtimes', '/healthz', '/metrics']) assert.ok(doc.paths[p], `${p} documented`);
  const body = doc.paths['/v1/execute']?.post?.requestBody?.content['application/json']?.schema as Record<string, unknown>;
  const expected = toJsonSchema(executeRequestSchema, 'input') as Record<string, unknown>;
  assert.deepEqual(Object.keys(body.properties as object).sort(), Object.keys(expected.properties as object).sort());
  assert.deepEqual(body.required, expected.required);
  assert.equal(body.additionalProperties, false);
  assert.ok(doc.paths['/v1/execute']?.post?.responses['200'], '200 documented');
  assert.ok(doc.paths['/v1/execute']?.post?.responses['503'], '503 documented');
  const piston = doc.paths['/api/v2/execute']?.post?.requestBody?.content['application/json']?.schema as { properties: Record<string, unknown> };
  for (const f of ['language', 'version', 'files', 'stdin', 'args', 'run_timeout', 'compile_memory_limit']) assert.ok(piston.properties[f], `piston ${f}`);

  const authDoc = (await authApp.inject({ method: 'GET', url: '/openapi.json', headers: { authorization: `Bearer ${TOKEN}` } })).json() as Record<string, unknown>;
  assert.deepEqual(authDoc.security, [{ bearer: [] }]);
});

// ---------------------------------------------------------------------------------------------
// The table of bad inputs: each answered with its 4xx and code, the error shape, no stack.

interface BadCase {
  name: string;
  request: InjectOptions;
  status: number;
  code: string;
  field?: string;
  message?: RegExp;
  /** Piston routes also carry Piston's top-level `message`. */
  piston?: boolean;
  on?: 'auth';
}

const post = (url: string, payload: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }): InjectOptions => ({
  method: 'POST',
  url,
  headers,
  payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
});

const BAD: BadCase[] = [
  { name: 'invalid JSON', request: post('/v1/execute', '{"language": "python", '), status: 400, code: 'CYLO_E_VALIDATION', field: 'body', message: /not valid JSON/ },
  { name: 'JSON that is not an object', request: post('/v1/execute', '[1,2]'), status: 400, code: 'CYLO_E_VALIDATION', field: 'request' },
  { name: 'empty body', request: post('/v1/execute', ''), status: 400, code: 'CYLO_E_VALIDATION', field: 'request' },
  { name: 'prototype poisoning', request: post('/v1/execute', '{"language":"python","code":"1","__proto__":{"x":1}}'), status: 400, code: 'CYLO_E_VALIDATION', field: 'body' },
  { name: 'wrong type: language is a number', request: post('/v1/execute', { language: 5, code: 'x' }), status: 400, code: 'CYLO_E_VALIDATION', field: 'language', message: /expected string/ },
  { name: 'wrong type: args is a string', request: post('/v1/execute', { language: 'python', code: 'x', args: 'a b' }), status: 400, code: 'CYLO_E_VALIDATION', field: 'args' },
  { name: 'unknown field', request: post('/v1/execute', { language: 'python', code: 'x', timeout: 5 }), status: 400, code: 'CYLO_E_VALIDATION', field: 'timeout' },
  { name: 'no program', request: post('/v1/execute', { language: 'python' }), status: 400, code: 'CYLO_E_VALIDATION', field: 'code' },
  { name: 'negative limit', request: post('/v1/execute', { language: 'python', code: 'x', limits: { timeoutMs: -5 } }), status: 400, code: 'CYLO_E_VALIDATION', field: 'limits.timeoutMs' },
  { name: 'fractional limit', request: post('/v1/execute', { language: 'python', code: 'x', limits: { pids: 2.5 } }), status: 400, code: 'CYLO_E_VALIDATION', field: 'limits.pids' },
  { name: 'huge limit (above the server maximum)', request: post('/v1/execute', { language: 'python', code: 'x', limits: { memoryBytes: 1e15 } }), status: 400, code: 'CYLO_E_LIMIT_EXCEEDED', field: 'limits.memoryBytes', message: /above this server's maximum/ },
  { name: 'limit just above the maximum', request: post('/v1/execute', { language: 'python', code: 'x', limits: { timeoutMs: DEFAULT_MAX_LIMITS.timeoutMs + 1 } }), status: 400, code: 'CYLO_E_LIMIT_EXCEEDED', field: 'limits.timeoutMs' },
  // Limits that contradict each other (workspace files are charged to the memory limit): 400,
  // naming both fields and the fix.
  { name: 'workspace larger than memory', request: post('/v1/execute', { language: 'python', code: 'x', limits: { memoryBytes: 32 * MiB, workspaceBytes: 64 * MiB } }), status: 400, code: 'CYLO_E_VALIDATION', field: 'limits.workspaceBytes', message: /larger than limits\.memoryBytes .*set workspaceBytes at most 33554432, or raise memoryBytes/ },
  { name: 'traversal file name', request: post('/v1/execute', { language: 'python', files: [{ name: '../../etc/passwd', content: 'x' }] }), status: 400, code: 'CYLO_E_VALIDATION', field: 'files[0].name', message: /\.\./ },
  { name: 'absolute file name', request: post('/v1/execute', { language: 'python', files: [{ name: '/etc/passwd', content: 'x' }] }), status: 400, code: 'CYLO_E_VALIDATION', field: 'files[0].name' },
  { name: 'bad encoding', request: post('/v1/execute', { language: 'python', files: [{ name: 'a.py', content: 'x', encoding: 'rot13' }] }), status: 400, code: 'CYLO_E_VALIDATION', field: 'files[0].encoding' },
  { name: 'unknown outputEncoding', request: post('/v1/execute', { language: 'python', code: 'x', outputEncoding: 'latin1' }), status: 400, code: 'CYLO_E_VALIDATION', field: 'outputEncoding', message: /expected one of utf8, base64/ },
  { name: 'unknown stdinEncoding', request: post('/v1/execute', { language: 'python', code: 'x', stdinEncoding: 'hex' }), status: 400, code: 'CYLO_E_VALIDATION', field: 'stdinEncoding' },
  { name: 'stdin that is not base64', request: post('/v1/execute', { language: 'python', code: 'x', stdin: '%%%', stdinEncoding: 'base64' }), status: 400, code: 'CYLO_E_VALIDATION', field: 'stdin', message: /^stdin: is not valid base64$/ },
  { name: 'redirectStderrToStdout not a boolean', request: post('/v1/execute', { language: 'python', code: 'x', redirectStderrToStdout: 1 }), status: 400, code: 'CYLO_E_VALIDATION', field: 'redirectStderrToStdout' },
  { name: 'network requested', request: post('/v1/execute', { language: 'python', code: 'x', network: true }), status: 400, code: 'CYLO_E_VALIDATION', field: 'network' },
  { name: 'unknown language', request: post('/v1/execute', { language: 'cobol-9000', code: 'x' }), status: 400, code: 'CYLO_E_UNKNOWN_LANGUAGE', field: 'language', message: /cobol-9000/ },
  // The limit in a size unit and the flag that raises it, not a bare byte count.
  { name: 'oversized body', request: post('/v1/execute', { language: 'python', code: 'x'.repeat(BODY_LIMIT + 10) }), status: 413, code: 'CYLO_E_BODY_TOO_LARGE', field: 'body', message: /accepts \(64K\); .*--body-limit/ },
  { name: 'unknown route', request: { method: 'GET', url: '/v2/nothing' }, status: 404, code: 'CYLO_E_NOT_FOUND', message: /^route: GET \/v2\/nothing does not exist \(see \/openapi\.json\)$/ },
  // A known path with the wrong method names the method it takes (also for a parametric route).
  { name: 'wrong method', request: { method: 'GET', url: '/v1/execute' }, status: 404, code: 'CYLO_E_NOT_FOUND', message: /^route: GET \/v1\/execute does not exist; \/v1\/execute takes POST \(see/ },
  { name: 'wrong method, parametric route', request: { method: 'PUT', url: '/v1/sessions/abc' }, status: 404, code: 'CYLO_E_NOT_FOUND', message: /; \/v1\/sessions\/abc takes DELETE or GET \(see/ },
  // Piston
  { name: 'piston: unknown language', request: post('/api/v2/execute', { language: 'html', version: '5.0.0', files: [{ content: 'x' }] }), status: 400, code: 'CYLO_E_UNKNOWN_LANGUAGE', message: /^html-5\.0\.0 runtime is unknown$/, piston: true },
  { name: 'piston: unknown version', request: post('/api/v2/execute', { language: 'python', version: '1.0.0', files: [{ content: 'x' }] }), status: 400, code: 'CYLO_E_UNKNOWN_LANGUAGE', message: /^python-1\.0\.0 runtime is unknown$/, piston: true },
  { name: 'piston: files missing', request: post('/api/v2/execute', { language: 'python', version: '*' }), status: 400, code: 'CYLO_E_VALIDATION', field: 'files', piston: true },
  { name: 'piston: content not a string', request: post('/api/v2/execute', { language: 'python', version: '*', files: [{ content: 5 }] }), status: 400, code: 'CYLO_E_VALIDATION', field: 'files[0].content', piston: true },
  { name: 'piston: limit above the maximum', request: post('/api/v2/execute', { language: 'python', version: '*', files: [{ content: 'x' }], run_timeout: 10_000_000 }), status: 400, code: 'CYLO_E_LIMIT_EXCEEDED', message: /^run_timeout cannot exceed the configured limit of \d+$/, piston: true },
  { name: 'piston: negative limit', request: post('/api/v2/execute', { language: 'python', version: '*', files: [{ content: 'x' }], run_memory_limit: -7 }), status: 400, code: 'CYLO_E_VALIDATION', message: /^run_memory_limit must be non-negative$/, piston: true },
  { name: 'piston: limit not a number', request: post('/api/v2/execute', { language: 'python', version: '*', files: [{ content: 'x' }], run_timeout: '3000' }), status: 400, code: 'CYLO_E_VALIDATION', field: 'run_timeout', piston: true },
  { name: 'piston: traversal file name', request: post('/api/v2/execute', { language: 'python', version: '*', files: [{ name: '../x.py', content: 'x' }] }), status: 400, code: 'CYLO_E_VALIDATION', field: 'files[0].name', piston: true },
  { name: 'piston: unknown outputEncoding', request: post('/api/v2/execute', { language: 'python', version: '*', files: [{ content: 'x' }], outputEncoding: 'binary' }), status: 400, code: 'CYLO_E_VALIDATION', field: 'outputEncoding', piston: true },
  { name: 'piston: stdin that is not base64', request: post('/api/v2/execute', { language: 'python', version: '*', files: [{ content: 'x' }], stdin: 'abcde', stdinEncoding: 'base64' }), status: 400, code: 'CYLO_E_VALIDATION', field: 'stdin', message: /^stdin: is not valid base64$/, piston: true },
  { name: 'piston: invalid JSON without a Content-Type', request: { method: 'POST', url: '/api/v2/execute', payload: '{nope' }, status: 400, code: 'CYLO_E_VALIDATION', field: 'body', piston: true },
  // Access
  { name: 'missing token', request: post('/v1/execute', { language: 'python', code: 'x' }), status: 401, code: 'CYLO_E_UNAUTHORIZED', field: 'authorization', on: 'auth' },
  { name: 'wrong token', request: post('/v1/execute', { language: 'python', code: 'x' }, { 'content-type': 'application/json', authorization: 'Bearer nope' }), status: 401, code: 'CYLO_E_UNAUTHORIZED', on: 'auth' },
  { name: 'token with a different scheme', request: { method: 'GET', url: '/v1/runtimes', headers: { authorization: `Basic ${TOKEN}` } }, status: 401, code: 'CYLO_E_UNAUTHORIZED', on: 'auth' },
  { name: 'missing token on an unknown route (401 before 404)', request: { method: 'GET', url: '/secret/route' }, status: 401, code: 'CYLO_E_UNAUTHORIZED', on: 'auth' },
  { name: 'missing token on /metrics', request: { method: 'GET', url: '/metrics' }, status: 401, code: 'CYLO_E_UNAUTHORIZED', on: 'auth' },
  { name: 'missing token on a plugin route', request: { method: 'GET', url: '/test/boom' }, status: 401, code: 'CYLO_E_UNAUTHORIZED', on: 'auth' },
  { name: 'missing token on the Piston API', request: post('/api/v2/execute', { language: 'python', version: '*', files: [{ content: 'x' }] }), status: 401, code: 'CYLO_E_UNAUTHORIZED', piston: true, on: 'auth' },
];

for (const c of BAD) {
  test(`bad input: ${c.name} -> ${c.status} ${c.code}`, async () => {
    const r = await (c.on === 'auth' ? authApp : app).inject(c.request);
    assert.equal(r.statusCode, c.status, r.body);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assertNoStack(r.body);
    const body = json(r.body);
    const error = body.error as { code: string; message: string; field?: string };
    assert.equal(error.code, c.code, r.body);
    assert.equal(typeof error.message, 'string');
    if (c.field !== undefined) assert.equal(error.field, c.field, r.body);
    if (c.message !== undefined) assert.match(error.message, c.message);
    if (c.piston === true) assert.equal(body.message, error.message, 'Piston clients read the top-level message');
    else assert.deepEqual(Object.keys(body), ['error']);
    if (c.status === 401) assert.equal(r.headers['www-authenticate'], 'Bearer realm="cylo"');
  });
}

test('the right token opens every route', async () => {
  const headers = { authorization: `Bearer ${TOKEN}` };
  assert.equal((await authApp.inject({ method: 'GET', url: '/v1/runtimes', headers })).statusCode, 200);
  assert.equal((await authApp.inject({ method: 'GET', url: '/metrics', headers })).statusCode, 200);
  assert.equal((await authApp.inject({ method: 'GET', url: '/openapi.json', headers: { authorization: `bearer ${TOKEN}` } })).statusCode, 200);
  const bad = await authApp.inject({ ...post('/v1/execute', { language: 'nope', code: 'x' }), headers: { ...headers, 'content-type': 'application/json' } });
  assert.equal(bad.statusCode, 400, 'past authentication, validation answers');
});

test('an unexpected error is a 500 CYLO_E_INTERNAL with a generic message; the details go to the log only', async () => {
  const r = await app.inject({ method: 'GET', url: '/test/boom', headers: { 'x-request-id': 'boom-request-1' } });
  assert.equal(r.statusCode, 500);
  const error = (r.json() as { error: { code: string; message: string } }).error;
  assert.equal(error.code, 'CYLO_E_INTERNAL');
  assert.match(error.message, /request id boom-request-1/);
  assert.doesNotMatch(r.body, /secret|internal\.js/);
  assertNoStack(r.body);
  assert.equal(r.headers['x-request-id'], 'boom-request-1');
  const logged = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.reqId === 'boom-request-1' && l.level === 50);
  assert.ok(logged, 'the error is logged with the request id');
  assert.match(JSON.stringify(logged.err), /secret detail/);
  assert.match(JSON.stringify(logged.err), /stack/);
});

test('request ids: a well-formed X-Request-Id is kept, anything else replaced by a UUID', async () => {
  const kept = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
  assert.equal(kept.headers['x-request-id'], 'abc-123');
  const replaced = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'evil\u0007id with spaces' } });
  assert.match(String(replaced.headers['x-request-id']), /^[0-9a-f-]{36}$/);
});

test('queue full -> 503 CYLO_E_QUEUE_FULL with Retry-After; shutting down -> 503 CYLO_E_SHUTTING_DOWN', async () => {
  const busy: Cylo = {
    ...cylo,
    execute: async () => {
      throw new CyloError('CYLO_E_QUEUE_FULL', 'all 2 workers are busy and 8 executions are queued; retry later');
    },
  };
  const a = await buildServer({ cylo: busy, logger: false, processMetrics: false });
  try {
    for (const req of [post('/v1/execute', { language: 'python', code: 'x' }), post('/api/v2/execute', { language: 'python', version: '*', files: [{ content: 'x' }] })]) {
      const r = await a.inject(req);
      assert.equal(r.statusCode, 503);
      assert.equal((r.json() as { error: { code: string } }).error.code, 'CYLO_E_QUEUE_FULL');
      assert.match(String(r.headers['retry-after']), /^\d+$/);
      assert.ok(Number(r.headers['retry-after']) >= 1);
    }
    const metrics = await a.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, /cylo_execution_errors_total\{api="native",code="CYLO_E_QUEUE_FULL"\} 1/);

    (a.cyloServer as { shuttingDown: boolean }).shuttingDown = true;
    const r = await a.inject(post('/v1/execute', { language: 'python', code: 'x' }));
    assert.equal(r.statusCode, 503);
    assert.equal((r.json() as { error: { code: string } }).error.code, 'CYLO_E_SHUTTING_DOWN');
    assert.equal(r.headers.connection, 'close');
    const h = await a.inject({ method: 'GET', url: '/healthz' });
    assert.equal(h.statusCode, 503);
    assert.deepEqual(h.json(), { status: 'shutting_down' });
  } finally {
    await a.close();
  }
});

test('GET /metrics is Prometheus text with queue depth, in flight, durations and executions by status', async () => {
  const r = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(r.statusCode, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain/);
  for (const name of ['cylo_queue_depth', 'cylo_executions_in_flight', 'cylo_concurrency', 'cylo_queue_limit', 'cylo_execution_duration_seconds', 'cylo_executions_total', 'cylo_http_requests_total']) {
    assert.match(r.body, new RegExp(`# TYPE ${name} `), name);
  }
  assert.match(r.body, /cylo_concurrency 2/);
  assert.match(r.body, /cylo_queue_limit 8/);
});

// ---------------------------------------------------------------------------------------------
// With real sandboxes.

test('POST /v1/execute runs the library request and answers the library result, field for field', { timeout: 30_000 }, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const r = await app.inject(post('/v1/execute', { language: 'python', code: 'import sys\nprint(sys.stdin.read().upper())\nprint("err", file=sys.stderr)', stdin: 'hi', limits: { timeoutMs: 5000, memoryBytes: 64 * MiB } }));
  assert.equal(r.statusCode, 200, r.body);
  const result = executionResultSchema.parse(r.json());
  assert.equal(result.status, 'ok');
  assert.equal(result.run?.stdout, 'HI\n');
  assert.equal(result.run?.stderr, 'err\n');
  // Every field of the result is documented in the OpenAPI schema, and every required one is there.
  // Every field is documented; the optional ones (tests and summary: test runs only) are absent here.
  const required = Object.entries(executionResultSchema.shape).filter(([, s]) => !s.safeParse(undefined).success).map(([k]) => k);
  assert.deepEqual(Object.keys(r.json() as object).sort(), required.sort());
  const runKeys = Object.keys((r.json() as { run: object }).run);
  for (const key of runKeys) assert.ok(key in stageSchema.shape, `stage field ${key} is documented`);
  for (const [key, s] of Object.entries(stageSchema.shape)) if (!s.safeParse(undefined).success) assert.ok(runKeys.includes(key), `stage field ${key} present`);
  z.array(z.string()).parse(result.layers);

  const failing = await app.inject(post('/v1/execute', { language: 'bash', code: 'echo out; exit 7' }));
  assert.equal(failing.statusCode, 200, 'a failing program is still a 200 with its status');
  assert.equal((failing.json() as { status: string; run: { exitCode: number } }).status, 'runtime_error');
  assert.equal((failing.json() as { run: { exitCode: number } }).run.exitCode, 7);

  const metrics = await app.inject({ method: 'GET', url: '/metrics' });
  assert.match(metrics.body, /cylo_executions_total\{api="native",status="ok",backend="namespace"\} [1-9]/);
  assert.match(metrics.body, /cylo_execution_duration_seconds_count\{api="native",status="ok",backend="namespace"\} [1-9]/);
});

test('POST /api/v2/execute accepts JSON sent as text/plain or without a Content-Type, in Piston\'s shape', { timeout: 30_000 }, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const body = JSON.stringify({
    language: 'python3',
    version: '3',
    files: [{ content: 'import sys\nprint(sys.argv[1:], input())\nprint("e", file=sys.stderr)\nsys.exit(2)' }],
    stdin: 'in',
    args: ['1', '2', '3'],
    run_timeout: 3000,
    compile_timeout: 10000,
    run_memory_limit: -1,
    compile_memory_limit: -1,
  });
  for (const headers of [{ 'content-type': 'text/plain;charset=UTF-8' }, {}]) {
    const r = await app.inject({ method: 'POST', url: '/api/v2/execute', payload: body, headers });
    assert.equal(r.statusCode, 200, r.body);
    const res = r.json() as { language: string; version: string; run: Record<string, unknown>; compile?: unknown };
    assert.equal(res.language, 'python');
    assert.match(res.version, /^3\./);
    assert.equal(res.compile, undefined);
    assert.equal(res.run.stdout, "['1', '2', '3'] in\n");
    assert.equal(res.run.stderr, 'e\n');
    // Python buffers stdout on a pipe: stderr is written (and read) first, and output shows the
    // order cylo read the two pipes in.
    assert.equal(res.run.output, "e\n['1', '2', '3'] in\n");
    assert.equal(res.run.code, 2);
    assert.equal(res.run.status, 'RE');
    assert.equal(res.run.signal, null);
    for (const f of ['cpu_time', 'wall_time', 'memory']) assert.equal(typeof res.run[f], 'number', f);
  }
  const b64 = await app.inject(post('/api/v2/execute', { language: 'bash', version: '*', files: [{ content: Buffer.from('echo from-base64').toString('base64'), encoding: 'base64' }, { name: 'data.txt', content: '6869', encoding: 'hex' }] }));
  assert.equal(b64.statusCode, 200, b64.body);
  assert.equal((b64.json() as { run: { stdout: string; status: null } }).run.stdout, 'from-base64\n');

  const ordered = await app.inject(post('/api/v2/execute', { language: 'bash', version: '*', files: [{ content: 'echo 1; sleep 0.1; echo 2 >&2; sleep 0.1; echo 3' }] }));
  const run = (ordered.json() as { run: { stdout: string; stderr: string; output: string } }).run;
  assert.deepEqual([run.stdout, run.stderr, run.output], ['1\n3\n', '2\n', '1\n2\n3\n'], 'output interleaves the streams in the order written');

  const to = await app.inject(post('/api/v2/execute', { language: 'bash', version: '*', files: [{ content: 'sleep 5' }], run_timeout: 300 }));
  assert.equal((to.json() as { run: { status: string } }).run.status, 'TO');
});
