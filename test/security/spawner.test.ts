// The spawner (native/spawner.c, src/sandbox/spawner.ts): the root process that forks and execs
// outer helpers for the service. Its protocol refuses malformed messages without starting
// anything, it only ever execs the helper path it was started with, its death fails the spawns
// waiting on it with an error naming it (and the next spawn starts a new one), and when the
// service's channel closes it kills the children it has not reaped. Real processes, no mocks.
// CI cost: a few seconds (no sandbox is started; the children are short shell scripts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultHelperPath } from '../../src/sandbox/host-check.js';
import { Spawner } from '../../src/sandbox/spawner.js';
import { rootSkipReason } from '../support/host.js';
import { readProcess } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const HELPER = defaultHelperPath();
const skip = rootSkipReason();

/** A spawner speaking to this test over a raw IPC channel, with every message it sends. */
function rawSpawner(helper: string): { child: ChildProcess; messages: string[] } {
  const child = spawn(HELPER, ['spawner', '--channel-fd', '3', '--helper', helper], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: {} });
  const messages: string[] = [];
  child.on('message', (m: unknown, handle: unknown) => {
    messages.push(String(m));
    (handle as { destroy?: () => void } | undefined)?.destroy?.();
  });
  return { child, messages };
}

/** The children of PID (from /proc), as pids. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** A script standing in for the helper binary: it runs `body` (as root: the test's own code). */
function script(body: string): { path: string; dispose: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'cylo-spawner-test-'));
  const path = join(dir, 'helper.sh');
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o700);
  return { path, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

const b64 = (s: string): string => (s === '' ? '.' : Buffer.from(s).toString('base64'));

test('malformed spawner messages are refused one by one and start nothing; a valid one still works after them', { skip }, async () => {
  const fake = script('exit 0');
  const { child, messages } = rawSpawner(fake.path);
  try {
    const bad = [
      'bogus', // not a known message
      'S', // no id
      'S 1 2 eA==', // fewer than 3 fds
      'S 1 17 eA==', // more fds than SPAWNER_MAX_FDS
      'S 1 3 !!!!', // not base64
      'S 1 3 AA==', // base64 of a NUL: no argv item holds one
      'S 1 3 eA=', // bad padding
      'S 1  3 eA==', // a double space
      'S 1 3 e"A==', // a JSON escape
      'K 1 0', // signal 0
      'K 1 65', // no such signal
      'K x 9', // id not a number
      `S 1 3 ${'A'.repeat(1 << 20)}`, // longer than the 1 MiB line limit
    ];
    for (const line of bad) child.send(line);
    // Node's own messages (objects) are refused too: only the handle acknowledgement is known.
    child.send({ cmd: 'x' });
    await waitFor('a refusal per malformed message', () => messages.filter((m) => m.startsWith('! ')).length >= bad.length + 1 || undefined, 20_000);
    assert.equal(messages.filter((m) => m.startsWith('! ')).length, bad.length + 1, messages.join('\n'));
    assert.deepEqual(messages.filter((m) => !m.startsWith('! ')), [], 'nothing was started');
    assert.deepEqual(childrenOf(child.pid as number), [], 'no child of the spawner');
    // Still alive and working: the argv it execs is its own path and "outer", then the message's.
    child.send(['S', 7, 3, b64('x y')].join(' '));
    await waitFor('the valid spawn to start and exit', () => messages.some((m) => m.startsWith('x 7 ')) || undefined, 20_000);
    assert.ok(messages.some((m) => /^p 7 \d+$/.test(m)), messages.join('\n'));
    assert.equal(messages.filter((m) => /^h 7 \d$/.test(m)).length, 3, 'one socket per fd');
    assert.ok(messages.includes('x 7 0 0'), messages.join('\n'));
  } finally {
    child.kill('SIGKILL');
    fake.dispose();
  }
});

test('a spawn reaches the child with its own argv[0] and mode, and its stdout through a passed socket', { skip }, async () => {
  // Proves that argv[0] is the spawner's helper path (never the message's) and that the sockets
  // passed back carry the child's output.
  const fake = script('echo "$0|$1|$2|$3"');
  const spawner = new Spawner(fake.path, HELPER);
  const child = await spawner.spawn(['--x', ''], 3);
  let out = '';
  (child.stdio[1] as NodeJS.ReadableStream).setEncoding('utf8');
  (child.stdio[1] as NodeJS.ReadableStream).on('data', (s: string) => (out += s));
  const [code] = (await once(child, 'close')) as [number | null];
  assert.equal(code, 0);
  assert.equal(out, `${fake.path}|outer|--x|\n`);
  process.kill(spawner.pid as number, 'SIGKILL');
  fake.dispose();
});

test('terminal signals (Ctrl-C, Ctrl-\\, Ctrl-Z, hang-up) do not end the spawner: it shares the CLI\'s process group', { skip }, async () => {
  // proves (review finding S3): without the spawner's SIG_IGN, the first SIGINT ends it (the
  // next spawn then fails or starts a new spawner: a different pid)
  const fake = script('exit 0');
  const spawner = new Spawner(fake.path, HELPER);
  await spawner.spawn([], 3);
  const pid = spawner.pid as number;
  for (const signal of ['SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGTSTP'] as const) process.kill(pid, signal);
  const child = await spawner.spawn([], 3);
  const [code] = (await once(child, 'close')) as [number | null];
  assert.equal(code, 0);
  assert.equal(spawner.pid, pid, 'the same spawner answered');
  assert.match(/^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '', /^[RS]$/, 'running, not stopped by SIGTSTP');
  process.kill(pid, 'SIGKILL');
  fake.dispose();
});

test('a failed exec is an error with its errno, not an exit', { skip }, async () => {
  const spawner = new Spawner('/nonexistent/cylo-helper', HELPER);
  await assert.rejects(spawner.spawn([], 3), (e: Error & { code?: string }) => e.code === 'ENOENT');
  process.kill(spawner.pid as number, 'SIGKILL');
});

test('a dead spawner fails the spawns waiting on it, naming it; the next spawn starts a new one', { skip }, async () => {
  const fake = script('exit 0');
  const spawner = new Spawner(fake.path, HELPER);
  await spawner.spawn([], 3);
  const first = spawner.pid as number;
  process.kill(first, 'SIGSTOP'); // holds the next spawn's answer until the kill below
  const waiting = spawner.spawn([], 3);
  process.kill(first, 'SIGKILL');
  await assert.rejects(waiting, /the spawner \(the process that starts sandboxes.*stopped/);
  const child = await spawner.spawn([], 3);
  await once(child, 'close');
  assert.notEqual(spawner.pid, first, 'a new spawner');
  process.kill(spawner.pid as number, 'SIGKILL');
  fake.dispose();
});

test('kill() signals the running child through the spawner; a closed channel kills what it has not reaped', { skip }, async () => {
  const fake = script('exec sleep 1000');
  const spawner = new Spawner(fake.path, HELPER);
  const child = await spawner.spawn([], 3);
  assert.equal(child.kill('SIGTERM'), true);
  const [, signal] = (await once(child, 'exit')) as [number | null, string | null];
  assert.equal(signal, 'SIGTERM');
  // The service side goes away (channel closed): the spawner kills its unreaped children and exits.
  const { child: raw, messages } = rawSpawner(fake.path);
  raw.send(['S', 1, 3].join(' ') + ' ' + b64('a'));
  const started = await waitFor('the child to start', () => messages.find((m) => m.startsWith('p 1 ')), 20_000);
  const pid = Number(started.split(' ')[2]);
  assert.match(readProcess(pid)?.cmdline.join(' ') ?? '', /sleep 1000/);
  raw.disconnect();
  await once(raw, 'exit');
  await waitFor('the orphaned child to be killed', () => readProcess(pid) === undefined || readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') || undefined, 20_000);
  process.kill(spawner.pid as number, 'SIGKILL');
  fake.dispose();
});

test('a descendant orphaned by its parent\'s death is re-parented to the spawner and reaped by it, not left to the host\'s init', { skip }, async () => {
  // Proves PR_SET_CHILD_SUBREAPER in spawner.c: a sandbox's PID 1 whose bubblewrap died first
  // used to become a zombie of the host's init, which reaps late or never, and cylo doctor then
  // reported it as a sandbox-uid orphan (test/security/leaks.test.ts). Here the child forks a
  // grandchild and exits: without the subreaper its parent would be the host's init (pid 1).
  const fake = script('(exec sleep 1000 </dev/null >/dev/null 2>&1) &\necho $!');
  const spawner = new Spawner(fake.path, HELPER);
  const child = await spawner.spawn([], 3);
  let out = '';
  (child.stdio[1] as NodeJS.ReadableStream).setEncoding('utf8');
  (child.stdio[1] as NodeJS.ReadableStream).on('data', (s: string) => (out += s));
  await once(child, 'close');
  const orphan = Number(out.trim());
  assert.ok(orphan > 0, `the grandchild's pid: ${JSON.stringify(out)}`);
  try {
    assert.equal(readProcess(orphan)?.ppid, spawner.pid, 'the orphan\'s parent is the spawner');
    process.kill(orphan, 'SIGKILL');
    // Reaped by the spawner: gone from /proc, not a zombie waiting for an init.
    await waitFor('the orphan to be reaped', () => readProcess(orphan) === undefined, 20_000);
  } finally {
    try {
      process.kill(orphan, 'SIGKILL');
    } catch {
      // gone
    }
    process.kill(spawner.pid as number, 'SIGKILL');
    fake.dispose();
  }
});

test('close() ends the spawner and the child it has not reaped; a later spawn starts a new one', { skip, timeout: 60_000 }, async () => {
  // Proves Spawner.close (cylo's close calls it): without it every closed instance left its
  // spawner running, with its channel and stderr open in the service (the leaks suite's fd check).
  const fake = script('exec sleep 1000');
  const spawner = new Spawner(fake.path, HELPER);
  const child = await spawner.spawn([], 3);
  const first = spawner.pid as number;
  const sleeper = child.pid as number;
  const exited = once(child, 'exit');
  spawner.close();
  assert.deepEqual(await exited, [null, null], 'the running child ends with an unknown exit code');
  await waitFor('the spawner to exit', () => readProcess(first) === undefined || readFileSync(`/proc/${first}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') || undefined, 20_000);
  await waitFor('its child to be killed', () => readProcess(sleeper) === undefined || readFileSync(`/proc/${sleeper}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') || undefined, 20_000);
  const next = await spawner.spawn([], 3);
  assert.notEqual(spawner.pid, first, 'a new spawner');
  next.kill('SIGKILL');
  await once(next, 'exit');
  spawner.close();
  fake.dispose();
});

test('the service\'s ends of a child\'s sockets are non-blocking, as Node\'s own pipes are; the child\'s ends are blocking', { skip, timeout: 60_000 }, async () => {
  // Proves the O_NONBLOCK in spawner-child.c. libuv does not set it on a handle received over
  // IPC, so without it every write of the service to a sandbox (its job, files, stdin) was a
  // blocking write on the event loop: a job bigger than the socket buffer froze the service
  // until the sandbox read it, and hostile-filesystem.test.ts deadlocked (the sandbox waited for
  // the end of its seccomp program, which the frozen loop never sent).
  const fake = script('exec sleep 1000');
  const spawner = new Spawner(fake.path, HELPER);
  const child = await spawner.spawn([], 6);
  try {
    const O_NONBLOCK = 0o4000;
    const flagsOf = (path: string): number => parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(path, 'utf8'))?.[1] ?? 'x', 8);
    for (const [i, socket] of child.stdio.entries()) {
      const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
      assert.ok(typeof fd === 'number' && fd >= 0, `fd ${i} has a descriptor here`);
      assert.equal(flagsOf(`/proc/self/fdinfo/${fd}`) & O_NONBLOCK, O_NONBLOCK, `the service's end of fd ${i} is non-blocking`);
      assert.equal(flagsOf(`/proc/${child.pid as number}/fdinfo/${i}`) & O_NONBLOCK, 0, `the child's fd ${i} is blocking`);
    }
  } finally {
    child.kill('SIGKILL');
    await once(child, 'exit');
    spawner.close();
    fake.dispose();
  }
});

test('with the real helper, each child runs the outer mode in its own process (no second exec), with the same argv checks, fds and outcome', { skip, timeout: 60_000 }, async () => {
  // The spawner runs the outer mode in the forked child when --helper is its own binary
  // (spawner-child.c): one exec fewer per sandbox. Proves it happens (the child's command line is
  // still the spawner's while the outer mode waits on a FIFO as its cgroup file), that the outer
  // mode's work is done by that child (the pid it writes is its own), that it then execs what
  // follows `--` as the unprivileged uid (exit 0), and that a refused argv is still the outer
  // mode's status line and exit 127.
  const dir = mkdtempSync(join(tmpdir(), 'cylo-spawner-test-'));
  const fifo = join(dir, 'cgroup.procs');
  const made = spawn('mkfifo', [fifo]);
  assert.equal((await once(made, 'close'))[0], 0);
  const spawner = new Spawner(HELPER, HELPER);
  try {
    const child = await spawner.spawn(['--status-fd', '3', '--uid', '65534', '--gid', '65534', '--workspace', '5:1048576:1024', '--cgroup-procs', fifo, '--', '/usr/bin/id', '-u'], 6);
    let out = '';
    (child.stdio[1] as NodeJS.ReadableStream).setEncoding('utf8');
    (child.stdio[1] as NodeJS.ReadableStream).on('data', (s: string) => (out += s));
    const cmdline = readFileSync(`/proc/${child.pid as number}/cmdline`, 'utf8').split('\0');
    assert.deepEqual(cmdline.slice(0, 2), [HELPER, 'spawner'], 'the child is the forked spawner, not an exec of the helper');
    const written = readFileSync(fifo, 'utf8'); // opens the read end: the outer mode's write goes on
    assert.equal(written, `${child.pid as number}\n`);
    const [code] = (await once(child, 'close')) as [number | null];
    assert.equal(code, 0);
    assert.equal(out, '65534\n');

    const refused = await spawner.spawn(['--status-fd', '3', '--nonsense', 'x'], 4);
    let status = '';
    (refused.stdio[3] as NodeJS.ReadableStream).setEncoding('utf8');
    (refused.stdio[3] as NodeJS.ReadableStream).on('data', (s: string) => (status += s));
    const [refusedCode] = (await once(refused, 'close')) as [number | null];
    assert.equal(refusedCode, 127);
    assert.equal(status, 'Eunknown outer option --nonsense\n');
  } finally {
    spawner.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
