// Unit tests (pure, no sandbox) for the outcome classifier (src/engine/outcome.ts): StageReports
// built by hand, as a backend would report them, and the Stage every interface returns. These
// cases prove that a memory kill always names SIGKILL, and that the limit that ended or broke
// a stage is named in the machine-readable `limit` field from the kernel's facts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import type { StageLimits, StageReport } from '../../src/backend/backend.js';
import { classifyStage } from '../../src/engine/outcome.js';
import { parseHelperStatus, workspaceIsFull } from '../../src/sandbox/helper-status.js';

const MiB = 1024 * 1024;
const LIMITS: StageLimits = { timeoutMs: 2000, cpuTimeMs: 1500, memoryBytes: 64 * MiB, pids: 16, outputBytes: 1024, workspaceBytes: 8 * MiB };

function report(over: Partial<StageReport> = {}): StageReport {
  return {
    stopReason: null,
    setupError: null,
    exit: { code: 0, signalNumber: null },
    oomKilled: false,
    stdout: Buffer.alloc(0),
    stderr: Buffer.alloc(0),
    stdoutTruncated: false,
    stderrTruncated: false,
    wallMs: 10,
    cpuMs: 5,
    memoryBytes: MiB,
    ...over,
  };
}

test('a memory kill whose end PID 1 never reported is memory_limit with SIGKILL and limit memory', () => {
  // proves: the classifier's oomKilled-without-exit case names SIGKILL (the kernel's OOM kill
  // is always SIGKILL); before the fix it reported signal null
  const s = classifyStage(report({ oomKilled: true, exit: null }), 'run', LIMITS, 'utf8');
  assert.equal(s.status, 'memory_limit');
  assert.equal(s.signal, 'SIGKILL');
  assert.equal(s.exitCode, null);
  assert.equal(s.limit, 'memory');
  assert.match(s.message ?? '', /memory limit of 67108864 bytes exceeded; the program was killed/);
});

test('a memory kill PID 1 reported (signal 9) is memory_limit with SIGKILL and limit memory', () => {
  const s = classifyStage(report({ oomKilled: true, exit: { code: null, signalNumber: constants.signals.SIGKILL } }), 'run', LIMITS, 'utf8');
  assert.deepEqual([s.status, s.signal, s.exitCode, s.limit], ['memory_limit', 'SIGKILL', null, 'memory']);
});

test('no exit reported without an OOM kill stays internal_error with no signal and no limit', () => {
  const s = classifyStage(report({ exit: null }), 'run', LIMITS, 'utf8');
  assert.deepEqual([s.status, s.signal, s.limit], ['internal_error', null, null]);
});

test('limits cylo enforced itself: output, wall, cpu', () => {
  const out = classifyStage(report({ stopReason: 'stdout', exit: null }), 'run', LIMITS, 'utf8');
  assert.deepEqual([out.status, out.signal, out.limit], ['output_limit', 'SIGKILL', 'output']);
  const err = classifyStage(report({ stopReason: 'stderr', exit: null }), 'compile', LIMITS, 'utf8');
  assert.deepEqual([err.status, err.limit], ['output_limit', 'output']);
  assert.match(err.message ?? '', /the compiler was stopped/);
  const wall = classifyStage(report({ stopReason: 'timeout', exit: null }), 'run', LIMITS, 'utf8');
  assert.deepEqual([wall.status, wall.signal, wall.limit], ['timeout', 'SIGKILL', 'wall']);
  const cpu = classifyStage(report({ stopReason: 'cpu', exit: null }), 'run', LIMITS, 'utf8');
  assert.deepEqual([cpu.status, cpu.signal, cpu.limit], ['timeout', 'SIGKILL', 'cpu']);
  // A wall-clock stop wins over an OOM kill seen at the same time (first match wins).
  assert.equal(classifyStage(report({ stopReason: 'timeout', oomKilled: true, exit: null }), 'run', LIMITS, 'utf8').limit, 'wall');
});

test('a program that failed after a refused fork names the pids limit', () => {
  // proves: pids.events (pidsLimitHit) turns a bare runtime_error (message null before) into
  // one that names the pids limit
  const s = classifyStage(report({ exit: { code: 2, signalNumber: null }, pidsLimitHit: true }), 'run', LIMITS, 'utf8');
  assert.equal(s.status, 'runtime_error');
  assert.equal(s.exitCode, 2);
  assert.equal(s.limit, 'pids');
  assert.match(s.message ?? '', /pids limit of 16 processes and threads.*EAGAIN/);
  // A compile stage's failure is a compile_error naming the same limit.
  const c = classifyStage(report({ exit: { code: 1, signalNumber: null }, pidsLimitHit: true }), 'compile', LIMITS, 'utf8');
  assert.deepEqual([c.status, c.limit], ['compile_error', 'pids']);
  assert.match(c.message ?? '', /the compiler reached the pids limit/);
});

test('a program that failed with a full workspace names the workspace', () => {
  const s = classifyStage(report({ exit: { code: 1, signalNumber: null }, workspaceFull: true, pidsLimitHit: true }), 'run', LIMITS, 'utf8');
  assert.equal(s.status, 'runtime_error');
  assert.equal(s.limit, 'workspace', 'the workspace is named before the pids limit');
  assert.match(s.message ?? '', /workspace was full \(workspaceBytes 8388608, or its file count cap\).*ENOSPC/);
});

test('SIGXFSZ names the file_size limit', () => {
  const s = classifyStage(report({ exit: { code: null, signalNumber: constants.signals.SIGXFSZ }, workspaceFull: true }), 'run', LIMITS, 'utf8');
  assert.deepEqual([s.status, s.signal, s.limit], ['runtime_error', 'SIGXFSZ', 'file_size']);
});

test('an ok stage, and a failure with no limit in the facts, name no limit', () => {
  // The program met a limit and handled it (exit 0): not what ended or broke it.
  const okStage = classifyStage(report({ pidsLimitHit: true, workspaceFull: true }), 'run', LIMITS, 'utf8');
  assert.deepEqual([okStage.status, okStage.limit, okStage.message], ['ok', null, null]);
  const plain = classifyStage(report({ exit: { code: 3, signalNumber: null } }), 'run', LIMITS, 'utf8');
  assert.deepEqual([plain.status, plain.limit, plain.message], ['runtime_error', null, null]);
  const cancelled = classifyStage(report({ stopReason: 'cancelled', exit: null, oomKilled: true }), 'run', LIMITS, 'utf8');
  assert.deepEqual([cancelled.status, cancelled.limit], ['internal_error', null]);
  const setup = classifyStage(report({ stopReason: 'setup', setupError: 'x', exit: null }), 'run', LIMITS, 'utf8');
  assert.deepEqual([setup.status, setup.signal, setup.limit], ['internal_error', null, null]);
});

test('the W status line and when a workspace counts as full', () => {
  assert.deepEqual(parseHelperStatus('W 4096 12'), { type: 'workspace', freeBytes: 4096, freeInodes: 12 });
  assert.deepEqual(parseHelperStatus('W 0 -1'), { type: 'workspace', freeBytes: 0, freeInodes: -1 });
  assert.equal(parseHelperStatus('W x y'), undefined);
  assert.equal(workspaceIsFull(0, 100), true, 'no byte left');
  assert.equal(workspaceIsFull(4095, 100), true, 'less than a page left: nothing can grow');
  assert.equal(workspaceIsFull(1 << 20, 0), true, 'no inode left');
  assert.equal(workspaceIsFull(1 << 20, -1), false, 'no inode cap (-1) is not full');
  assert.equal(workspaceIsFull(4096, 1), false);
});
