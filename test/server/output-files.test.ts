// Output files through the HTTP service (Fastify inject, the real server and a real sandbox):
// the native API's result carries run.files (with mimeType for an image) and validates against
// the published result schema; the Piston API carries the same as an extension on its run
// stage; a bad pattern is a 400 naming outputs[i]. Each test says what it proves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/server/app.js';
import { executionResultSchema, pistonExecuteResponseSchema } from '../../src/server/schemas.js';
import { testCylo } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { pngWriterPython, PNG_SIGNATURE } from '../support/png.js';

const T = { timeout: 60_000 };
// uids: the routes test's range (+0) is its own; this file uses +256 like stream/load (never
// run at the same time: the test runner runs one file at a time).
const cylo = testCylo({ concurrency: 1 }, 256);
let app: FastifyInstance;

test.before(async () => {
  app = await buildServer({ cylo, logger: false, processMetrics: false });
  await app.ready();
});

test.after(async () => {
  await app.close();
  await cylo.close();
});

const CODE = `${pngWriterPython('plot.png')}\nopen('notes.txt', 'w').write('hello')`;

test('native API: run.files carries the PNG (mimeType image/png) and the text file, valid against the result schema', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: the request field reaches the sandbox over HTTP and the response serialiser keeps
  // the new fields (a schema without them would strip them)
  const res = await app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code: CODE, outputs: ['*.png', '*.txt'] } });
  assert.equal(res.statusCode, 200, res.body);
  const body = JSON.parse(res.body) as { run: { files: Array<{ name: string; content: string; mimeType?: string }>; filesSkipped: unknown[] } };
  executionResultSchema.parse(body);
  const png = body.run.files.find((f) => f.name === 'plot.png');
  assert.equal(png?.mimeType, 'image/png');
  assert.ok(Buffer.from(png?.content ?? '', 'base64').subarray(0, 8).equals(PNG_SIGNATURE));
  assert.equal(Buffer.from(body.run.files.find((f) => f.name === 'notes.txt')?.content ?? '', 'base64').toString(), 'hello');
  assert.deepEqual(body.run.filesSkipped, []);
});

test('Piston API: outputs as a request extension, run.files as a response extension', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: the Piston adapter passes outputs through and its response schema keeps run.files
  const res = await app.inject({ method: 'POST', url: '/api/v2/execute', payload: { language: 'python', version: '*', files: [{ content: CODE }], outputs: ['*.png'] } });
  assert.equal(res.statusCode, 200, res.body);
  const body = pistonExecuteResponseSchema.parse(JSON.parse(res.body));
  assert.equal(body.run.files?.length, 1);
  assert.equal(body.run.files?.[0]?.mimeType, 'image/png');
  assert.equal(body.run.filesIncomplete, false);
  // Without outputs, Piston's own shape: no files fields.
  const plain = await app.inject({ method: 'POST', url: '/api/v2/execute', payload: { language: 'python', version: '*', files: [{ content: 'print(1)' }] } });
  assert.equal('files' in (JSON.parse(plain.body) as { run: object }).run, false);
});

test('a pattern that leaves the workspace is a 400 naming outputs[i]', T, async () => {
  // proves: patterns follow the workspace path rule before anything runs
  for (const pattern of ['../etc/*', '/etc/passwd', 'a//b']) {
    const res = await app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code: 'print(1)', outputs: ['ok.txt', pattern] } });
    assert.equal(res.statusCode, 400, res.body);
    const body = JSON.parse(res.body) as { error: { code: string; field: string } };
    assert.equal(body.error.code, 'CYLO_E_VALIDATION');
    assert.equal(body.error.field, 'outputs[1]');
  }
});
