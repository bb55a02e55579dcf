// Unit tests for the program's own CPU time (src/sandbox/program-cpu.ts) and the CPU-time limit
// held against it (src/sandbox/watchdog.ts), with a counter the test sets by hand in place of the
// cgroup's: what the helper's status lines carry ("R <usec>", "X ... <usec>", helper-status.ts),
// the subtraction, and that the sandbox's setup neither shows in cpuMs nor counts toward the
// limit (issue 12, item 6). The real counter is exercised by test/unit/helper-refusals.test.ts
// (PID 1 reading it) and test/integration/limits.test.ts (a real sandbox).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHelperStatus } from '../../src/sandbox/helper-status.js';
import { ProgramCpu } from '../../src/sandbox/program-cpu.js';
import { Watchdog } from '../../src/sandbox/watchdog.js';
import { SandboxRun } from '../../src/sandbox/sandbox-run.js';
import type { ExecutionCgroup } from '../../src/sandbox/cgroups.js';
import type { StageReport, StageSpec, StopReason } from '../../src/backend/backend.js';
import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { waitFor } from '../support/wait.js';

test('status lines carry the counter in microseconds; without it, null', () => {
  assert.deepEqual(parseHelperStatus('R 6123'), { type: 'started', cpuUsec: 6123 });
  assert.deepEqual(parseHelperStatus('R'), { type: 'started', cpuUsec: null });
  assert.deepEqual(parseHelperStatus('X 0 0 6500'), { type: 'exit', code: 0, signalNumber: null, cpuUsec: 6500 });
  assert.deepEqual(parseHelperStatus('X -1 9 7000'), { type: 'exit', code: null, signalNumber: 9, cpuUsec: 7000 });
  assert.deepEqual(parseHelperStatus('X 3 0'), { type: 'exit', code: 3, signalNumber: null, cpuUsec: null });
  // Not a counter: ignored rather than trusted.
  assert.deepEqual(parseHelperStatus('R -5'), { type: 'started', cpuUsec: null });
  assert.deepEqual(parseHelperStatus('X 0 0 1e9'), { type: 'exit', code: 0, signalNumber: null, cpuUsec: null });
});

test('cpuMs is the counter at exit minus the counter at exec: setup is not charged', () => {
  // An empty main: 6 ms of setup before its exec, 0.5 ms of its own; the kill sweep after it
  // adds more (the counter read at the end is not used when the program reported its exit).
  let counter = 0;
  const cpu = new ProgramCpu(() => counter);
  counter = 6.25;
  cpu.started(6000); // PID 1 read 6.000 ms just before the exec
  assert.equal(cpu.used(), 0.25);
  cpu.exited(6500);
  counter = 9;
  assert.equal(cpu.total(counter), 0.5);
});

test('killed before it reported its exit: the end is the counter once the sandbox is gone', () => {
  let counter = 5;
  const cpu = new ProgramCpu(() => counter);
  cpu.started(5000);
  counter = 305;
  assert.equal(cpu.total(counter), 300);
});

test('never started: 0; no counter from the helper: the host reads it at the start', () => {
  let counter = 7;
  assert.equal(new ProgramCpu(() => counter).total(counter), 0);
  const cpu = new ProgramCpu(() => counter);
  cpu.started(null);
  counter = 9;
  assert.equal(cpu.total(counter), 2);
});

test('the CPU-time limit counts the program, not the setup before its exec', async () => {
  // Fails when the watchdog reads the raw cgroup counter: 100 ms of setup against a 50 ms limit
  // would stop the program at its first check, before it ran at all.
  let counter = 100;
  const cpu = new ProgramCpu(() => counter);
  const stops: StopReason[] = [];
  const dog = new Watchdog({ timeoutMs: 60_000, cpuTimeMs: 50, setupTimeoutMs: 60_000, cpuMs: () => cpu.used(), onStop: (r) => stops.push(r) });
  try {
    cpu.started(100_000);
    dog.programStarted(); // checks at once
    assert.deepEqual(stops, [], 'the setup did not count toward the limit');
    counter = 149; // 49 ms of the program's own
    await new Promise((r) => setTimeout(r, 300)); // several checks (each at most 250 ms apart)
    assert.deepEqual(stops, []);
    counter = 150; // the limit
    await waitFor('the CPU stop', () => stops.length > 0);
    assert.deepEqual(stops, ['cpu']);
  } finally {
    dog.dispose();
  }
});

test('a sandbox run reports the program CPU and holds the limit against it (the wiring in SandboxRun)', async () => {
  // Fails with the earlier wiring (the raw cgroup counter): the 100 ms of setup would stop the
  // run at once on its 50 ms CPU limit ('cpu'), and cpuMs would be the 130 ms counter at the end.
  // The cgroup and bubblewrap are stand-ins with a counter the test sets: what is under test is
  // how the run turns the helper's lines and the counter into the report.
  let counter = 100;
  const cgroup: ExecutionCgroup = {
    name: 'fake',
    procsFiles: [],
    cpuCounter: { path: '/fake/cpu.stat', format: 'v2' },
    cpuMs: () => counter,
    stats: () => ({ cpuMs: counter, memoryPeakBytes: 4096, oomKilled: false, pidsLimitHit: false }),
    pids: () => [],
    killAll: () => Promise.resolve(true),
    remove: () => Promise.resolve(),
    removeIfEmptySync: () => {},
    configure: () => {},
    reset: () => Promise.resolve(),
  };
  const bwrap = Object.assign(new EventEmitter(), { pid: undefined, exitCode: 0, signalCode: null }) as unknown as ChildProcess;
  const spec: StageSpec = { kind: 'run', roots: [], mounts: [], argv: ['/bin/true'], env: {}, files: [], stdin: Buffer.alloc(0), limits: { timeoutMs: 60_000, cpuTimeMs: 50, memoryBytes: 1 << 20, pids: 8, outputBytes: 1024, workspaceBytes: 1 << 20 } };
  const report = await new Promise<StageReport>((resolve) => {
    const run = new SandboxRun(bwrap, cgroup, spec, () => undefined, resolve);
    run.status('R 100000');
    counter = 100.5;
    run.status('X 0 0 100500');
    counter = 130; // the kill sweep and bubblewrap's exit, after the program
    run.close();
  });
  assert.equal(report.stopReason, null);
  assert.equal(report.cpuMs, 0.5);
  assert.deepEqual(report.exit, { code: 0, signalNumber: null });
});
