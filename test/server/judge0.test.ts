// The Judge0-compatible API (issue 14, item 5) over real HTTP (Fastify inject) and real
// sandboxes: the examples of Judge0's documentation (create with wait=true, base64_encoded in
// and out, languages, a language by id, statuses, about, config_info, an unknown language,
// fields filtering), every status cylo can produce for real (accepted, compile error, TLE,
// SIGSEGV, SIGFPE, SIGABRT, other signal, NZEC, memory limit with the documented choice), the
// fields that map onto cylo (limits, arguments, compiler options, additional_files zips: valid,
// zip-slip, symlink, zip bomb), the refusals (network, async without the submissions service,
// bad fields), X-Auth-Token, the UTF-8 rule, and where the API is mounted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { strToU8, zipSync } from 'fflate';
import { buildServer } from '../../src/server/app.js';
import { DEFAULT_FIELDS, UTF8_ERROR } from '../../src/server/judge0/submission.js';
import { testCylo } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { skipWithoutPreflight } from '../support/preflight.js';
import { waitFor } from '../support/wait.js';

const T = { timeout: 120_000 };
const TOKEN = 'judge0-test-token-42';
const cylo = testCylo({ concurrency: 2, queueLimit: 8 });
let app: FastifyInstance;
let authApp: FastifyInstance;
let rootApp: FastifyInstance;

before(async () => {
  app = await buildServer({ cylo, logger: false, processMetrics: false });
  authApp = await buildServer({ cylo, token: TOKEN, logger: false, processMetrics: false });
  rootApp = await buildServer({ cylo, logger: false, processMetrics: false, judge0: { prefix: 'compat/', root: true } });
});

after(async () => {
  await app.close();
  await authApp.close();
  await rootApp.close();
  await cylo.close();
});

type Json = Record<string, unknown>;

async function submit(body: Json, query = 'wait=true', server = app): Promise<{ status: number; json: Json }> {
  const res = await server.inject({ method: 'POST', url: `/judge0/submissions?${query}`, payload: body });
  return { status: res.statusCode, json: res.body === '' ? {} : (JSON.parse(res.body) as Json) };
}

const HELLO_C = '#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf("%s", name);\n  printf("hello, %s\\n", name);\n  return 0;\n}\n';

describe('Judge0 documentation examples', () => {
  // Proves the whole sync path: translation, a real C compile and run, 201 with Judge0's default fields only.
  test('create with wait=true (C, language 50, stdin)', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const { status, json } = await submit({ source_code: HELLO_C, language_id: 50, stdin: 'world' });
    assert.equal(status, 201, JSON.stringify(json));
    assert.deepEqual(Object.keys(json).sort(), [...DEFAULT_FIELDS].sort());
    assert.equal(json.stdout, 'hello, world\n');
    assert.deepEqual(json.status, { id: 3, description: 'Accepted' });
    assert.equal(json.stderr, null);
    assert.equal(json.compile_output, null);
    assert.equal(json.message, null);
    assert.match(String(json.time), /^\d+\.\d{3}$/);
    assert.equal(typeof json.memory, 'number');
    assert.match(String(json.token), /^[0-9a-f-]{36}$/);
  });

  // Proves base64_encoded=true decodes source_code and stdin and encodes stdout.
  test('base64_encoded=true in and out', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const { status, json } = await submit({ source_code: b64(HELLO_C), language_id: 50, stdin: b64('world') }, 'base64_encoded=true&wait=true');
    assert.equal(status, 201, JSON.stringify(json));
    assert.equal(json.stdout, b64('hello, world\n'));
  });

  test('languages, a language by id, all languages', async () => {
    const runtimes = await cylo.runtimes();
    const python = runtimes.find((r) => r.language === 'python');
    const list = JSON.parse((await app.inject({ url: '/judge0/languages' })).body) as Array<{ id: number; name: string }>;
    if (python?.available === true) assert.ok(list.some((l) => l.id === 71 && l.name === `Python (${python.version})`), JSON.stringify(list));
    // One entry per installed runtime: never two ids of one family.
    assert.ok(!list.some((l) => l.id === 92));
    assert.equal(list.length, runtimes.filter((r) => r.available && ['bash', 'c', 'cpp', 'go', 'java', 'javascript', 'python', 'rust', 'typescript'].includes(r.language)).length);
    const one = await app.inject({ url: '/judge0/languages/71' });
    assert.equal(one.statusCode, python?.available === true ? 200 : 404);
    if (python?.available === true) assert.deepEqual(Object.keys(JSON.parse(one.body) as Json).sort(), ['compile_cmd', 'id', 'is_archived', 'name', 'run_cmd', 'source_file']);
    const all = JSON.parse((await app.inject({ url: '/judge0/languages/all' })).body) as Array<{ id: number; is_archived: boolean }>;
    if (python?.available === true) assert.deepEqual(all.find((l) => l.id === 92)?.is_archived, true);
    assert.equal((await app.inject({ url: '/judge0/languages/9999' })).statusCode, 404);
  });

  test('statuses, about, config_info, system_info', async () => {
    const statuses = JSON.parse((await app.inject({ url: '/judge0/statuses' })).body) as Array<{ id: number; description: string }>;
    assert.equal(statuses.length, 14);
    assert.deepEqual(statuses[6], { id: 7, description: 'Runtime Error (SIGSEGV)' });
    assert.deepEqual(statuses[10], { id: 11, description: 'Runtime Error (NZEC)' });
    const aboutBody = JSON.parse((await app.inject({ url: '/judge0/about' })).body) as Json;
    assert.equal(typeof aboutBody.version, 'string');
    const config = JSON.parse((await app.inject({ url: '/judge0/config_info' })).body) as Json;
    // cylo's real values in Judge0's units (testCylo: 5000 ms, 128 MiB; maxima the library's).
    assert.equal(config.cpu_time_limit, 5);
    assert.equal(config.wall_time_limit, 5);
    assert.equal(config.memory_limit, 128 * 1024);
    assert.equal(config.max_cpu_time_limit, cylo.policy.maxLimits.cpuTimeMs / 1000);
    assert.equal(config.max_queue_size, 8);
    assert.equal(config.enable_network, false);
    assert.equal(config.max_number_of_runs, 20);
    assert.equal((await app.inject({ url: '/judge0/system_info' })).statusCode, 200);
  });

  test('an unknown language id: 422 as Judge0', async () => {
    const { status, json } = await submit({ source_code: 'x', language_id: 9999 });
    assert.equal(status, 422);
    assert.deepEqual(json, { language_id: ["language with id 9999 doesn't exist"] });
  });

  test('a missing source_code: 422 "can\'t be blank"', async () => {
    const { status, json } = await submit({ language_id: 71 });
    assert.equal(status, 422);
    assert.deepEqual(json, { source_code: ["can't be blank"] });
  });

  // Proves fields filtering: exactly the named fields; * gives all, with the language.
  test('fields: a list, *, and an unknown field (400)', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const some = await submit({ source_code: 'print(1)', language_id: 71 }, 'wait=true&fields=stdout,exit_code,status_id');
    assert.deepEqual(some.json, { stdout: '1\n', exit_code: 0, status_id: 3 });
    const all = await submit({ source_code: 'print(1)', language_id: 71 }, 'wait=true&fields=*');
    assert.equal((all.json.language as Json).id, 71);
    assert.equal(all.json.source_code, 'print(1)');
    assert.equal(typeof all.json.created_at, 'string');
    assert.equal(all.json.cylo_limit, null);
    const bad = await submit({ source_code: 'print(1)', language_id: 71 }, 'wait=true&fields=stdout,nope,worse');
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json, { error: 'invalid fields: [nope, worse]' });
  });
});

describe('Judge0 statuses from real runs', () => {
  const cases: Array<[string, Json, number, (json: Json) => void]> = [
    ['compile error', { source_code: 'int main( {', language_id: 50 }, 6, (j) => assert.match(String(j.compile_output), /error/)],
    ['time limit', { source_code: 'while True: pass', language_id: 71, cpu_time_limit: 0.5, wall_time_limit: 2 }, 5, () => {}],
    ['SIGSEGV', { source_code: 'int main(void){ volatile int *p = 0; return *p; }', language_id: 50 }, 7, (j) => assert.equal(j.exit_signal, 11)],
    ['SIGFPE', { source_code: 'int main(void){ volatile int z = 0; return 10 / z; }', language_id: 50 }, 9, (j) => assert.equal(j.exit_signal, 8)],
    ['SIGABRT', { source_code: '#include <stdlib.h>\nint main(void){ abort(); }', language_id: 50 }, 10, (j) => assert.equal(j.exit_signal, 6)],
    ['other signal', { source_code: '#include <signal.h>\nint main(void){ raise(SIGUSR1); return 0; }', language_id: 50 }, 12, (j) => assert.equal(j.exit_signal, 10)],
    ['NZEC', { source_code: 'import sys\nsys.exit(3)', language_id: 71 }, 11, (j) => {
      assert.equal(j.exit_code, 3);
      assert.equal(j.message, 'Exited with error status 3');
    }],
  ];
  for (const [name, body, id, check] of cases) {
    // Each proves one branch of the status mapping on a real sandbox's result.
    test(`${name} -> ${id}`, T, async (t) => {
      if (skipWithoutSandbox(t)) return;
      const { status, json } = await submit(body, 'wait=true&fields=*');
      assert.equal(status, 201, JSON.stringify(json));
      assert.equal((json.status as Json).id, id, JSON.stringify(json));
      check(json);
    });
  }

  // The documented choice: 12 "Runtime Error (Other)", SIGKILL, cylo's message, cylo_limit "memory".
  test('memory limit -> 12 with cylo_limit "memory"', T, async (t) => {
    if (await skipWithoutPreflight(t)) return;
    const { json } = await submit({ source_code: 'data = b"x" * (96 << 20)\nprint(len(data))', language_id: 71, memory_limit: 32768 }, 'wait=true&fields=status,message,exit_signal,cylo_limit');
    assert.deepEqual(json.status, { id: 12, description: 'Runtime Error (Other)' });
    assert.equal(json.cylo_limit, 'memory');
    assert.equal(json.exit_signal, 9);
    assert.match(String(json.message), /memory limit/);
  });
});

describe('Judge0 request fields', () => {
  // Proves the shell-style splitting: quotes group, nothing is expanded.
  test('command_line_arguments', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const { json } = await submit({ source_code: 'import sys, json\nprint(json.dumps(sys.argv[1:]))', language_id: 71, command_line_arguments: `a "b c" 'd $HOME' e\\ f` });
    assert.deepEqual(JSON.parse(String(json.stdout)), ['a', 'b c', 'd $HOME', 'e f']);
  });

  // Proves compiler_options reaches the compiler (and the allowlist refuses the rest).
  test('compiler_options: an allowed define, a refused plugin', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const { json } = await submit({ source_code: '#include <stdio.h>\nint main(void){ printf("%d\\n", VALUE); }', language_id: 50, compiler_options: '-O1 -DVALUE=42' });
    assert.equal(json.stdout, '42\n', JSON.stringify(json));
    const refused = await submit({ source_code: 'int main(void){}', language_id: 50, compiler_options: '-fplugin=/tmp/x.so' });
    assert.equal(refused.status, 422);
    assert.match(String((refused.json.compiler_options as string[])[0]), /-fplugin/);
  });

  test('redirect_stderr_to_stdout', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const { json } = await submit({ source_code: 'import sys\nprint("out", flush=True)\nprint("err", file=sys.stderr)', language_id: 71, redirect_stderr_to_stdout: true });
    assert.equal(json.stdout, 'out\nerr\n');
    assert.equal(json.stderr, null);
  });

  const zip = (files: Record<string, Uint8Array>): string => Buffer.from(zipSync(files)).toString('base64');

  // Proves the zip's files land in the workspace next to the source.
  test('additional_files: a valid zip', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const { status, json } = await submit({ source_code: 'print(open("data.txt").read() + open("lib/x.txt").read())', language_id: 71, additional_files: zip({ 'data.txt': strToU8('hello '), 'lib/x.txt': strToU8('zip') }) });
    assert.equal(status, 201, JSON.stringify(json));
    assert.equal(json.stdout, 'hello zip\n');
  });

  test('additional_files: zip-slip names, a bomb and a symlink are refused (422)', async () => {
    for (const name of ['../evil.txt', '/etc/evil', 'a/../../evil']) {
      const { status, json } = await submit({ source_code: 'print(1)', language_id: 71, additional_files: zip({ [name]: strToU8('x') }) });
      assert.equal(status, 422, name);
      assert.ok(Array.isArray(json.additional_files), JSON.stringify(json));
    }
    // 100 MiB of zeros compress to ~100 KB: above the 64 MiB maxFilesBytes, refused while inflating.
    const bomb = await submit({ source_code: 'print(1)', language_id: 71, additional_files: zip({ 'zeros.bin': new Uint8Array(100 * 1024 * 1024) }) });
    assert.equal(bomb.status, 422);
    assert.match(String((bomb.json.additional_files as string[])[0]), /zip bomb/);
    const link = Buffer.from(zipSync({ 'link': [strToU8('/etc/passwd'), { os: 3, attrs: (0o120777 << 16) >>> 0 }] }));
    const symlink = await submit({ source_code: 'print(1)', language_id: 71, additional_files: link.toString('base64') });
    assert.equal(symlink.status, 422);
    assert.match(String((symlink.json.additional_files as string[])[0]), /symbolic link/);
  });

  test('refusals: enable_network, per-process limits, limits above the maxima, async', async () => {
    const net = await submit({ source_code: 'print(1)', language_id: 71, enable_network: true });
    assert.equal(net.status, 422);
    assert.ok(Array.isArray(net.json.enable_network));
    const perProcess = await submit({ source_code: 'print(1)', language_id: 71, enable_per_process_and_thread_time_limit: true });
    assert.equal(perProcess.status, 422);
    const cpu = await submit({ source_code: 'print(1)', language_id: 71, cpu_time_limit: 1000 });
    assert.deepEqual(cpu.json, { cpu_time_limit: [`must be less than or equal to ${cylo.policy.maxLimits.cpuTimeMs / 1000}`] });
    const asyncSubmit = await submit({ source_code: 'print(1)', language_id: 71 }, '');
    assert.equal(asyncSubmit.status, 400);
    assert.match(String(asyncSubmit.json.error), /wait=true/);
    for (const [method, url] of [['GET', '/judge0/submissions/some-token'], ['GET', '/judge0/submissions/batch?tokens=a,b'], ['POST', '/judge0/submissions/batch']] as const) {
      const res = await app.inject({ method, url, ...(method === 'POST' ? { payload: { submissions: [] } } : {}) });
      assert.equal(res.statusCode, 400, url);
      assert.match(String((JSON.parse(res.body) as Json).error), /submissions service/);
    }
  });

  // Judge0's rule: output that is not UTF-8 needs base64_encoded=true (201 with the error and the token).
  test('non-UTF-8 output: the conversion error, and base64 works', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const body = { source_code: 'import sys\nsys.stdout.buffer.write(b"\\xff\\xfe")', language_id: 71 };
    const plain = await submit(body);
    assert.equal(plain.status, 201);
    assert.equal(plain.json.error, UTF8_ERROR);
    assert.match(String(plain.json.token), /^[0-9a-f-]{36}$/);
    const b64 = await submit({ ...body, source_code: Buffer.from(body.source_code).toString('base64') }, 'base64_encoded=true&wait=true');
    assert.equal(b64.json.stdout, Buffer.from([0xff, 0xfe]).toString('base64'));
  });
});

describe('Judge0 expected_output and number_of_runs (the judging engine)', () => {
  // Proves expected_output becomes a compared test case: Judge0's trailing-whitespace rule
  // accepts, a different answer is 4 Wrong Answer.
  test('expected_output: 3 Accepted (trailing whitespace ignored), 4 Wrong Answer', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const code = 'print(int(input()) * 2, end="  \\n\\n")';
    const ok = await submit({ source_code: code, language_id: 71, stdin: '21', expected_output: '42' }, 'wait=true&fields=status,stdout');
    assert.equal(ok.status, 201, JSON.stringify(ok.json));
    assert.deepEqual(ok.json, { status: { id: 3, description: 'Accepted' }, stdout: '42  \n\n' });
    const wrong = await submit({ source_code: code, language_id: 71, stdin: '21', expected_output: '43\n' }, 'wait=true&fields=status,stdout');
    assert.deepEqual(wrong.json.status, { id: 4, description: 'Wrong Answer' });
    assert.equal(wrong.json.stdout, '42  \n\n');
  });

  // Proves number_of_runs goes through the judging engine end to end (that it becomes N
  // identical cases, and the averaging, are proved by the unit tests of the translation): the
  // runs are accepted against expected_output, and a failing run is reported with its status.
  test('number_of_runs: N runs, time averaged, a failing run reported', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const ok = await submit({ source_code: 'print("x")', language_id: 71, number_of_runs: 3, expected_output: 'x' }, 'wait=true&fields=*');
    assert.equal(ok.status, 201, JSON.stringify(ok.json));
    assert.equal((ok.json.status as Json).id, 3);
    assert.equal(ok.json.number_of_runs, 3);
    assert.match(String(ok.json.time), /^\d+\.\d{3}$/);
    const failing = await submit({ source_code: 'import sys\nsys.exit(4)', language_id: 71, number_of_runs: 2 }, 'wait=true&fields=status,exit_code');
    assert.deepEqual(failing.json, { status: { id: 11, description: 'Runtime Error (NZEC)' }, exit_code: 4 });
  });
});

describe('Judge0 queue full', () => {
  // Proves the 503 shape: with one slot busy and no queue, a submission is refused as Judge0 does.
  test('503 {"error": "queue is full"} with Retry-After', T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    const small = testCylo({ concurrency: 1, queueLimit: 0 }, 128);
    const server = await buildServer({ cylo: small, logger: false, processMetrics: false });
    try {
      const busy = submit({ source_code: 'import time\ntime.sleep(2)', language_id: 71, wall_time_limit: 10 }, 'wait=true', server);
      await waitFor('the first submission running', () => small.stats().running === 1, 30_000);
      const res = await server.inject({ method: 'POST', url: '/judge0/submissions?wait=true', payload: { source_code: 'print(1)', language_id: 71 } });
      assert.equal(res.statusCode, 503);
      assert.deepEqual(JSON.parse(res.body), { error: 'queue is full' });
      assert.ok(Number(res.headers['retry-after']) >= 1);
      assert.equal((await busy).status, 201);
    } finally {
      await server.close();
      await small.close();
    }
  });
});

describe('Judge0 authentication and mounting', () => {
  test('X-Auth-Token: 401 with an empty body when missing or wrong; the token works', async () => {
    const missing = await authApp.inject({ url: '/judge0/languages' });
    assert.equal(missing.statusCode, 401);
    assert.equal(missing.body, '');
    const wrong = await authApp.inject({ url: '/judge0/languages', headers: { 'x-auth-token': 'nope' } });
    assert.equal(wrong.statusCode, 401);
    assert.equal((await authApp.inject({ url: '/judge0/languages', headers: { 'x-auth-token': TOKEN } })).statusCode, 200);
    assert.equal((await authApp.inject({ url: '/judge0/languages', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 200);
    // The same header on cylo's own API.
    assert.equal((await authApp.inject({ url: '/v1/runtimes', headers: { 'x-auth-token': TOKEN } })).statusCode, 200);
  });

  test('a prefix and the root mount; off by default at the root', async () => {
    assert.equal((await rootApp.inject({ url: '/compat/statuses' })).statusCode, 200);
    assert.equal((await rootApp.inject({ url: '/statuses' })).statusCode, 200);
    assert.equal((await rootApp.inject({ url: '/judge0/statuses' })).statusCode, 404);
    assert.equal((await app.inject({ url: '/statuses' })).statusCode, 404);
    // The routes are in the OpenAPI document (schema-first).
    const doc = JSON.parse((await app.inject({ url: '/openapi.json' })).body) as { paths: Json };
    assert.ok('/judge0/submissions' in doc.paths && '/judge0/config_info' in doc.paths);
    const unknown = await app.inject({ url: '/judge0/nothing' });
    assert.equal(unknown.statusCode, 404);
    assert.equal(typeof (JSON.parse(unknown.body) as Json).error, 'string');
  });
});
