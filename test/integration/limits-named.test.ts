// Integration tests, real sandboxes: the limit that ends or breaks a program is named (`limit`)
// from the kernel's own counters, a memory kill reports SIGKILL, and the workspace behaves like a
// small disk (ENOSPC for bytes and for files, never SIGXFSZ or the OOM killer first). Hostile
// programs (floods, memory and thread storms): only after the pre-flight, with small limits and
// short timeouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run, testCylo } from '../support/cylo.js';
import { skipWithoutPreflight } from '../support/preflight.js';
import { settledBusyCgroups } from '../support/processes.js';
import { slow } from '../support/slow.js';
import { MiB } from '../support/units.js';
import { CyloError } from '../../src/errors.js';

const T = { timeout: slow(30_000) };

test('a flood of empty files meets ENOSPC inside the program (the inode cap), and the result names the workspace', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // proves: the workspace tmpfs has an inode cap (mounted by the outer helper, nr_inodes = max(1024,
  // workspaceBytes / 4096)): before, only the memory cgroup stopped such a flood, as memory_limit
  // with no status; and PID 1's statfs makes `limit: "workspace"`
  const code = `
import errno, os, sys
n = 0
try:
    while True:
        os.close(os.open(f'/work/f{n}', os.O_CREAT | os.O_WRONLY, 0o644))
        n += 1
except OSError as e:
    print(errno.errorcode[e.errno], n)
    sys.exit(1)
`;
  const r = await run({ language: 'python', code, limits: { workspaceBytes: 4 * MiB, memoryBytes: 64 * MiB, timeoutMs: slow(10_000), cpuTimeMs: 10_000 } });
  assert.equal(r.status, 'runtime_error', `${r.status}: ${r.run.message ?? ''} ${r.run.stderr.slice(0, 300)}`);
  const [errno, count] = r.run.stdout.trim().split(' ');
  assert.equal(errno, 'ENOSPC', r.run.stdout);
  // 1024 inodes in all: the workspace's root, .tmp and the program file take three.
  assert.ok(Number(count) > 900 && Number(count) <= 1024, `files created before ENOSPC: ${count}`);
  assert.equal(r.run.limit, 'workspace');
  assert.match(r.run.message ?? '', /workspace was full/);
  assert.equal(r.run.signal, null);
  assert.deepEqual(await settledBusyCgroups(), []);
});

test('a fallocate larger than the workspace fails with ENOSPC, not SIGXFSZ or EFBIG', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // proves: RLIMIT_FSIZE is far above any workspace (the kernel checks it before the tmpfs's
  // space), so the tmpfs's ENOSPC is what the program meets; before, 200 MiB in a 64 MiB
  // workspace was SIGXFSZ (or EFBIG where ignored)
  const code = `
import errno, os
fd = os.open('/work/big', os.O_CREAT | os.O_WRONLY, 0o644)
try:
    os.posix_fallocate(fd, 0, 200 << 20)
    print('allocated')
except OSError as e:
    print(errno.errorcode[e.errno])
`;
  const r = await run({ language: 'python', code, limits: { workspaceBytes: 64 * MiB, memoryBytes: 128 * MiB, timeoutMs: slow(5000) } });
  assert.equal(r.status, 'ok', `${r.status}: ${r.run.message ?? ''} ${r.run.stderr.slice(0, 300)}`);
  assert.equal(r.run.stdout, 'ENOSPC\n');
  // The same with the fallocate tool, which does not ignore SIGXFSZ: an error exit, no signal.
  const tool = await run({ language: 'bash', code: 'fallocate -l 200M /work/big', limits: { workspaceBytes: 64 * MiB, memoryBytes: 128 * MiB, timeoutMs: slow(5000) } });
  assert.equal(tool.status, 'runtime_error', tool.run.message ?? '');
  assert.equal(tool.run.signal, null);
  assert.match(tool.run.stderr, /No space left on device/);
});

test('a memory kill of a small process filling the workspace is memory_limit with SIGKILL and limit memory', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // proves: the program is the OOM killer's choice (oom_score_adj 1000; bubblewrap and PID 1 are
  // not), so PID 1 survives and reports the kill: before, a program this small (fallocate's
  // resident set is smaller than bubblewrap's) could lose to the plumbing, and the result was
  // memory_limit with exitCode null and signal null. The workspace's pages belong to no process.
  const r = await run({ language: 'bash', code: 'exec fallocate -l 64M /work/big', limits: { workspaceBytes: 64 * MiB, memoryBytes: 64 * MiB, timeoutMs: slow(5000) } });
  assert.equal(r.status, 'memory_limit', `${r.status}: ${r.run.message ?? ''} ${r.run.stderr.slice(0, 300)}`);
  assert.equal(r.run.signal, 'SIGKILL');
  assert.equal(r.run.exitCode, null);
  assert.equal(r.run.limit, 'memory');
  assert.match(r.run.message ?? '', /memory limit of 67108864 bytes exceeded/);
  assert.deepEqual(await settledBusyCgroups(), []);
});

test('the program runs with oom_score_adj 1000 and cannot lower it (Landlock); PID 1 keeps its own', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // proves: prefer_program_for_oom raised the program's score before Landlock, and Landlock
  // denies writing it back (the program cannot make the plumbing the OOM killer's choice)
  const code = 'cat /proc/self/oom_score_adj; cat /proc/1/oom_score_adj; echo 0 > /proc/self/oom_score_adj && echo lowered; cat /proc/self/oom_score_adj';
  const r = await run({ language: 'bash', code, limits: { timeoutMs: slow(5000) } });
  assert.equal(r.status, 'ok', r.run.stderr);
  const [program, pid1, after] = r.run.stdout.trim().split('\n');
  assert.equal(program, '1000');
  assert.ok(Number(pid1) <= 0, `PID 1 (plumbing) is at 0 or below, not the program's 1000: ${pid1}`);
  assert.equal(after, '1000', 'still 1000 after the attempt to lower it');
  assert.doesNotMatch(r.run.stdout, /lowered/);
  assert.match(r.run.stderr, /Permission denied/);
});

test('a thread storm under a small pids limit names the pids limit', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // proves: pids.events `max` (the kernel's count of refused forks) names the limit; before, a
  // program that died of EAGAIN was a runtime_error with message null
  const code = `
import threading, time
for _ in range(100):
    threading.Thread(target=time.sleep, args=(2,), daemon=True).start()
print('all started')
`;
  const r = await run({ language: 'python', code, limits: { pids: 8, timeoutMs: slow(5000) } });
  assert.equal(r.status, 'runtime_error', `${r.status}: ${r.run.message ?? ''}`);
  assert.match(r.run.stderr, /can't start new thread/);
  assert.equal(r.run.limit, 'pids');
  assert.match(r.run.message ?? '', /pids limit of 8 processes and threads/);
});

test('limits that contradict each other are refused before anything runs', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  await assert.rejects(
    run({ language: 'bash', code: 'echo never', limits: { memoryBytes: 32 * MiB, workspaceBytes: 64 * MiB } }),
    (error: unknown) => error instanceof CyloError && error.code === 'CYLO_E_VALIDATION' && error.field === 'limits.workspaceBytes' && /limits\.memoryBytes/.test(error.message),
  );
});

test('a slot reused after a pids-limit hit does not name the pids limit for the next failure', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // proves: the pids.events counter is taken relative to the slot's reset (cgroup v1 counters
  // cannot be zeroed; v2 gets a fresh directory): one slot, so both runs use the same cgroup
  const cylo = testCylo({ concurrency: 1, uidCount: 16 }, 480);
  t.after(() => cylo.close({ graceMs: 0 }));
  // A thread storm that fails at once (bash would retry a refused fork for seconds, and could
  // reach the wall limit first under load).
  const storm = await cylo.execute({ language: 'python', code: 'import threading, time\nfor _ in range(100):\n    threading.Thread(target=time.sleep, args=(2,), daemon=True).start()\n', limits: { pids: 8, timeoutMs: slow(5000) } });
  assert.equal(storm.run?.limit, 'pids', `${storm.status}: ${storm.run?.message ?? ''}`);
  const plain = await cylo.execute({ language: 'bash', code: 'exit 3', limits: { pids: 8, timeoutMs: slow(5000) } });
  assert.equal(plain.status, 'runtime_error');
  assert.equal(plain.run?.limit, null, plain.run?.message ?? '');
  assert.equal(plain.run?.message, null);
});
