// The pieces the prepared-sandbox run was split into, each alone: the pure outcome classifier
// (src/engine/outcome.ts), the helper's status protocol (src/sandbox/helper-status.ts) and the
// capped output collector (src/sandbox/capped-output.ts). No sandbox is started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StageLimits, StageReport } from '../../src/backend/backend.js';
import { classifyStage } from '../../src/engine/outcome.js';
import { LineSplitter, parseHelperStatus } from '../../src/sandbox/helper-status.js';
import { CappedCollector } from '../../src/sandbox/capped-output.js';

const LIMITS: StageLimits = { timeoutMs: 1000, cpuTimeMs: 2000, memoryBytes: 64 << 20, pids: 16, outputBytes: 100, workspaceBytes: 1 << 20 };

function report(over: Partial<StageReport> = {}): StageReport {
  return { stopReason: null, setupError: null, exit: { code: 0, signalNumber: null }, oomKilled: false, stdout: Buffer.from('out'), stderr: Buffer.from('err'), stdoutTruncated: false, stderrTruncated: false, wallMs: 5, cpuMs: 3, memoryBytes: 1024, ...over };
}

test('exit 0 is ok; another exit is a runtime error (a compile error for a compiler)', () => {
  assert.deepEqual({ ...classifyStage(report(), 'run', LIMITS, 'utf8') }, { status: 'ok', exitCode: 0, signal: null, stdout: 'out', stderr: 'err', stdoutTruncated: false, stderrTruncated: false, wallMs: 5, cpuMs: 3, memoryBytes: 1024, message: null, limit: null });
  assert.equal(classifyStage(report({ exit: { code: 3, signalNumber: null } }), 'run', LIMITS, 'utf8').status, 'runtime_error');
  assert.equal(classifyStage(report({ exit: { code: 1, signalNumber: null } }), 'compile', LIMITS, 'utf8').status, 'compile_error');
});

test('a signal is named canonically: 6 is SIGABRT (never the alias SIGIOT), 29 is SIGIO', () => {
  const abort = classifyStage(report({ exit: { code: null, signalNumber: 6 } }), 'run', LIMITS, 'utf8');
  assert.deepEqual([abort.status, abort.exitCode, abort.signal], ['runtime_error', null, 'SIGABRT']);
  assert.equal(classifyStage(report({ exit: { code: null, signalNumber: 29 } }), 'run', LIMITS, 'utf8').signal, 'SIGIO');
  assert.equal(classifyStage(report({ exit: { code: null, signalNumber: 40 } }), 'run', LIMITS, 'utf8').signal, 'SIG40');
});

test('precedence: cancelled > setup failure > output > wall > CPU > memory > no exit', () => {
  const all = { stopReason: 'stdout' as const, setupError: 'boom', oomKilled: true, exit: null };
  assert.equal(classifyStage(report({ ...all, stopReason: 'cancelled' }), 'run', LIMITS, 'utf8').message, 'cancelled by the caller');
  assert.equal(classifyStage(report(all), 'run', LIMITS, 'utf8').message, 'sandbox setup failed: boom');
  const noSetup = { ...all, setupError: null };
  assert.equal(classifyStage(report(noSetup), 'run', LIMITS, 'utf8').status, 'output_limit');
  assert.equal(classifyStage(report({ ...noSetup, stopReason: 'timeout' }), 'run', LIMITS, 'utf8').message, 'wall-clock time limit of 1000 ms exceeded; the program was killed');
  assert.equal(classifyStage(report({ ...noSetup, stopReason: 'cpu' }), 'run', LIMITS, 'utf8').message, 'CPU time limit of 2000 ms exceeded; the program was killed');
  assert.equal(classifyStage(report({ ...noSetup, stopReason: null }), 'run', LIMITS, 'utf8').status, 'memory_limit');
  assert.equal(classifyStage(report({ exit: null }), 'run', LIMITS, 'utf8').status, 'internal_error');
});

test('a compile stage names the compiler in its messages (no patching afterwards)', () => {
  const s = classifyStage(report({ stopReason: 'timeout', exit: null }), 'compile', LIMITS, 'utf8');
  assert.equal(s.status, 'timeout');
  assert.match(s.message ?? '', /the compiler was killed/);
});

test('a program cylo stopped reports SIGKILL; a sandbox that never started reports no signal', () => {
  assert.equal(classifyStage(report({ stopReason: 'timeout', exit: null }), 'run', LIMITS, 'utf8').signal, 'SIGKILL');
  const setup = classifyStage(report({ stopReason: 'setup', setupError: 'the sandbox did not start within 10000 ms', exit: null }), 'run', LIMITS, 'utf8');
  assert.deepEqual([setup.status, setup.signal, setup.message], ['internal_error', null, 'sandbox setup failed: the sandbox did not start within 10000 ms']);
});

test('helper status lines: R, E, A, X with exit code or signal number; unknown lines ignored', () => {
  assert.deepEqual(parseHelperStatus('R'), { type: 'started', cpuUsec: null });
  assert.deepEqual(parseHelperStatus('R 1234'), { type: 'started', cpuUsec: 1234 });
  assert.deepEqual(parseHelperStatus('E cannot mount'), { type: 'setup-error', message: 'cannot mount' });
  assert.deepEqual(parseHelperStatus('A too large'), { type: 'artifact-error', message: 'too large' });
  assert.deepEqual(parseHelperStatus('X 3 0 55'), { type: 'exit', code: 3, signalNumber: null, cpuUsec: 55 });
  assert.deepEqual(parseHelperStatus('X 0 9'), { type: 'exit', code: null, signalNumber: 9, cpuUsec: null });
  assert.equal(parseHelperStatus('Z something new'), undefined);
  const lines = new LineSplitter();
  assert.deepEqual(lines.push('R\nX 0'), ['R']);
  assert.deepEqual(lines.push(' 0\n'), ['X 0 0'], 'a line split across chunks comes out whole');
});

test('capped output keeps the first cap bytes, reports the overflow once, and shows kept chunks live', () => {
  let overflows = 0;
  const live: string[] = [];
  const c = new CappedCollector(5, () => overflows++, (chunk) => live.push(chunk.toString()));
  c.push(Buffer.from('abc'));
  c.push(Buffer.from('defg'));
  c.push(Buffer.from('hij'));
  assert.equal(c.buffer().toString(), 'abcde');
  assert.equal(c.truncated, true);
  assert.equal(overflows, 1);
  assert.deepEqual(live, ['abc', 'de']);
});
