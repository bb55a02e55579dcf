// The Piston translation, as pure functions: request fields to a cylo request, cylo stages to
// Piston stages with their statuses, and the interleaved `output`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_POLICY } from '../../src/api/request.js';
import type { ExecutionResult, Stage } from '../../src/api/result.js';
import { CyloError } from '../../src/errors.js';
import { cyloToPistonResponse, OutputInterleaver, pistonStage, pistonToCyloRequest } from '../../src/server/piston.js';
import { pistonExecuteRequestSchema, pistonExecuteResponseSchema } from '../../src/server/schemas.js';

const cylo = { policy: { ...DEFAULT_POLICY, defaultEntry: (l: string) => (l === 'python' ? 'main.py' : 'main') } };

function stage(over: Partial<Stage>): Stage {
  return { status: 'ok', exitCode: 0, signal: null, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false, wallMs: 12.5, cpuMs: 8, memoryBytes: 4096, message: null, limit: null, ...over };
}

test('a Piston request becomes a cylo request: unnamed files, stdin newline, args, limits', () => {
  const body = pistonExecuteRequestSchema.parse({
    language: 'py',
    version: '3.x',
    files: [{ content: 'print(1)' }, { content: 'aGk=', encoding: 'base64' }, { name: 'lib/util.py', content: 'x=1' }],
    stdin: 'abc',
    args: ['1', '2', '3'],
    run_timeout: 3000,
    compile_timeout: 10000,
    run_memory_limit: -1,
    compile_memory_limit: -1,
    run_cpu_time: 1500.2,
    unknown_extra_field: true,
  });
  const req = pistonToCyloRequest(body, 'python', cylo);
  assert.deepEqual(req, {
    language: 'python',
    files: [
      { name: 'main.py', content: 'print(1)' },
      { name: 'file1.code', content: 'aGk=', encoding: 'base64' },
      { name: 'lib/util.py', content: 'x=1' },
    ],
    stdin: 'abc\n',
    args: ['1', '2', '3'],
    limits: { timeoutMs: 3000, compileTimeoutMs: 10000, cpuTimeMs: 1501 },
  });
});

test('Piston limits: 0 and -1 mean the server default, negative and above-maximum are refused with Piston messages', () => {
  const base = { language: 'python', files: [{ content: 'x' }] };
  const noLimits = pistonToCyloRequest(pistonExecuteRequestSchema.parse({ ...base, run_timeout: 0, run_memory_limit: -1 }), 'python', cylo);
  assert.equal(noLimits.limits, undefined);
  assert.throws(
    () => pistonToCyloRequest(pistonExecuteRequestSchema.parse({ ...base, run_timeout: -5 }), 'python', cylo),
    (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_VALIDATION' && e.message === 'run_timeout must be non-negative' && e.field === 'run_timeout',
  );
  const max = DEFAULT_POLICY.maxLimits.memoryBytes;
  assert.throws(
    () => pistonToCyloRequest(pistonExecuteRequestSchema.parse({ ...base, run_memory_limit: max + 1 }), 'python', cylo),
    (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_LIMIT_EXCEEDED' && e.message === `run_memory_limit cannot exceed the configured limit of ${max}` && e.status === 400,
  );
  // compile_cpu_time has no cylo counterpart: it is checked against the compile wall-clock maximum only.
  const cpu = pistonToCyloRequest(pistonExecuteRequestSchema.parse({ ...base, compile_cpu_time: 1000 }), 'python', cylo);
  assert.equal(cpu.limits, undefined);
});

test('Piston statuses: RE, SG, TO, OL, EL, XX, null; memory limit is SG with a message', () => {
  const cases: Array<[Partial<Stage>, string | null, string | null]> = [
    [{ status: 'ok' }, null, null],
    [{ status: 'runtime_error', exitCode: 3 }, 'RE', null],
    [{ status: 'runtime_error', exitCode: null, signal: 'SIGSEGV' }, 'SG', 'SIGSEGV'],
    [{ status: 'compile_error', exitCode: 1 }, 'RE', null],
    [{ status: 'timeout', exitCode: null, signal: null, message: 'wall-clock limit' }, 'TO', 'SIGKILL'],
    [{ status: 'memory_limit', exitCode: null, signal: 'SIGKILL' }, 'SG', 'SIGKILL'],
    [{ status: 'output_limit', stdoutTruncated: true, exitCode: null }, 'OL', 'SIGKILL'],
    [{ status: 'output_limit', stderrTruncated: true, exitCode: null }, 'EL', 'SIGKILL'],
    [{ status: 'internal_error', exitCode: null }, 'XX', null],
  ];
  for (const [over, status, signal] of cases) {
    const s = pistonStage(stage(over), undefined);
    assert.equal(s.status, status, JSON.stringify(over));
    assert.equal(s.signal, signal, JSON.stringify(over));
    if (status !== null) assert.equal(typeof s.message, 'string', `a message for ${status}`);
    else assert.equal(s.message, null);
  }
  assert.equal(pistonStage(stage({ status: 'runtime_error', exitCode: 3 }), undefined).message, 'Exited with error status 3');
  assert.equal(pistonStage(stage({ status: 'memory_limit', exitCode: null }), undefined).message, 'Memory limit exceeded');
  assert.equal(pistonStage(stage({ status: 'timeout', message: 'wall-clock limit' }), undefined).message, 'wall-clock limit');
});

test('the stage fields: code, cpu_time, wall_time, memory, and output from stdout + stderr without events', () => {
  const s = pistonStage(stage({ stdout: 'a\n', stderr: 'b\n', exitCode: 0 }), undefined);
  assert.deepEqual(s, { stdout: 'a\n', stderr: 'b\n', output: 'a\nb\n', code: 0, signal: null, message: null, status: null, cpu_time: 8, wall_time: 12.5, memory: 4096, limit: null });
});

test('output interleaves stdout and stderr in event order, decoding characters split across chunks', () => {
  const o = new OutputInterleaver();
  const euro = Buffer.from('€');
  const ev = (type: 'stdout' | 'stderr', data: Buffer, stageName: 'compile' | 'run' = 'run') => o.onEvent({ type, executionId: 'x', stage: stageName, data });
  ev('stdout', Buffer.from('1 '));
  ev('stderr', Buffer.from('2 '));
  ev('stdout', euro.subarray(0, 1));
  ev('stdout', euro.subarray(1));
  ev('stderr', Buffer.from(' 3'));
  ev('stderr', Buffer.from('warning'), 'compile');
  assert.equal(o.output('run'), '1 2 € 3');
  assert.equal(o.output('compile'), 'warning');
});

test('the limit that broke a stage is the extension field `limit`, beside Piston\'s own fields', () => {
  // proves: pistonStage carries stage.limit through (and the response schema keeps it)
  const s = pistonStage(stage({ status: 'memory_limit', exitCode: null, signal: 'SIGKILL', message: 'memory limit of 1 bytes exceeded', limit: 'memory' }), undefined);
  assert.equal(s.limit, 'memory');
  assert.equal(s.status, 'SG');
  assert.equal(pistonStage(stage({}), undefined).limit, null);
  const parsed = pistonExecuteResponseSchema.parse({ language: 'python', version: '3', run: s });
  assert.equal(parsed.run.limit, 'memory');
});

test('a response without a run stage repeats compile as run (as Piston does)', () => {
  const result: ExecutionResult = {
    id: 'i',
    language: 'c',
    version: '12.2.0',
    status: 'compile_error',
    compile: stage({ status: 'compile_error', exitCode: 1, stderr: 'main.c:1: error' }),
    run: null,
    layers: [],
    backend: 'namespace',
    outputEncoding: 'utf8',
  };
  const r = cyloToPistonResponse(result);
  assert.equal(r.language, 'c');
  assert.equal(r.version, '12.2.0');
  assert.equal(r.compile?.status, 'RE');
  assert.deepEqual(r.run, r.compile);
});

test('the output extension fields pass to the cylo request; base64 stdin gets no newline appended', () => {
  // proves: pistonToCyloRequest carries stdinEncoding/outputEncoding/redirectStderrToStdout
  // (dropping one would silently run without it) and never alters binary stdin.
  const base = { language: 'python', files: [{ content: 'x' }] };
  const req = pistonToCyloRequest(pistonExecuteRequestSchema.parse({ ...base, stdin: 'AP8=', stdinEncoding: 'base64', outputEncoding: 'base64', redirectStderrToStdout: true }), 'python', cylo);
  assert.deepEqual([req.stdin, req.stdinEncoding, req.outputEncoding, req.redirectStderrToStdout], ['AP8=', 'base64', 'base64', true]);
  const plain = pistonToCyloRequest(pistonExecuteRequestSchema.parse({ ...base, stdin: 'AP8=', stdinEncoding: 'utf8' }), 'python', cylo);
  assert.equal(plain.stdin, 'AP8=\n', 'utf8 stdin keeps Piston\'s newline');
  const none = pistonToCyloRequest(pistonExecuteRequestSchema.parse(base), 'python', cylo);
  assert.deepEqual(['stdinEncoding', 'outputEncoding', 'redirectStderrToStdout'].filter((k) => k in none), []);
});

test('base64 output: the interleaved output and the stdout+stderr fallback are base64 of the bytes, never of the text', () => {
  // proves: Piston's `output` with outputEncoding base64 is built from the raw chunks (a
  // character split across chunks, or invalid UTF-8, stays exact), and the fallback does not
  // concatenate two base64 strings (which is not base64 of the concatenation).
  const o = new OutputInterleaver('base64');
  const ev = (type: 'stdout' | 'stderr', data: Buffer) => o.onEvent({ type, executionId: 'x', stage: 'run', data });
  ev('stdout', Buffer.from([0xe2, 0x82]));
  ev('stderr', Buffer.from([0xff]));
  ev('stdout', Buffer.from([0xac, 0x00]));
  assert.deepEqual(Buffer.from(o.output('run') ?? '', 'base64'), Buffer.from([0xe2, 0x82, 0xff, 0xac, 0x00]));
  assert.equal(o.output('compile'), undefined);
  const s = stage({ stdout: Buffer.from('a').toString('base64'), stderr: Buffer.from('bc').toString('base64') });
  assert.equal(pistonStage(s, undefined, 'base64').output, Buffer.from('abc').toString('base64'));
  const result: ExecutionResult = { id: 'i', language: 'python', version: '3', status: 'ok', compile: null, run: s, layers: [], backend: 'namespace', outputEncoding: 'base64' };
  const response = cyloToPistonResponse(result);
  assert.equal(response.outputEncoding, 'base64');
  assert.equal(response.run.output, Buffer.from('abc').toString('base64'));
  assert.equal('outputEncoding' in cyloToPistonResponse({ ...result, outputEncoding: 'utf8' }), false);
});
