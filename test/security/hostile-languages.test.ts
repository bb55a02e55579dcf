// Hostile corpus in Rust, Java and TypeScript: the attack classes the C/Python/Go/JavaScript/
// Bash corpus covers (fork bombs, memory bombs, filling the workspace, the network, reading host
// files, writing outside the workspace, signals to the supervisor and to host processes), each
// written in the language itself (programs/attack.rs, Main.java, attack.ts) and sent to a real
// HTTP service. Each test asserts what the program saw and that the host is unchanged.
//
// SAFETY: every test calls skipWithoutPreflight(t) first (the pre-flight proves the pids and
// memory limits and the network namespace are in force), has a 20 s timeout and tight limits.
import { test } from 'node:test';
import { slow } from '../support/slow.js';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { skipWithoutPreflight } from '../support/preflight.js';
import { uniqueMarker } from '../support/processes.js';
import { MiB } from '../support/units.js';
import { assertHostClean, attackAll, MORE_LANGS, T, useService, type Attack } from './attacks.js';

// The compiled programs (rustc, javac, tsc) are built once before the tests, outside their 20 s.
const service = useService(MORE_LANGS);

const markers = (r: Record<string, Attack>): string[] => Object.values(r).map((a) => a.marker);
const context = (a: Attack): string => `${a.lang}: ${a.result.status} ${a.run.message ?? ''} ${a.run.stderr.slice(0, 400)}`;

test('fork bombs (Rust fork(), Java ProcessBuilder, TypeScript spawn) are refused at the pids limit and torn down', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // The wall limit gives the bombs time to reach the pids limit (32 Node processes took more
  // than 1 s on a slow VM; stretched on emulated hosts).
  const r = await attackAll(service, MORE_LANGS, 'fork-bomb', [], { pids: 32, timeoutMs: slow(3000) });
  for (const lang of MORE_LANGS) {
    assert.equal(r[lang].result.status, 'timeout', context(r[lang]));
    assert.equal(r[lang].run.signal, 'SIGKILL', lang);
  }
  assert.equal(r.rust.out.fork, 'EAGAIN', context(r.rust));
  assert.equal(r.java.out.spawn, 'EAGAIN', context(r.java));
  assert.equal(r.typescript.out.spawn, 'EAGAIN', context(r.typescript));
  for (const lang of ['java', 'typescript'] as const) assert.ok(Number(r[lang].out.started) < 32, `${lang} started ${r[lang].out.started} children`);
  await assertHostClean(service, markers(r));
});

test('memory bombs end at the memory limit (Rust, TypeScript: memory_limit; Java: its heap, sized from the limit)', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const r = await attackAll(service, MORE_LANGS, 'memory-bomb', [], { memoryBytes: 128 * MiB, timeoutMs: 10_000 });
  assert.equal(r.rust.result.status, 'memory_limit', context(r.rust));
  assert.equal(r.typescript.result.status, 'memory_limit', context(r.typescript));
  // The JVM's heap (-Xmx, derived from memoryBytes by the runtime definition) fills first: the
  // program ends with OutOfMemoryError long before the cgroup limit, never as a timeout.
  assert.ok(['runtime_error', 'memory_limit'].includes(r.java.result.status), context(r.java));
  if (r.java.result.status === 'runtime_error') assert.match(r.java.run.stderr, /java\.lang\.OutOfMemoryError/);
  for (const lang of MORE_LANGS) assert.ok(r[lang].run.memoryBytes <= 128 * MiB + MiB, `${lang} peak ${r[lang].run.memoryBytes}`);
  await assertHostClean(service, markers(r));
});

test('filling the workspace ends in ENOSPC at workspaceBytes; nothing lands on the host', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const r = await attackAll(service, MORE_LANGS, 'fill-bytes', [], { workspaceBytes: 8 * MiB });
  for (const lang of MORE_LANGS) {
    assert.equal(r[lang].result.status, 'ok', context(r[lang]));
    assert.equal(r[lang].out.write, 'ENOSPC', context(r[lang]));
    assert.ok(Number(r[lang].out.bytes) <= 8 * MiB, `${lang} wrote ${r[lang].out.bytes} bytes`);
  }
  assert.equal(existsSync('/work/fill'), false, 'no /work/fill on the host');
  await assertHostClean(service, markers(r));
});

test('host files and writes outside the workspace: nothing readable, nothing written', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const planted = `/tmp/${uniqueMarker('cylo-planted-')}`;
  // /root itself may exist inside (Rust's toolchain lives under /root/.rustup on this kind of
  // host: only that tree is bound back, on an empty tmpfs); the files beside it never do.
  const hostFiles = ['/etc/shadow', '/root/.bashrc', '/root/.profile'].filter((p) => existsSync(p));
  assert.ok(hostFiles.includes('/etc/shadow'), '/etc/shadow exists on the host');
  const expected: Record<string, string> = { ...Object.fromEntries(hostFiles.map((p) => [p, 'ENOENT'])), '/proc/1/environ': 'EACCES', [`/proc/${process.pid}/environ`]: 'ENOENT' };
  const reads = await attackAll(service, MORE_LANGS, 'read', Object.keys(expected));
  const writes = await attackAll(service, MORE_LANGS, 'write', ['/etc/x', '/usr/x', '/x', planted, '/work/ok']);
  for (const lang of MORE_LANGS) {
    assert.equal(reads[lang].result.status, 'ok', context(reads[lang]));
    assert.deepEqual(reads[lang].out, expected, lang);
    assert.equal(writes[lang].result.status, 'ok', context(writes[lang]));
    assert.deepEqual(writes[lang].out, { '/etc/x': 'EROFS', '/usr/x': 'EROFS', '/x': 'EROFS', [planted]: 'ok', '/work/ok': 'ok' }, lang);
  }
  // /tmp inside is the workspace: the planted file never reaches the host's /tmp.
  for (const p of [planted, '/etc/x', '/usr/x', '/x', '/work/ok']) assert.equal(existsSync(p), false, `${p} on the host`);
  await assertHostClean(service, [...markers(reads), ...markers(writes)]);
});

test('the network: a TCP and a unix-socket canary on the host see nothing', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  let connections = 0;
  const count = (s: Server): Server => s.on('connection', (c) => ((connections += 1), c.destroy()));
  const tcp = count(createServer());
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  const path = `/tmp/${uniqueMarker('cylo-canary-')}.sock`;
  const unix = count(createServer());
  unix.listen(path);
  await once(unix, 'listening');
  try {
    const port = (tcp.address() as { port: number }).port;
    const r = await attackAll(service, MORE_LANGS, 'net', [String(port), path]);
    for (const lang of MORE_LANGS) {
      assert.equal(r[lang].result.status, 'ok', context(r[lang]));
      // Landlock refuses TCP connect (EACCES); the host's /tmp is not in the sandbox (ENOENT).
      assert.deepEqual(r[lang].out, { tcp4_canary: 'EACCES', unix_pathname: 'ENOENT' }, lang);
    }
    assert.equal(connections, 0, 'the canaries saw no connection');
    await assertHostClean(service, markers(r));
  } finally {
    tcp.close();
    unix.close();
    rmSync(path, { force: true });
  }
});

test('signals to the supervisor (PID 1), kill(-1) and host pids: refused or unreachable; the host is untouched', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const canary: ChildProcess = spawn('/usr/bin/sleep', ['60'], { stdio: 'ignore' });
  await once(canary, 'spawn');
  try {
    const r = await attackAll(service, MORE_LANGS, 'kill', [String(process.pid), String(canary.pid)], { timeoutMs: 5000 });
    for (const lang of MORE_LANGS) {
      const o = r[lang].out;
      // The supervisor reported the exit: it outlived every signal sent to it.
      assert.equal(r[lang].result.status, 'ok', context(r[lang]));
      assert.equal(o.survived, 'ok', lang);
      assert.equal(o.kill_host_0, 'ESRCH', `${lang}: the service's pid does not exist inside`);
      assert.equal(o.kill_host_1, 'ESRCH', `${lang}: the canary's pid does not exist inside`);
    }
    for (const lang of ['rust', 'typescript'] as const) {
      const o = r[lang].out;
      assert.equal(o.kill_minus_1_alone, 'ESRCH', lang);
      assert.equal(o.kill_minus_1_with_child, 'ok', lang);
      assert.equal(o.child_killed_by, 'SIGKILL', lang);
      assert.equal(o.kill_pid1, 'EPERM', `${lang}: Landlock's signal scoping`);
    }
    // Java sees PID 1 (ProcessHandle.of) but cannot signal it (destroyForcibly is refused).
    assert.equal(r.java.out.kill_pid1, 'refused');
    assert.equal(canary.exitCode, null, 'the canary is alive');
    process.kill(canary.pid as number, 0);
    await assertHostClean(service, markers(r));
  } finally {
    canary.kill('SIGKILL');
  }
});
