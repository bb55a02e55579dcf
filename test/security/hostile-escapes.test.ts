// Hostile corpus, what public sandbox and container escapes since 2022 used (the catalogue in
// SECURITY.md): /proc/PID/mem writes (the supervisor's, a forced write through /proc/self/mem
// into a read-only host file's mapping), Dirty Pipe (CVE-2022-0847), signals to the supervisor
// by kill() and by pidfd, process_vm_writev into it, setsid + a terminal of its own + TIOCSTI,
// AF_ALG sockets, hard links to host files (by path and by fd, AT_EMPTY_PATH), core_pattern
// and the cgroup release_agent (CVE-2022-0492), /dev/userfaultfd. io_uring, userfaultfd(2), the
// new mount API, perf_event_open, bpf, keyrings and ptrace of PID 1 are probed, each with its
// errno, in hostile-syscalls.test.ts; symlink races on output files in hostile-outputs.test.ts,
// links at the artifact path in hostile-filesystem.test.ts.
// Each attack both ways: what the program saw (the exact errno or what it read back), and the
// host unchanged: the host file it attacked has the same digest, the supervisor was still
// running when the program ended (it reported the exit: status ok), nothing is left running.
//
// SAFETY: every test calls skipWithoutPreflight(t) first, has a 20 s timeout and tight limits;
// every probe is harmless unless the kernel has the very bug it looks for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { ExecuteRequest } from '../../src/api/request.js';
import { getCylo } from '../support/cylo.js';
import { skipWithoutPreflight } from '../support/preflight.js';
import { uniqueMarker } from '../support/processes.js';
import { assertHostClean, HOSTILE_LIMITS, parseProbe, programSource, T, useService } from './attacks.js';

const service = useService();

/** A read-only host file the sandbox sees (bound from the host's /usr). */
const HOSTFILE = '/usr/bin/env';

const request = (marker: string): ExecuteRequest => ({
  language: 'c',
  files: [{ name: 'main.c', content: programSource('escapes.c') }],
  args: ['escapes', HOSTFILE, marker],
  limits: { ...HOSTILE_LIMITS },
});

/** What the program must see, probe by probe. */
const EXPECTED: Record<string, string> = {
  // the supervisor's memory: PID 1 is not dumpable, so /proc/1/mem is root's and closed
  proc_1_mem_rw: 'EACCES',
  proc_1_mem_ro: 'EACCES',
  // the host file: read-only (Landlock grants no write under /usr; the bind is read-only too)
  hostfile_open_rw: 'EACCES',
  // /proc/self/mem cannot even be opened for writing (Landlock: no write right on /proc), so
  // the forced-write path of CVE-2016-5195-style attacks is closed before the kernel's COW
  proc_self_mem_open: 'EACCES',
  proc_self_mem_mapping: 'unchanged',
  proc_self_mem_file: 'unchanged',
  // Dirty Pipe: splice and write succeed (ordinary calls); the file is not changed
  dirty_pipe_splice: 'ok',
  dirty_pipe_write: 'ok',
  dirty_pipe_file: 'unchanged',
  // signals to the supervisor: Landlock's signal scoping (ABI 6) refuses every one
  kill_pid1_SIGKILL: 'EPERM',
  kill_pid1_SIGTERM: 'EPERM',
  kill_pid1_SIGSEGV: 'EPERM',
  kill_pid1_SIGSTOP: 'EPERM',
  kill_pid1_SIGINT: 'EPERM',
  kill_pid1_SIGHUP: 'EPERM',
  pidfd_open_pid1: 'ok',
  pidfd_send_signal_pid1: 'EPERM',
  // ... and it is still alive (running or sleeping in wait(): not stopped, not a zombie)
  pid1_state: 'alive',
  process_vm_writev_pid1: 'EPERM',
  // a new session, then a terminal of its own: TIOCSTI is refused on every fd (seccomp)
  setsid: 'ok',
  dev_tty: 'ENXIO',
  tiocsti_stdin_after_setsid: 'EPERM',
  ptmx: 'ok',
  pty_slave: 'ok',
  tiocsctty: 'ok',
  tiocsti_own_pty: 'EPERM',
  // AF_ALG: outside the socket-family allow list (seccomp)
  af_alg: 'EPERM',
  // hard links: the workspace is a tmpfs of its own, so no host file can be linked into it
  hardlink_hostfile: 'EXDEV',
  hardlink_empty_path: 'EXDEV',
  // core_pattern and release_agent: /proc/sys not writable, no cgroup tree inside
  core_pattern: 'EACCES',
  cgroup_mkdir: 'ENOENT',
  release_agent: 'ENOENT',
  dev_userfaultfd: 'ENOENT',
  survived: 'ok',
};

const digest = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

test('escapes since 2022: every probe sees its exact errno, the host file and the supervisor are unchanged', { ...T, timeout: 120_000 }, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  assert.ok(existsSync(HOSTFILE), `${HOSTFILE} exists on the host`);
  const before = { digest: digest(HOSTFILE), mtimeMs: statSync(HOSTFILE).mtimeMs };
  const marker = uniqueMarker();
  // The first run compiles (outside the 20 s of a hostile run: a cache hit afterwards).
  const result = await service.exec({ ...request(marker), limits: { ...HOSTILE_LIMITS, compileTimeoutMs: 60_000 } });
  const run = result.run;
  assert.ok(run !== null && run !== undefined, JSON.stringify(result.compile));
  // The supervisor was alive at the end: it reported the program's own exit (0).
  assert.equal(result.status, 'ok', `${run.message ?? ''} ${run.stderr}`);
  assert.equal(run.exitCode, 0);
  assert.deepEqual(parseProbe(run.stdout), EXPECTED);
  assert.deepEqual({ digest: digest(HOSTFILE), mtimeMs: statSync(HOSTFILE).mtimeMs }, before, `${HOSTFILE} is unchanged on the host`);
  await assertHostClean(service, [marker]);
});

test('escapes since 2022, seccomp relaxed: TIOCSTI and AF_ALG reach the kernel, so the EPERM above is the filter\'s', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const before = digest(HOSTFILE);
  const marker = uniqueMarker();
  const r = await getCylo(['seccomp']).execute({ ...request(marker), limits: { ...HOSTILE_LIMITS, compileTimeoutMs: 60_000 } });
  assert.equal(r.status, 'ok', JSON.stringify(r.run));
  const out = parseProbe(r.run?.stdout ?? '');
  // The kernel: stdin is no terminal (ENOTTY); on its own pty the injection works.
  assert.equal(out.tiocsti_stdin_after_setsid, 'ENOTTY');
  assert.equal(out.tiocsti_own_pty, 'ok');
  // The kernel's own answer for AF_ALG (this host: no AF_ALG support, EAFNOSUPPORT; a kernel
  // with it creates the socket): never the filter's EPERM.
  assert.ok(['ok', 'EAFNOSUPPORT'].includes(out.af_alg ?? ''), `af_alg=${out.af_alg}`);
  // The other layers still hold on their own.
  for (const name of ['proc_1_mem_rw', 'kill_pid1_SIGKILL', 'pidfd_send_signal_pid1', 'hardlink_hostfile', 'core_pattern']) {
    assert.equal(out[name], EXPECTED[name], `${name} without seccomp`);
  }
  assert.equal(out.pid1_state, 'alive');
  assert.equal(digest(HOSTFILE), before);
  await assertHostClean(service, [marker]);
});
