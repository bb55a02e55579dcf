// Integration tests for the resource limits with real, hostile programs: fork bombs, memory
// bombs, endless output, busy loops, programs that stop themselves and programs that try to
// leave processes behind. Every one runs only after the pre-flight has shown that the pids and
// memory limits and the network namespace are in force, with tight limits and a short timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { run } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { preflight, skipWithoutPreflight } from '../support/preflight.js';
import { settledBusyCgroups, processesWith, uniqueMarker } from '../support/processes.js';
import { MiB } from '../support/units.js';
import { slow } from '../support/slow.js';

const T = { timeout: slow(20_000) };

/** After a hostile run: nothing of it is left on the host and this process still works. */
async function assertHostClean(marker: string): Promise<void> {
  assert.deepEqual(
    processesWith(marker).map((p) => `${p.pid} ${p.cmdline.join(' ')}`),
    [],
    'no process of the execution is left',
  );
  assert.deepEqual(await settledBusyCgroups(), [], "the execution's cgroups hold no process");
  assert.equal(spawnSync('/bin/true').status, 0, 'this process can still start processes');
  const after = await run({ language: 'bash', code: 'echo still-ok' });
  assert.equal(after.run.stdout, 'still-ok\n', 'a following execution works');
}

test('pre-flight: the pids limit, the memory limit and the network namespace are in force', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // On a host that can run sandboxes, a failed pre-flight is a real defect: fail, do not skip.
  const result = await preflight();
  assert.equal(result.ok, true, result.reason);
});

// ------------------------------------------------------------------------------------------
// processes
// ------------------------------------------------------------------------------------------

test('a bash fork bomb is contained by the pids limit', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const marker = uniqueMarker();
  const started = performance.now();
  // The main shell stays (sleep) so that the bomb rages against the limit for the whole run.
  const r = await run({ language: 'bash', code: ':(){ :|:& };:\nsleep 10', args: [marker], limits: { pids: 32, timeoutMs: 2000 } });
  assert.ok(['timeout', 'runtime_error'].includes(r.status), `status ${r.status}: ${r.run.message ?? ''}`);
  assert.match(r.run.stderr, /fork: (retry: )?Resource temporarily unavailable/, 'the bomb ran into the pids limit');
  assert.ok(performance.now() - started < 10_000, 'the 2 s limit ended the run well before the program\'s own `sleep 10` would have');
  await assertHostClean(marker);
});

test('a bash fork bomb whose shell exits at once is torn down with it', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const marker = uniqueMarker();
  // The classic one-liner: the first shell returns immediately and the bomb is left to its
  // descendants, which die with the sandbox's PID 1.
  const r = await run({ language: 'bash', code: ':(){ :|:& };:', args: [marker], limits: { pids: 32, timeoutMs: 2000 } });
  assert.ok(['ok', 'timeout', 'runtime_error'].includes(r.status), `status ${r.status}: ${r.run.message ?? ''}`);
  await assertHostClean(marker);
});

test('a Python os.fork loop is contained by the pids limit', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const marker = uniqueMarker();
  const code = 'import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n';
  const r = await run({ language: 'python', code, args: [marker], limits: { pids: 32, timeoutMs: 2000 } });
  // 32 interpreters copying their pages on write can also reach the 128 MiB memory limit first.
  assert.ok(['timeout', 'runtime_error', 'memory_limit'].includes(r.status), `status ${r.status}: ${r.run.message ?? ''}`);
  await assertHostClean(marker);
});

test('the pids limit is exactly the program\'s own process count', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const code = `
import errno, os, time
started = 0
while True:
    try:
        pid = os.fork()
    except OSError as e:
        print(started, errno.errorcode[e.errno])
        break
    if pid == 0:
        time.sleep(3)
        os._exit(0)
    started += 1
`;
  for (const pids of [2, 5]) {
    const r = await run({ language: 'python', code, limits: { pids, timeoutMs: slow(5000) } });
    assert.equal(r.status, 'ok', `${r.run.message ?? ''} ${r.run.stderr}`);
    // The program itself plus pids - 1 children; the sandbox's supervisors are not counted.
    assert.equal(r.run.stdout, `${pids - 1} EAGAIN\n`, `pids ${pids}`);
  }
});

test('the pids limit counts threads too', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const code = `
import threading, time
n = 0
try:
    for _ in range(200):
        threading.Thread(target=time.sleep, args=(2,), daemon=True).start()
        n += 1
except RuntimeError as e:
    print('refused', n)
`;
  const r = await run({ language: 'python', code, limits: { pids: 16, timeoutMs: slow(5000) } });
  assert.equal(r.status, 'ok', r.run.stderr);
  const n = Number(/^refused (\d+)$/m.exec(r.run.stdout)?.[1] ?? 'NaN');
  assert.ok(n < 16, `threads started before refusal: ${r.run.stdout}`);
});

test('background, setsid, double-fork and nohup processes do not outlive the execution', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const marker = uniqueMarker();
  const code = `
m="$1"
(exec -a "$m-bg" sleep 1000) &
setsid bash -c 'exec -a "$0" sleep 1000' "$m-setsid" &
( (exec -a "$m-double" sleep 1000) & ) &
nohup bash -c 'exec -a "$0" sleep 1000' "$m-nohup" >/dev/null 2>&1 &
n=0
for i in $(seq 200); do
  n=$(cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' '\\n' | grep -c -- "^$m-")
  [ "$n" -ge 4 ] && break
  sleep 0.01
done
echo "started $n"
`;
  const r = await run({ language: 'bash', code, args: [marker], limits: { timeoutMs: slow(5000) } });
  assert.equal(r.status, 'ok', `${r.run.message ?? ''} ${r.run.stderr}`);
  assert.equal(r.run.stdout, 'started 4\n', 'the four background processes were running when the program exited');
  await assertHostClean(marker);
});

test('a Python double-fork daemon does not outlive the execution', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const marker = uniqueMarker();
  const code = `
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.close(1)
        os.close(2)
        time.sleep(1000)
    os._exit(0)
for _ in range(200):
    mine = [p for p in os.listdir('/proc') if p.isdigit() and sys.argv[1].encode() in open(f'/proc/{p}/cmdline', 'rb').read()]
    if len(mine) >= 2:
        break
    time.sleep(0.01)
print('daemon up' if len(mine) >= 2 else 'no daemon')
`;
  const r = await run({ language: 'python', code, args: [marker], limits: { timeoutMs: slow(5000) } });
  assert.equal(r.status, 'ok', r.run.stderr);
  assert.equal(r.run.stdout, 'daemon up\n');
  await assertHostClean(marker);
});

// ------------------------------------------------------------------------------------------
// memory
// ------------------------------------------------------------------------------------------

test('a 1 GiB allocation under a 128 MiB limit ends as memory_limit', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const marker = uniqueMarker();
  const r = await run({ language: 'python', code: "x = b'x' * (1 << 30)\nprint('allocated')", args: [marker], limits: { memoryBytes: 128 * MiB, timeoutMs: slow(5000) } });
  assert.equal(r.status, 'memory_limit', `${r.run.message ?? ''} ${r.run.stderr}`);
  assert.equal(r.run.stdout, '');
  assert.match(r.run.message ?? '', /memory limit of 134217728 bytes exceeded/);
  assert.ok(r.run.memoryBytes > 64 * MiB && r.run.memoryBytes <= 128 * MiB + MiB, `peak ${r.run.memoryBytes}`);
  await assertHostClean(marker);
});

test('the memory limit covers all processes together, not each one', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const marker = uniqueMarker();
  // Four processes of 48 MiB each: every one alone fits in 128 MiB, together they do not.
  const code = `
import os, time
for _ in range(3):
    if os.fork() == 0:
        break
block = b'x' * (48 << 20)
time.sleep(3)
`;
  const r = await run({ language: 'python', code, args: [marker], limits: { memoryBytes: 128 * MiB, timeoutMs: slow(5000) } });
  assert.equal(r.status, 'memory_limit', `${r.status}: ${r.run.message ?? ''} ${r.run.stderr}`);
  await assertHostClean(marker);
});

test('the workspace is capped: writing past workspaceBytes fails with ENOSPC', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const code = `
import errno
try:
    for i in range(4):
        with open(f'/work/f{i}', 'wb') as f:
            f.write(b'x' * (3 << 20))
    print('wrote everything')
except OSError as e:
    print(errno.errorcode[e.errno], i)
`;
  const r = await run({ language: 'python', code, limits: { workspaceBytes: 8 * MiB, timeoutMs: slow(5000) } });
  assert.equal(r.status, 'ok', r.run.stderr);
  assert.equal(r.run.stdout, 'ENOSPC 2\n');
});

test('workspace files count against the memory limit: a workspace as large as it, filled, ends as memory_limit', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const marker = uniqueMarker();
  // (A workspace larger than the memory limit is refused: see limits-named.test.ts.) The
  // workspace's pages and the programs' own memory together pass the limit before the
  // workspace is full.
  const r = await run({ language: 'bash', code: 'head -c 200M /dev/zero > /work/big; echo "rc=$?"', args: [marker], limits: { memoryBytes: 64 * MiB, workspaceBytes: 64 * MiB, timeoutMs: slow(5000) } });
  assert.equal(r.status, 'memory_limit', `${r.status}: ${r.run.message ?? ''}`);
  assert.equal(r.run.limit, 'memory');
  assert.ok(r.run.wallMs < 5000, `ended by the memory limit, before the 5 s wall-clock limit (${r.run.wallMs} ms)`);
  await assertHostClean(marker);
});

// ------------------------------------------------------------------------------------------
// output
// ------------------------------------------------------------------------------------------

test('output of exactly outputBytes is ok; one byte more is output_limit', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const code = "import sys\nsys.stdout.write('z' * int(sys.argv[1]))";
  const exact = await run({ language: 'python', code, args: ['1000'], limits: { outputBytes: 1000 } });
  assert.equal(exact.status, 'ok', exact.run.message ?? '');
  assert.equal(exact.run.stdout.length, 1000);
  assert.equal(exact.run.stdoutTruncated, false);
  const over = await run({ language: 'python', code, args: ['1001'], limits: { outputBytes: 1000 } });
  assert.equal(over.status, 'output_limit');
  assert.equal(over.run.stdout.length, 1000);
  assert.equal(over.run.stdoutTruncated, true);
});

test('an endless print ends quickly as output_limit with exactly outputBytes kept', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const outputBytes = 64 * 1024;
  const r = await run({ language: 'python', code: "import sys\nwhile True:\n    sys.stdout.write('x' * 4096)", limits: { outputBytes, timeoutMs: slow(5000) } });
  assert.equal(r.status, 'output_limit', r.run.message ?? '');
  assert.equal(r.run.stdoutTruncated, true);
  assert.equal(r.run.stderrTruncated, false);
  assert.equal(r.run.stdout.length, outputBytes);
  assert.match(r.run.message ?? '', /stdout exceeded the output limit of 65536 bytes/);
  assert.ok(r.run.wallMs < 5000, `stopped by the output limit, before the 5 s wall-clock limit (${r.run.wallMs} ms)`);
});

test('endless stderr is capped the same way', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const outputBytes = 16 * 1024;
  const r = await run({ language: 'bash', code: 'while :; do echo eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee >&2; done', limits: { outputBytes, timeoutMs: slow(5000) } });
  assert.equal(r.status, 'output_limit');
  assert.equal(r.run.stderrTruncated, true);
  assert.equal(r.run.stderr.length, outputBytes);
  assert.equal(r.run.stdout, '');
});

// ------------------------------------------------------------------------------------------
// time
// ------------------------------------------------------------------------------------------

test('while True: pass ends as timeout at the wall-clock limit', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const r = await run({ language: 'python', code: 'while True:\n    pass', limits: { timeoutMs: 1000, cpuTimeMs: 10_000 } });
  assert.equal(r.status, 'timeout');
  assert.match(r.run.message ?? '', /wall-clock time limit of 1000 ms exceeded/);
  assert.equal(r.run.signal, 'SIGKILL');
  assert.equal(r.run.exitCode, null);
  assert.ok(r.run.wallMs >= 990, `killed at the 1 s limit, not before (wallMs ${r.run.wallMs})`);
  assert.ok(r.run.wallMs < 10_000, `killed by the wall clock, well before the 10 s CPU limit (wallMs ${r.run.wallMs})`);
});

for (const [language, code] of [
  ['bash', 'echo stopping; kill -STOP $$; echo resumed'],
  ['python', "import os, signal\nprint('stopping', flush=True)\nos.kill(os.getpid(), signal.SIGSTOP)\nprint('resumed')"],
] as const) {
  test(`a ${language} program that SIGSTOPs itself still ends as timeout`, T, async (t) => {
    if (await skipWithoutPreflight(t)) return;
    const marker = uniqueMarker();
    // The wall limit leaves the program time to start and stop itself (stretched on emulated
    // hosts, where Python takes seconds to start); what is proven is that a stopped program
    // still ends by it.
    const timeoutMs = slow(1000);
    const r = await run({ language, code, args: [marker], limits: { timeoutMs } });
    assert.equal(r.status, 'timeout', `${r.status}: ${r.run.message ?? ''}`);
    assert.equal(r.run.stdout, 'stopping\n');
    assert.ok(r.run.wallMs < 10 * timeoutMs, `stopped, yet ended by its ${timeoutMs} ms limit (under ten times it: wallMs ${r.run.wallMs})`);
    await assertHostClean(marker);
  });
}

test('a CPU-time limit below the wall-clock limit ends a busy loop as timeout, naming CPU time', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const r = await run({ language: 'python', code: 'while True:\n    pass', limits: { cpuTimeMs: 300, timeoutMs: slow(5000) } });
  assert.equal(r.status, 'timeout');
  assert.match(r.run.message ?? '', /CPU time limit of 300 ms exceeded/);
  assert.ok(r.run.wallMs < 5000, `stopped by the CPU-time limit, before the 5 s wall-clock limit (${r.run.wallMs} ms)`);
  assert.ok(r.run.cpuMs >= 300, `cpuMs ${r.run.cpuMs}`);
});

test('CPU time is summed over processes: two busy processes reach the limit together', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const r = await run({ language: 'python', code: 'import os\nos.fork()\nwhile True:\n    pass', limits: { cpuTimeMs: 600, timeoutMs: slow(5000) } });
  assert.equal(r.status, 'timeout');
  assert.match(r.run.message ?? '', /CPU time limit of 600 ms exceeded/);
  assert.ok(r.run.cpuMs >= 600);
});

test('sleeping does not use CPU time: a sleeping program ends at the wall-clock limit', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // bash's own start costs CPU (seconds of it under emulation): both limits stretched alike, the
  // sleep stays far past the wall limit.
  const r = await run({ language: 'bash', code: 'sleep 60', limits: { cpuTimeMs: slow(100), timeoutMs: slow(800) } });
  assert.equal(r.status, 'timeout');
  assert.match(r.run.message ?? '', /wall-clock/);
});
