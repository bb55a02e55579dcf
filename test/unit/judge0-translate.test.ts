// Unit tests of the Judge0 API's pure translation (src/server/judge0/): the command-line
// splitter, the request translation (units, test cases for expected_output and number_of_runs,
// base64, refusals), the field names mapped back, the status mapping of every branch (exec
// format error included, which a real Judge0 request cannot reach), the result rendering
// (averages over runs, the representative case, null for empty text, fields, the UTF-8 rule),
// Judge0's error shapes, and the zip bounds (count, bomb, zip-slip, symlink) with small bounds.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { strToU8, zipSync } from 'fflate';
import { DEFAULT_POLICY } from '../../src/api/request.js';
import type { ExecutionResult, Stage } from '../../src/api/result.js';
import type { TestCaseResult } from '../../src/api/verdict.js';
import { CyloError } from '../../src/errors.js';
import { splitCommandLine } from '../../src/server/judge0/command-line.js';
import { judge0ErrorAnswer } from '../../src/server/judge0/errors.js';
import { judge0Languages } from '../../src/server/judge0/languages.js';
import { judge0Field, judge0ToCyloRequest } from '../../src/server/judge0/request.js';
import { judge0SubmissionSchema } from '../../src/server/judge0/schemas.js';
import { runtimeErrorId, verdictId } from '../../src/server/judge0/statuses.js';
import { outcomeOf, renderSubmission, requestedFields, UTF8_ERROR, type SubmissionRecord } from '../../src/server/judge0/submission.js';
import { unzipBounded } from '../../src/server/judge0/zip.js';
import { CANNOT_START_MESSAGE } from '../../src/engine/outcome.js';
import type { RuntimeInfo } from '../../src/cylo.js';

const info = (language: string, version: string, available = true): RuntimeInfo => ({ language, aliases: [], version, extension: '', available, compiled: false, package: '', problem: null, environments: [] });
const RUNTIMES = [info('python', '3.11.2'), info('c', '12.2.0'), info('rust', '1.0', false)];
const LANGUAGES = judge0Languages(RUNTIMES);
// Through the route's schema first (it turns "2" and "true" into a number and a boolean, as Rails).
const translate = (body: Record<string, unknown>, base64 = false) => judge0ToCyloRequest(judge0SubmissionSchema.parse(body), { base64, languages: LANGUAGES, policy: DEFAULT_POLICY });

function rejects(fn: () => unknown, field: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof CyloError && e.field === field && pattern.test(e.message));
}

describe('command_line_arguments splitting', () => {
  const cases: Array<[string, string[]]> = [
    ['', []],
    ['  a  b ', ['a', 'b']],
    [`"b c" 'd e'`, ['b c', 'd e']],
    [`'$HOME' "$HOME" $(id) a;b *`, ['$HOME', '$HOME', '$(id)', 'a;b', '*']],
    [`"a \\"q\\" \\\\ \\n"`, ['a "q" \\ \\n']],
    [`e\\ f '' ""`, ['e f', '', '']],
    [`x"y"'z'`, ['xyz']],
  ];
  for (const [line, args] of cases) test(JSON.stringify(line), () => assert.deepEqual(splitCommandLine(line), args));
  test('unterminated quotes and a trailing backslash are refused', () => {
    rejects(() => splitCommandLine(`"open`), 'command_line_arguments', /unterminated double quote/);
    rejects(() => splitCommandLine(`'open`), 'command_line_arguments', /unterminated single quote/);
    rejects(() => splitCommandLine('a\\'), 'command_line_arguments', /backslash/);
  });
});

describe('languages', () => {
  test('installed families only, the lowest id listed, the others archived', () => {
    assert.deepEqual(LANGUAGES.filter((l) => !l.is_archived).map((l) => [l.id, l.name]), [[48, 'C (GCC 12.2.0)'], [71, 'Python (3.11.2)']]);
    assert.deepEqual(LANGUAGES.filter((l) => l.runtime === 'python').map((l) => l.id), [71, 92, 100]);
    assert.ok(!LANGUAGES.some((l) => l.runtime === 'rust'));
  });
});

describe('request translation', () => {
  test('units: seconds to ms (rounded up), KB to bytes, processes to pids', () => {
    const t = translate({ source_code: 'print(1)', language_id: 92, cpu_time_limit: 1.2345, wall_time_limit: '2', memory_limit: 65536, max_processes_and_or_threads: 10 });
    assert.deepEqual(t.request.limits, { cpuTimeMs: 1235, timeoutMs: 2000, memoryBytes: 64 * 1024 * 1024, pids: 10 });
    assert.equal(t.request.language, 'python');
    assert.deepEqual(t.settings, { cpu_time_limit: 1.2345, wall_time_limit: 2, memory_limit: 65536, max_processes_and_or_threads: 10, number_of_runs: 1, redirect_stderr_to_stdout: false });
    assert.equal(t.request.tests, undefined);
    assert.equal(t.request.outputEncoding, 'base64');
  });

  test('expected_output: one case compared line by line; number_of_runs: N identical cases', () => {
    const one = translate({ source_code: 'x', language_id: 71, expected_output: 'ok\n' });
    assert.deepEqual(one.request.tests, [{ expectedOutput: 'ok\n' }]);
    assert.deepEqual(one.request.comparison, { mode: 'lines' });
    const many = translate({ source_code: 'x', language_id: 71, number_of_runs: 3 });
    assert.deepEqual(many.request.tests, [{}, {}, {}]);
    assert.equal(many.request.comparison, undefined);
    rejects(() => translate({ source_code: 'x', language_id: 71, number_of_runs: 21 }), 'number_of_runs', /less than or equal to 20/);
  });

  test('base64_encoded=true decodes source_code, stdin and expected_output', () => {
    const b = (s: string): string => Buffer.from(s).toString('base64');
    const t = translate({ source_code: b('print(input())'), language_id: 71, stdin: b('hi'), expected_output: b('hi\n') }, true);
    assert.equal(t.sourceCode.toString(), 'print(input())');
    assert.equal(t.request.stdin, b('hi'));
    assert.deepEqual(t.request.tests, [{ expectedOutput: 'hi\n' }]);
    rejects(() => translate({ source_code: '%%%', language_id: 71 }, true), 'source_code', /base64/);
  });

  test('refusals name the Judge0 field', () => {
    rejects(() => translate({ source_code: 'x', language_id: 99999 }), 'language_id', /language with id 99999 doesn't exist/);
    rejects(() => translate({ source_code: 'x', language_id: 73 }), 'language_id', /doesn't exist/); // rust: not installed
    rejects(() => translate({ language_id: 71 }), 'source_code', /can't be blank/);
    rejects(() => translate({ source_code: 'x', language_id: 71, enable_network: true }), 'enable_network', /no network/);
    rejects(() => translate({ source_code: 'x', language_id: 71, enable_per_process_and_thread_memory_limit: 'true' }), 'enable_per_process_and_thread_memory_limit', /cannot be enabled/);
    rejects(() => translate({ source_code: 'x', language_id: 71, cpu_time_limit: 0 }), 'cpu_time_limit', /greater than 0/);
    rejects(() => translate({ source_code: 'x', language_id: 71, stack_limit: -1 }), 'stack_limit', /greater than 0/);
    rejects(() => translate({ source_code: 'x', language_id: 71, callback_url: 'file:///etc/passwd' }), 'callback_url', /http or https/);
    rejects(() => translate({ source_code: 'x', language_id: 71, command_line_arguments: 'a'.repeat(513) }), 'command_line_arguments', /too long/);
  });

  test('cylo field names map back to Judge0 names', () => {
    const cases: Array<[string, string]> = [['language', 'language_id'], ['files[0].content', 'source_code'], ['files[2].name', 'additional_files'], ['args[1]', 'command_line_arguments'], ['compilerOptions[0]', 'compiler_options'], ['limits.memoryBytes', 'memory_limit'], ['limits.workspaceBytes', 'memory_limit'], ['tests[0].expectedOutput', 'expected_output'], ['tests', 'number_of_runs'], ['stdin', 'stdin']];
    for (const [cylo, judge0] of cases) assert.equal(judge0Field(cylo), judge0, cylo);
  });
});

const stage = (over: Partial<Stage> = {}): Stage => ({ status: 'ok', exitCode: 0, signal: null, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false, wallMs: 10, cpuMs: 5, memoryBytes: 2048 * 1024, message: null, limit: null, ...over });
const result = (over: Partial<ExecutionResult> = {}): ExecutionResult => ({ id: '00000000-0000-4000-8000-000000000000', language: 'c', version: '12', status: 'ok', compile: null, run: stage(), layers: [], backend: 'namespace', outputEncoding: 'base64', ...over });
const testCase = (index: number, verdict: TestCaseResult['verdict'], over: Partial<Stage> = {}): TestCaseResult => {
  const { status, cached, ...rest } = stage(over);
  void cached;
  return { ...rest, index, name: null, verdict, verdictMessage: null, status, checker: null };
};

describe('status mapping', () => {
  test('runtime errors by signal, exit, and a program that could not start', () => {
    const run = (signal: string | null, extra: Partial<Stage> = {}) => ({ exitCode: signal === null ? 1 : null, signal, message: null, limit: null, ...extra });
    assert.equal(runtimeErrorId(run('SIGSEGV')), 7);
    assert.equal(runtimeErrorId(run('SIGXFSZ')), 8);
    assert.equal(runtimeErrorId(run('SIGFPE')), 9);
    assert.equal(runtimeErrorId(run('SIGABRT')), 10);
    assert.equal(runtimeErrorId(run(null)), 11);
    assert.equal(runtimeErrorId(run('SIGBUS')), 12);
    assert.equal(runtimeErrorId(run(null, { exitCode: null, message: `${CANNOT_START_MESSAGE}exec failed` })), 14);
    assert.equal(runtimeErrorId(run(null, { limit: 'file_size' })), 8);
  });

  test('verdicts', () => {
    const none = { exitCode: 0, signal: null, message: null, limit: null };
    assert.deepEqual(['accepted', 'wrong_answer', 'time_limit', 'compile_error', 'output_limit', 'memory_limit', 'internal_error'].map((v) => verdictId(v as TestCaseResult['verdict'], none)), [3, 4, 5, 6, 8, 12, 13]);
  });

  test('a compile error is 6 with compile_output; a compile internal error is 13', () => {
    const ce = outcomeOf(result({ status: 'compile_error', compile: stage({ status: 'compile_error', exitCode: 1, stderr: Buffer.from('main.c:1: error').toString('base64') }), run: null }));
    assert.equal(ce.status.id, 6);
    assert.equal(ce.compileOutput?.toString(), 'main.c:1: error');
    assert.equal(ce.time, null);
    assert.equal(outcomeOf(result({ status: 'internal_error', compile: stage({ status: 'internal_error', message: 'x' }), run: null })).status.id, 13);
  });

  test('number_of_runs: time and memory averaged, the first failing case reported', () => {
    const o = outcomeOf(result({ run: null, tests: [testCase(0, 'accepted', { cpuMs: 10, wallMs: 20, memoryBytes: 1024 * 1024 }), testCase(1, 'runtime_error', { status: 'runtime_error', exitCode: 2, cpuMs: 30, wallMs: 40, memoryBytes: 3 * 1024 * 1024 })] }));
    assert.equal(o.status.id, 11);
    assert.equal(o.exitCode, 2);
    assert.equal(o.time, '0.020');
    assert.equal(o.wallTime, '0.030');
    assert.equal(o.memory, 2048);
    assert.equal(o.message, 'Exited with error status 2');
  });
});

describe('rendering', () => {
  const record = (run: Stage): SubmissionRecord => ({ token: 't', createdAt: new Date(0), finishedAt: new Date(1000), translation: translate({ source_code: 'x', language_id: 71 }), input: {}, result: result({ run }) });

  test('default fields; empty text is null; base64 out; the UTF-8 rule', () => {
    const ok = renderSubmission(record(stage({ stdout: Buffer.from('hi\n').toString('base64') })), { base64: false, fields: requestedFields(undefined) });
    assert.ok(ok.ok);
    assert.deepEqual(ok.body, { token: 't', time: '0.005', memory: 2048, stdout: 'hi\n', stderr: null, compile_output: null, message: null, status: { id: 3, description: 'Accepted' } });
    const bin = record(stage({ stdout: Buffer.from([0xff]).toString('base64') }));
    assert.deepEqual(renderSubmission(bin, { base64: false, fields: ['stdout'] }), { ok: false, error: UTF8_ERROR });
    assert.deepEqual(renderSubmission(bin, { base64: true, fields: ['stdout'] }), { ok: true, body: { stdout: '/w==' } });
  });

  test('fields: a list, *, unknown names refused', () => {
    assert.deepEqual(requestedFields('stdout, status'), ['stdout', 'status']);
    assert.ok(requestedFields('*').includes('language'));
    rejects(() => requestedFields('stdout,bogus'), 'fields', /^invalid fields: \[bogus\]$/);
  });
});

describe('error shapes', () => {
  test('422 per field, 400 for query parameters, 401 empty, 503 queue full', () => {
    assert.deepEqual(judge0ErrorAnswer(new CyloError('CYLO_E_LIMIT_EXCEEDED', 'limits.memoryBytes: 9 is above', { field: 'limits.memoryBytes' })), { status: 422, body: { memory_limit: ['9 is above'] } });
    assert.deepEqual(judge0ErrorAnswer(new CyloError('CYLO_E_COMPILER_OPTION', 'compilerOptions[1]: the compiler option "-B/x" is refused', { field: 'compilerOptions[1]' })), { status: 422, body: { compiler_options: ['the compiler option "-B/x" is refused'] } });
    assert.deepEqual(judge0ErrorAnswer(new CyloError('CYLO_E_VALIDATION', 'invalid fields: [x]', { field: 'fields' })), { status: 400, body: { error: 'invalid fields: [x]' } });
    assert.deepEqual(judge0ErrorAnswer(new CyloError('CYLO_E_UNAUTHORIZED', 'no', { field: 'authorization' })), { status: 401, body: undefined });
    assert.deepEqual(judge0ErrorAnswer(new CyloError('CYLO_E_QUEUE_FULL', 'busy')), { status: 503, body: { error: 'queue is full' } });
    assert.equal(judge0ErrorAnswer(new CyloError('CYLO_E_VALIDATION', 'body: not valid JSON', { field: 'body' })).status, 400);
  });
});

describe('additional_files bounds', () => {
  const zip = (files: Record<string, Uint8Array>): Buffer => Buffer.from(zipSync(files));
  test('a valid archive, directories skipped', () => {
    const files = unzipBounded(zip({ 'a.txt': strToU8('a'), 'd/': new Uint8Array(0), 'd/b.txt': strToU8('bb') }), { maxFiles: 10, maxBytes: 100 });
    assert.deepEqual(files.map((f) => [f.name, f.content.toString()]), [['a.txt', 'a'], ['d/b.txt', 'bb']]);
  });
  test('too many entries, too many bytes (a bomb stops early), bad names, symlinks, not a zip', () => {
    rejects(() => unzipBounded(zip({ a: strToU8('a'), b: strToU8('b') }), { maxFiles: 1, maxBytes: 100 }), 'additional_files', /2 entries/);
    rejects(() => unzipBounded(zip({ big: new Uint8Array(10 * 1024 * 1024) }), { maxFiles: 10, maxBytes: 64 * 1024 }), 'additional_files', /zip bomb/);
    for (const name of ['../x', '/abs', 'a/../../x', './x']) rejects(() => unzipBounded(zip({ [name]: strToU8('x') }), { maxFiles: 10, maxBytes: 100 }), 'additional_files', /entry/);
    const link = Buffer.from(zipSync({ l: [strToU8('/etc/passwd'), { os: 3, attrs: (0o120777 << 16) >>> 0 }] }));
    rejects(() => unzipBounded(link, { maxFiles: 10, maxBytes: 100 }), 'additional_files', /symbolic link/);
    rejects(() => unzipBounded(Buffer.from('not a zip at all, clearly'), { maxFiles: 10, maxBytes: 100 }), 'additional_files', /not a zip/);
    // A central directory that says 1 entry while the local headers hold 50: counted while unpacking.
    const many: Record<string, Uint8Array> = {};
    for (let i = 0; i < 50; i++) many[`f${i}`] = strToU8('x');
    const lying = zip(many);
    const eocd = lying.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    lying.writeUInt16LE(1, eocd + 8);
    lying.writeUInt16LE(1, eocd + 10);
    rejects(() => unzipBounded(lying, { maxFiles: 10, maxBytes: 1000 }), 'additional_files', /more than 10 entries/);
  });
});
