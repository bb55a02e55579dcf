// Hostile corpus, resources: fork and thread bombs, memory bombs, filling the workspace (bytes,
// one huge file, inodes), stdout and stderr floods, busy loops, sleeping forever, SIGSTOP on
// itself, daemons that try to outlive the run, kill(-1) and signals aimed at the service. Each
// in Python, JavaScript, Bash, C and Go (where the language can express it), sent to a real
// HTTP service; each asserts what the program saw and that the host is unchanged.
//
// SAFETY: every test calls skipWithoutPreflight(t) first (the pre-flight proves the pids and memory
// limits and the network namespace are in force), has a 20 s timeout and tight limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { createCylo, type Cylo } from '../../src/cylo.js';
import { SECURITY_UID_COUNT, SECURITY_UIDS } from '../support/cylo.js';
import { skipWithoutPreflight } from '../support/preflight.js';
import { sandboxZombies, strayProcesses } from '../support/processes.js';
import { MiB } from '../support/units.js';
import { assertHostClean, attack, attackAll, LANGS, T, useService } from './attacks.js';
import { slow } from '../support/slow.js';
import { defaultHelperPath, landlockAbi } from '../../src/sandbox/host-check.js';

const service = useService();

const markers = (attacks: Record<string, { marker: string }>): string[] => Object.values(attacks).map((a) => a.marker);

// ------------------------------------------------------------------------------------------
// processes and threads
// ------------------------------------------------------------------------------------------

test('fork bombs (Python, JavaScript, Bash, C, Go) hit the pids limit with EAGAIN and are torn down', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // The wall limit gives the bombs time to reach the pids limit (stretched on emulated hosts).
  const r = await attackAll(service, LANGS, 'fork-bomb', [], { pids: 32, timeoutMs: slow(2000) });
  // Go's runtime may meet the limit in its own thread creation before the program's fork does:
  // it then aborts ("runtime/cgo: pthread_create failed: Resource temporarily unavailable"), a
  // runtime_error cylo attributes to the pids limit (seen in the cgroup-v2 guest under load). The
  // limit held either way; only the program's own view of it differs.
  const goAborted = r.go.result.status === 'runtime_error' && /pids limit/.test(r.go.run.message ?? '') && /pthread_create failed: Resource temporarily unavailable/.test(r.go.run.stderr);
  for (const lang of LANGS) {
    const a = r[lang];
    if (lang === 'go' && goAborted) continue;
    assert.equal(a.result.status, 'timeout', `${lang}: ${a.run.message ?? ''} ${a.run.stderr.slice(0, 300)}`);
    assert.equal(a.run.signal, 'SIGKILL', lang);
  }
  // What each program saw: fork()/clone() refused with EAGAIN once 32 processes existed.
  const saw = (lang: (typeof LANGS)[number]): string => `${lang} saw ${JSON.stringify(r[lang].out)} in ${r[lang].run.wallMs} ms`;
  assert.equal(r.c.out.fork, 'EAGAIN', saw('c'));
  assert.ok(Number(r.c.out.started) < 32, `C started ${r.c.out.started} children`);
  if (!goAborted) assert.equal(r.go.out.fork, 'EAGAIN', saw('go'));
  if (r.go.out.started !== undefined) assert.ok(Number(r.go.out.started) < 32, `Go started ${r.go.out.started} children`);
  assert.equal(r.python.out.fork, 'EAGAIN', saw('python'));
  assert.equal(r.javascript.out.spawn, 'EAGAIN', saw('javascript'));
  assert.ok(Number(r.javascript.out.started) < 32, `JavaScript started ${r.javascript.out.started} children`);
  assert.match(r.bash.run.stderr, /fork: (retry: )?Resource temporarily unavailable/);
  await assertHostClean(service, markers(r));
});

test('thread bombs (Python, JavaScript, C, Go) are refused at the pids limit, threads counted as processes', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const [c, py, go, js] = await Promise.all([
    attack(service, 'c', 'thread-bomb', [], { pids: 32 }),
    attack(service, 'python', 'thread-bomb', [], { pids: 32 }),
    attack(service, 'go', 'thread-bomb', [], { pids: 32 }),
    // Each worker is an isolate of its own: a lower pids limit reaches the refusal before memory.
    attack(service, 'javascript', 'thread-bomb', [], { pids: 16 }),
  ]);
  assert.equal(c.result.status, 'ok', c.run.stderr);
  assert.equal(c.out.pthread_create, 'EAGAIN');
  assert.ok(Number(c.out.threads) < 32, `C threads: ${c.out.threads}`);
  assert.equal(py.result.status, 'ok', py.run.stderr);
  assert.equal(py.out.thread, 'refused');
  assert.ok(Number(py.out.threads) < 32, py.run.stdout);
  // The Go runtime aborts when it cannot get another OS thread.
  assert.equal(go.result.status, 'runtime_error', go.run.message ?? '');
  assert.match(go.run.stderr, /pthread_create failed: Resource temporarily unavailable|failed to create new OS thread/);
  assert.equal(js.result.status, 'runtime_error', `${js.run.message ?? ''} ${js.run.stdout}`);
  assert.match(js.run.stderr, /ERR_WORKER_INIT_FAILED/);
  assert.match(js.run.stderr, /EAGAIN/);
  await assertHostClean(service, [c.marker, py.marker, go.marker, js.marker]);
});

test('memory bombs (all five languages) end as memory_limit at the limit', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const limit = 64 * MiB;
  // The peak is the cgroup's high-water mark, which may pass the limit by a page or a few while
  // the kernel charges the allocation that triggers the OOM kill (seen: +4 KiB for Go under load,
  // cgroup v1); a real escape would be megabytes over, so 256 KiB of slack (one memcg charge batch).
  const slack = 256 * 1024;
  const r = await attackAll(service, LANGS, 'memory-bomb', [], { memoryBytes: limit, timeoutMs: slow(5000) });
  for (const lang of LANGS) {
    const a = r[lang];
    assert.equal(a.result.status, 'memory_limit', `${lang}: ${a.run.message ?? ''} ${a.run.stderr.slice(0, 300)}`);
    assert.ok(a.run.memoryBytes <= limit + slack, `${lang}: peak ${a.run.memoryBytes} <= ${limit} + ${slack}`);
    assert.match(a.run.message ?? '', /memory limit of 67108864 bytes exceeded/);
  }
  await assertHostClean(service, markers(r));
});

// ------------------------------------------------------------------------------------------
// the workspace
// ------------------------------------------------------------------------------------------

test('filling the workspace with bytes ends in ENOSPC at workspaceBytes; nothing lands on the host', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const r = await attackAll(service, LANGS, 'fill-bytes', [], { workspaceBytes: 8 * MiB, timeoutMs: slow(5000) });
  for (const lang of LANGS) {
    const a = r[lang];
    assert.equal(a.result.status, 'ok', `${lang}: ${a.run.message ?? ''} ${a.run.stderr.slice(0, 300)}`);
    assert.equal(a.out.write, 'ENOSPC', `${lang}: ${a.run.stdout}`);
    assert.ok(Number(a.out.bytes) <= 8 * MiB && Number(a.out.bytes) > 4 * MiB, `${lang}: ${a.out.bytes} bytes written`);
  }
  assert.equal(r.c.out.write_second, 'ENOSPC', 'a second file gets no room either');
  // The workspace is a tmpfs inside the sandbox: the host's /work has no such file.
  assert.equal(existsSync('/work/fill'), false);
  await assertHostClean(service, markers(r));
});

test('a file whose size claims more than 1 TiB (sparse): EFBIG (RLIMIT_FSIZE), or SIGXFSZ when not ignored (C, Python)', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const [c, py, xfsz] = await Promise.all([attack(service, 'c', 'efbig'), attack(service, 'python', 'efbig'), attack(service, 'c', 'xfsz')]);
  assert.equal(c.out.pwrite_beyond_fsize, 'EFBIG');
  assert.equal(py.out.pwrite_beyond_fsize, 'EFBIG', 'Python ignores SIGXFSZ and sees the errno');
  assert.equal(xfsz.result.status, 'runtime_error');
  assert.equal(xfsz.run.signal, 'SIGXFSZ');
  assert.equal(xfsz.run.limit, 'file_size');
  assert.equal(existsSync('/work/sparse'), false);
  await assertHostClean(service, [c.marker, py.marker, xfsz.marker]);
});

test('filling the workspace with inodes ends in ENOSPC at its inode cap, well inside the memory limit', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // The outer helper mounts the workspace with nr_inodes = max(1024, workspaceBytes / 4096)
  // (bubblewrap 0.8 cannot cap inodes): a flood of empty files meets ENOSPC, as on a real disk,
  // instead of filling the memory cgroup with inodes and dentries until the OOM killer strikes.
  const limit = 48 * MiB;
  const r = await Promise.all((['c', 'python', 'javascript'] as const).map((l) => attack(service, l, 'fill-inodes', [], { memoryBytes: limit, timeoutMs: slow(5000), cpuTimeMs: 5000 })));
  for (const a of r) {
    assert.equal(a.out.create, 'ENOSPC', `${a.lang}: status ${a.result.status}, ${a.run.stdout.slice(0, 200)} ${a.run.message ?? ''}`);
    assert.ok(Number(a.out.files) <= 2048, `${a.lang}: at most the 8 MiB workspace's 2048 inodes: ${a.out.files}`);
    assert.ok(a.run.memoryBytes <= limit, `${a.lang}: peak ${a.run.memoryBytes}`);
  }
  await assertHostClean(service, r.map((a) => a.marker));
});

// ------------------------------------------------------------------------------------------
// output, CPU and time
// ------------------------------------------------------------------------------------------

for (const stream of ['stdout', 'stderr'] as const) {
  test(`${stream} floods (all five languages) end as output_limit with exactly outputBytes kept`, T, async (t) => {
    if (await skipWithoutPreflight(t)) return;
    const outputBytes = 32 * 1024;
    const wallLimit = slow(5000);
    const r = await attackAll(service, LANGS, `${stream}-flood`, [], { outputBytes, timeoutMs: wallLimit });
    for (const lang of LANGS) {
      const a = r[lang];
      assert.equal(a.result.status, 'output_limit', `${lang}: ${a.run.message ?? ''}`);
      assert.equal(Buffer.byteLength(a.run[stream]), outputBytes, `${lang}: ${stream} kept`);
      assert.equal(stream === 'stdout' ? a.run.stdoutTruncated : a.run.stderrTruncated, true);
      assert.match(a.run.message ?? '', new RegExp(`^${stream} exceeded the output limit of ${outputBytes} bytes`));
      assert.ok(a.run.wallMs < wallLimit, `${lang}: stopped by the output limit, before the ${wallLimit} ms wall-clock limit (${a.run.wallMs} ms)`);
    }
    await assertHostClean(service, markers(r));
  });
}

test('busy loops (all five languages) end as timeout at the wall-clock limit, or at the CPU-time limit', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // The limits' figures scale with CYLO_TEST_SLOW (test/support/slow.ts); what is proven holds
  // at any figure: killed at the limit, not before, by the limit named.
  const wallMs = slow(800);
  const wall = await attackAll(service, LANGS, 'busy', [], { timeoutMs: wallMs, cpuTimeMs: 10 * wallMs });
  for (const lang of LANGS) {
    const a = wall[lang];
    assert.equal(a.result.status, 'timeout', lang);
    assert.match(a.run.message ?? '', new RegExp(`^wall-clock time limit of ${wallMs} ms exceeded`), lang);
    assert.ok(a.run.wallMs >= wallMs - 10, `${lang}: killed at the ${wallMs} ms limit, not before (wall ${a.run.wallMs} ms)`);
    assert.ok(a.run.wallMs < 10 * wallMs, `${lang}: killed by the wall clock, well before the CPU limit (wall ${a.run.wallMs} ms)`);
  }
  const cpu = await attackAll(service, ['c', 'python'], 'busy', [], { timeoutMs: slow(10_000), cpuTimeMs: 400 });
  for (const a of [cpu.c, cpu.python]) {
    assert.equal(a.result.status, 'timeout');
    assert.match(a.run.message ?? '', /^CPU time limit of 400 ms exceeded/, a.lang);
    assert.ok(a.run.cpuMs >= 400, `${a.lang}: killed once it had used its 400 ms of CPU time, not before (cpu ${a.run.cpuMs} ms)`);
    assert.ok(a.run.wallMs < 10_000, `${a.lang}: ended at the CPU limit, before the 10 s wall-clock limit (${a.run.wallMs} ms)`);
  }
  await assertHostClean(service, [...markers(wall), cpu.c.marker, cpu.python.marker]);
});

test('sleeping forever (all five languages) ends as timeout, using no CPU time', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const wallMs = slow(800);
  const r = await attackAll(service, LANGS, 'sleep', [], { timeoutMs: wallMs });
  for (const lang of LANGS) {
    const a = r[lang];
    assert.equal(a.result.status, 'timeout', lang);
    assert.match(a.run.message ?? '', new RegExp(`^wall-clock time limit of ${wallMs} ms exceeded`), `${lang}: ended by the wall clock, not the CPU-time limit`);
    assert.ok(a.run.wallMs >= wallMs - 10, `${lang}: killed at the ${wallMs} ms limit, not before (wall ${a.run.wallMs} ms)`);
    assert.ok(a.run.wallMs < 10 * wallMs, `${lang}: ended by its ${wallMs} ms limit (under ten times it: wall ${a.run.wallMs} ms)`);
    assert.ok(a.run.cpuMs < wallMs, `${lang}: less CPU time than the ${wallMs} ms it ran for: it slept (cpu ${a.run.cpuMs} ms)`);
  }
  await assertHostClean(service, markers(r));
});

test('SIGSTOP on itself (all five languages) does not stop the wall clock (Piston #196)', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const wallMs = slow(800);
  const r = await attackAll(service, LANGS, 'sigstop', [], { timeoutMs: wallMs });
  for (const lang of LANGS) {
    const a = r[lang];
    assert.equal(a.result.status, 'timeout', `${lang}: ${a.run.message ?? ''}`);
    assert.equal(a.out.stopping, 'ok', lang);
    assert.equal(a.out.resumed, undefined, `${lang} never ran again`);
    assert.ok(a.run.wallMs < 10 * wallMs, `${lang}: stopped, yet ended by its ${wallMs} ms limit (under ten times it: wall ${a.run.wallMs} ms)`);
  }
  await assertHostClean(service, markers(r));
});

// ------------------------------------------------------------------------------------------
// outliving the run, signals
// ------------------------------------------------------------------------------------------

test('daemons (background, setsid, double fork, nohup, detached) do not outlive the run', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const r = await attackAll(service, LANGS, 'daemon', [], { timeoutMs: slow(5000) });
  for (const lang of ['python', 'javascript', 'c', 'go'] as const) {
    assert.equal(r[lang].result.status, 'ok', `${lang}: ${r[lang].run.stderr}`);
    assert.equal(r[lang].out.daemon, 'started', `${lang}: the daemon was running when the program exited`);
  }
  assert.equal(r.bash.result.status, 'ok', r.bash.run.stderr);
  assert.equal(r.bash.out.daemons, '4', 'bash: background, setsid, double-fork and nohup children were running');
  // The program exited with its daemons still running; when the result came back, none was.
  await assertHostClean(service, markers(r));
});

test('kill(-1, SIGKILL), PID 1 and the host pids of the service and of a canary: the host is untouched', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // A host process the sandbox must not be able to signal, and the service's own pid.
  const canary: ChildProcess = spawn('/usr/bin/sleep', ['60'], { stdio: 'ignore' });
  await once(canary, 'spawn');
  try {
    const pids = [String(process.pid), String(canary.pid)];
    assert.ok(process.pid > 100 && (canary.pid ?? 0) > 100, 'host pids are far above the sandbox\'s own');
    const r = await attackAll(service, LANGS, 'kill', pids, { timeoutMs: slow(5000) });
    for (const lang of LANGS) {
      const o = r[lang].out;
      assert.equal(r[lang].result.status, 'ok', `${lang}: ${r[lang].run.message ?? ''} ${r[lang].run.stderr}`);
      // Alone in its PID namespace (PID 1 is spared by kill(-1)): nothing to signal.
      assert.equal(o.kill_minus_1_alone, 'ESRCH', lang);
      // PID 1 (the supervisor) is outside the Landlock domain: signal scoping (ABI 6) refuses.
      // Below ABI 6 (the cgroup-v2 guest's 6.1) the signal is delivered and PID 1, which
      // handles none of them, ignores it: the run still ends ok (asserted above).
      assert.equal(o.kill_pid1, landlockAbi(defaultHelperPath()) >= 6 ? 'EPERM' : 'ok', lang);
      // The service and the canary do not even exist in the sandbox's PID namespace.
      assert.equal(o.kill_host_0, 'ESRCH', `${lang}: kill(service pid)`);
      assert.equal(o.kill_host_1, 'ESRCH', `${lang}: kill(canary pid)`);
      assert.equal(o.survived, 'ok', lang);
      if (lang !== 'go') {
        // With a child of its own, kill(-1) reaches exactly that child.
        assert.equal(o.kill_minus_1_with_child, 'ok', lang);
        assert.equal(o.child_killed_by, 'SIGKILL', lang);
      }
    }
    // The same scoping rule for SIGTERM: below ABI 6 it is delivered and PID 1 ignores it.
    assert.equal(r.c.out.kill_pid1_sigterm, landlockAbi(defaultHelperPath()) >= 6 ? 'EPERM' : 'ok');
    assert.equal(canary.exitCode, null, 'the canary is alive');
    assert.equal(canary.signalCode, null, 'the canary was not signalled');
    process.kill(canary.pid as number, 0);
    await assertHostClean(service, markers(r));
  } finally {
    canary.kill('SIGKILL');
  }
});

// ------------------------------------------------------------------------------------------
// the worker comes back at once
// ------------------------------------------------------------------------------------------

test('a killed execution frees its worker at once: nothing of it is left for the host init to reap, no slot retired', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // One worker, so each execution waits for the previous one's slot to be reset. Before the fix
  // in src/sandbox/kill-inside-out.ts, killing bubblewrap first orphaned the
  // sandbox's PID 1 to the host's init; its zombie held the cgroup's pids.current for 1-2 s
  // (forever under an init that does not reap) and each timeout cost ~2 s of the worker. Killed
  // inside out, bubblewrap reaps PID 1 (and with it the whole PID namespace) before it exits:
  // when the result is back, no process and no zombie of the run is left. That is checked after
  // every kill, instead of timing the five executions.
  const cylo: Cylo = createCylo({ concurrency: 1, uidBase: SECURITY_UIDS.fresh, uidCount: SECURITY_UID_COUNT, cacheDir: false, defaultLimits: { timeoutMs: 300, memoryBytes: 64 * MiB, pids: 16 } });
  const leftovers = (): string[] => [...sandboxZombies(SECURITY_UIDS.fresh, SECURITY_UID_COUNT).map((pid) => `zombie ${pid}`), ...strayProcesses(SECURITY_UIDS.fresh, SECURITY_UID_COUNT)];
  try {
    await cylo.execute({ language: 'bash', code: 'true' }); // slot created
    const started = performance.now();
    const kinds = [
      { language: 'bash', code: 'sleep 100' }, // timeout
      { language: 'bash', code: 'kill -STOP $$' }, // timeout while stopped
      // output limit: its own generous wall limit, so that a loaded machine (the emulated
      // cgroup-v2 guest) cannot reach the 300 ms first (seen twice as 'timeout')
      { language: 'bash', code: 'yes', limits: { outputBytes: 1024, timeoutMs: slow(5000) } },
    ];
    const statuses: string[] = [];
    for (const request of kinds) {
      statuses.push((await cylo.execute(request)).status);
      assert.deepEqual(leftovers(), [], `${request.code}: nothing of the killed run is left when its result is back`);
    }
    const controller = new AbortController();
    const cancelled = cylo.execute({ language: 'bash', code: 'sleep 100' }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(cancelled, /cancelled/);
    assert.deepEqual(leftovers(), [], 'nothing of the cancelled run is left when the rejection is back');
    // Its own wall limit too: the instance's 300 ms default is for the killed runs above.
    const after = await cylo.execute({ language: 'bash', code: 'echo back', limits: { timeoutMs: slow(5000) } });
    const ms = performance.now() - started;
    assert.deepEqual(statuses, ['timeout', 'timeout', 'output_limit']);
    assert.equal(after.run?.stdout, 'back\n');
    t.diagnostic(`3 killed executions, 1 cancellation and 1 echo on one worker: ${ms.toFixed(0)} ms (a figure, not a threshold)`);
    assert.equal(cylo.stats().retiredSlots, 0, 'every slot was reset cleanly and reused');
  } finally {
    await cylo.close();
  }
  assert.deepEqual(strayProcesses(SECURITY_UIDS.fresh, SECURITY_UID_COUNT), [], 'nothing of that cylo is left');
});
