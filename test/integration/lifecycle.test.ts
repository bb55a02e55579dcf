// Integration tests for what a caller sees of an execution: exit codes and signals, stdin and
// argv delivery, cancellation through an AbortSignal, and the lifecycle events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { openCgroups } from '../../src/sandbox/cgroups.js';
import { CyloError } from '../../src/errors.js';
import type { ExecutionEvent } from '../../src/engine/lifecycle.js';
import type { StateEvent } from '../../src/engine/state-machine.js';
import { LAYERS } from '../../src/api/result.js';
import { DEFAULT_REQUEST_BOUNDS } from '../../src/api/limits.js';
import { getCylo, run, startAndWaitReady, TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { settledBusyCgroups, processesWith, uniqueMarker } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const T = { timeout: 20_000 };

const isCancelled = (e: unknown): boolean => e instanceof CyloError && e.code === 'CYLO_E_CANCELLED' && e.status === 499;
const states = (events: ExecutionEvent[]): string[] => events.filter((e): e is StateEvent => e.type === 'state').map((e) => `${e.from}->${e.to}`);

// ------------------------------------------------------------------------------------------
// exit status
// ------------------------------------------------------------------------------------------

test('exit 0 is ok, with the result fields filled in', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const r = await run({ language: 'bash', code: 'echo out; echo err >&2' });
  assert.equal(r.status, 'ok');
  assert.match(r.id, /^[0-9a-f-]{36}$/);
  assert.equal(r.language, 'bash');
  assert.match(r.version, /^\d+\.\d+/);
  assert.equal(r.compile, null);
  assert.deepEqual(r.layers, [...LAYERS]);
  assert.equal(r.backend, 'namespace', 'the result names the backend that ran it');
  assert.deepEqual(
    { ...r.run, wallMs: 0, cpuMs: 0, memoryBytes: 0 },
    { status: 'ok', exitCode: 0, signal: null, stdout: 'out\n', stderr: 'err\n', stdoutTruncated: false, stderrTruncated: false, wallMs: 0, cpuMs: 0, memoryBytes: 0, message: null, limit: null },
  );
  assert.ok(r.run.wallMs > 0 && r.run.cpuMs > 0 && r.run.memoryBytes > 0);
});

test('exit 3 is runtime_error with exitCode 3', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const r = await run({ language: 'bash', code: 'exit 3' });
  assert.equal(r.status, 'runtime_error');
  assert.equal(r.run.exitCode, 3);
  assert.equal(r.run.signal, null);
  assert.equal(r.run.message, null);
});

test('a program killed by SIGSEGV reports the signal and no exit code', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const r = await run({ language: 'bash', code: 'kill -SEGV $$' });
  assert.equal(r.status, 'runtime_error');
  assert.equal(r.run.signal, 'SIGSEGV');
  assert.equal(r.run.exitCode, null);
});

test('an uncaught Python exception is runtime_error with the traceback on stderr', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const r = await run({ language: 'python', code: 'raise ValueError("boom")' });
  assert.equal(r.status, 'runtime_error');
  assert.equal(r.run.exitCode, 1);
  assert.match(r.run.stderr, /ValueError: boom/);
});

test('exit codes above 128 are reported as they are, not as signals', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const r = await run({ language: 'bash', code: 'exit 139' });
  assert.equal(r.status, 'runtime_error');
  assert.equal(r.run.exitCode, 139);
  assert.equal(r.run.signal, null);
});

// ------------------------------------------------------------------------------------------
// stdin and argv
// ------------------------------------------------------------------------------------------

test('stdin reaches the program', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const stdin = 'line one\nline two with ünïcode\n$(not expanded)\n';
  const r = await run({ language: 'bash', code: 'cat', stdin });
  assert.equal(r.status, 'ok');
  assert.equal(r.run.stdout, stdin);
  const py = await run({ language: 'python', code: 'import sys\nprint(sum(int(l) for l in sys.stdin))', stdin: '1\n2\n3\n' });
  assert.equal(py.run.stdout, '6\n');
});

test('a program that ignores a large stdin is not stalled by it', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const r = await run({ language: 'bash', code: 'echo done', stdin: 'x'.repeat(4 * 1024 * 1024) });
  assert.equal(r.status, 'ok');
  assert.equal(r.run.stdout, 'done\n');
});

test('args reach the program literally, one element each', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const args = ['$(id)', '`whoami`', 'a b', '  spaced  ', '--help', '--', '; rm -rf /', '"quoted"', "'single'", '*', '~', '$HOME', '', 'ünïcode'];
  const py = await run({ language: 'python', code: 'import sys, json\nprint(json.dumps(sys.argv[1:]))', args });
  assert.equal(py.status, 'ok', py.run.stderr);
  assert.deepEqual(JSON.parse(py.run.stdout), args);
  const sh = await run({ language: 'bash', code: 'printf "[%s]\\n" "$@"', args });
  assert.equal(sh.run.stdout, args.map((a) => `[${a}]\n`).join(''));
});

test('args up to the total size bound reach the program; beyond it the request is refused, not an internal error', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const big = 'y'.repeat(64 * 1024);
  const fits = Math.floor(DEFAULT_REQUEST_BOUNDS.maxArgsTotalBytes / (big.length + 1));
  const r = await run({ language: 'python', code: 'import sys\nprint(len(sys.argv) - 1, sum(map(len, sys.argv[1:])))', args: Array.from({ length: fits }, () => big) });
  assert.equal(r.status, 'ok', `${r.run.message ?? ''} ${r.run.stderr}`);
  assert.equal(r.run.stdout, `${fits} ${fits * big.length}\n`);
  await assert.rejects(
    run({ language: 'python', code: 'pass', args: Array.from({ length: 40 }, () => big) }),
    (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_VALIDATION' && e.field === 'args',
  );
});

test('request env variables reach the program, with PATH and HOME set by cylo', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const r = await run({ language: 'bash', code: 'echo "$GREETING|$HOME|$TMPDIR"', env: { GREETING: 'hello $(id)' } });
  assert.equal(r.run.stdout, 'hello $(id)|/work|/work/.tmp\n');
});

// ------------------------------------------------------------------------------------------
// cancellation
// ------------------------------------------------------------------------------------------

test('aborting a running execution rejects with CYLO_E_CANCELLED and leaves no process', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const marker = uniqueMarker();
  const controller = new AbortController();
  const events: ExecutionEvent[] = [];
  const { result, ready } = startAndWaitReady(
    { language: 'bash', code: '(exec -a "$1-child" sleep 1000) &\necho ready\nsleep 1000', args: [marker], limits: { timeoutMs: 15_000 } },
    { signal: controller.signal, onEvent: (e) => events.push(e) },
  );
  await ready;
  assert.ok(processesWith(marker).length > 0, 'the execution is running');
  const abortedAt = performance.now();
  controller.abort();
  await assert.rejects(result, (e: unknown) => isCancelled(e));
  assert.ok(performance.now() - abortedAt < 10_000, 'the abort ended it, well before its 15 s limit would have');
  assert.deepEqual(processesWith(marker), [], 'no process is left');
  assert.deepEqual(await settledBusyCgroups(), []);
  const last = events.filter((e): e is StateEvent => e.type === 'state').at(-1);
  assert.equal(last?.from, 'Processing');
  assert.equal(last?.to, 'Failed');
  assert.match(last?.reason ?? '', /cancelled/);
});

test('an already-aborted signal rejects with CYLO_E_CANCELLED without running the program', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const marker = uniqueMarker();
  let output = '';
  await assert.rejects(
    getCylo().execute({ language: 'bash', code: 'echo ran', args: [marker] }, { signal: AbortSignal.abort(), onEvent: (e) => (e.type === 'stdout' ? (output += e.data.toString()) : undefined) }),
    (e: unknown) => isCancelled(e),
  );
  assert.equal(output, '', 'the program did not get to print');
  assert.deepEqual(processesWith(marker), []);
  assert.deepEqual(await settledBusyCgroups(), []);
});

test('a SIGKILLed service takes its sandboxes with it (--die-with-parent)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const marker = uniqueMarker();
  const cyloModule = new URL('../../src/cylo.js', import.meta.url).href;
  // A separate cylo "service" process, so that it can be SIGKILLed: no cleanup code of it runs.
  const service = `
const { createCylo } = await import(${JSON.stringify(cyloModule)});
const cylo = createCylo({ uidBase: ${TEST_UID_BASE + TEST_UID_COUNT}, uidCount: 64 });
cylo.execute(
  { language: 'bash', code: 'echo ready; sleep 1000', args: [${JSON.stringify(marker)}], limits: { timeoutMs: 15000 } },
  { onEvent: (e) => { if (e.type === 'stdout') process.stdout.write('ready\\n'); } },
).catch(() => {});
`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', service], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  try {
    const [first] = (await Promise.race([once(child.stdout, 'data'), once(child, 'exit').then(() => [Buffer.from(`service exited: ${stderr}`)])])) as [Buffer];
    assert.equal(first.toString(), 'ready\n');
    assert.ok(processesWith(marker).length > 0, 'the sandbox is running');
    child.kill('SIGKILL');
    await once(child, 'exit');
    await waitFor('the sandbox to die with its service', () => processesWith(marker).length === 0);
  } finally {
    child.kill('SIGKILL');
    // The killed service could not remove its cgroups: clean them up as a restarted service would.
    const cgroups = openCgroups();
    for (const name of cgroups.list().filter((n) => n.startsWith(`x-${child.pid}-`))) await cgroups.open(name).remove();
  }
});

// ------------------------------------------------------------------------------------------
// lifecycle events
// ------------------------------------------------------------------------------------------

test('lifecycle events: Init -> MountRamdisk -> PrepareExecution -> Processing -> Done, in order', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const events: ExecutionEvent[] = [];
  const r = await run({ language: 'bash', code: 'echo one; echo two >&2' }, { onEvent: (e) => events.push(e) });
  assert.equal(r.status, 'ok');
  assert.deepEqual(states(events), ['Init->MountRamdisk', 'MountRamdisk->PrepareExecution', 'PrepareExecution->Processing', 'Processing->Done']);
  for (const e of events) assert.equal(e.executionId, r.id, 'every event carries the execution id');
  const stateEvents = events.filter((e): e is StateEvent => e.type === 'state');
  for (let i = 1; i < stateEvents.length; i++) assert.ok((stateEvents[i] as StateEvent).atMs >= (stateEvents[i - 1] as StateEvent).atMs);
  // Output chunks arrive while Processing, before Done.
  const processing = events.findIndex((e) => e.type === 'state' && e.to === 'Processing');
  const done = events.findIndex((e) => e.type === 'state' && e.to === 'Done');
  const output = events.map((e, i) => [e, i] as const).filter(([e]) => e.type === 'stdout' || e.type === 'stderr');
  assert.ok(output.length >= 2);
  for (const [e, i] of output) {
    assert.ok(i > processing && i < done, 'output between Processing and Done');
    assert.equal((e as { stage: string }).stage, 'run');
  }
  assert.equal(
    output.filter(([e]) => e.type === 'stdout').map(([e]) => (e as { data: Buffer }).data.toString()).join(''),
    'one\n',
  );
});

test('a program that fails still ends in Done: Failed is for cylo failures only', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const events: ExecutionEvent[] = [];
  const r = await run({ language: 'bash', code: 'exit 7' }, { onEvent: (e) => events.push(e) });
  assert.equal(r.status, 'runtime_error');
  assert.equal(states(events).at(-1), 'Processing->Done');
  const timedOut: ExecutionEvent[] = [];
  const slow = await run({ language: 'bash', code: 'sleep 5', limits: { timeoutMs: 300 } }, { onEvent: (e) => timedOut.push(e) });
  assert.equal(slow.status, 'timeout');
  assert.equal(states(timedOut).at(-1), 'Processing->Done');
});

test('an onEvent listener that throws neither breaks the execution nor crashes the process', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown): void => {
    uncaught.push(e);
  };
  process.on('uncaughtException', onUncaught);
  try {
    for (const type of ['state', 'stdout'] as const) {
      const r = await run(
        { language: 'bash', code: 'echo hi' },
        {
          onEvent: (e) => {
            if (e.type === type) throw new Error(`listener bug on ${type}`);
          },
        },
      );
      assert.equal(r.status, 'ok', type);
      assert.equal(r.run.stdout, 'hi\n');
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(uncaught, []);
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});

test('invalid requests fail before any lifecycle event', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const events: ExecutionEvent[] = [];
  await assert.rejects(getCylo().execute({ language: 'bash', code: 'true', limits: { pids: 0 } }, { onEvent: (e) => events.push(e) }), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_VALIDATION' && e.field === 'limits.pids');
  await assert.rejects(getCylo().execute({ language: 'klingon', code: 'true' }, { onEvent: (e) => events.push(e) }), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_UNKNOWN_LANGUAGE');
  assert.deepEqual(events, []);
});
