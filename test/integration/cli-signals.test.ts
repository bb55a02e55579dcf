// Ctrl-C, SIGTERM and SIGHUP on a running `bin/cylo exec`: the program ends, cylo cleans up
// everything the execution had (its execution cgroup, the slot's uid, every sandbox process) and
// exits with the shell's code for the signal (130, 143, 129). Without the signal handling, Node
// dies at once (exit by the signal itself, no code) and the execution cgroup x-<cylo pid>-...
// stays behind for the next start to clean as a crash leftover: each test fails then.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { cgroupsNamed, processesWith, readProcess, uniqueMarker } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const T = { timeout: 60_000 };
// This file's own uids (cli-exec.test.ts uses +112..+119 of the same block).
const UID_BASE = TEST_UID_BASE + TEST_UID_COUNT + 120;
const UID_COUNT = 8;

/** Living processes running as one of this file's sandbox uids. */
function sandboxUidProcesses(): number[] {
  const found: number[] = [];
  for (const p of processesWith('')) {
    const uid = p.uids[0];
    if (uid !== undefined && uid >= UID_BASE && uid < UID_BASE + UID_COUNT) found.push(p.pid);
  }
  return found;
}

// `group`: the signal goes to cylo's whole process group, as a terminal's Ctrl-C does (cylo's
// helper and bubblewrap get it too), rather than to cylo alone.
const CASES = [
  { sig: 'SIGINT', code: 130, group: false },
  { sig: 'SIGTERM', code: 143, group: false },
  { sig: 'SIGHUP', code: 129, group: false },
  { sig: 'SIGINT', code: 130, group: true },
] as const;

for (const { sig, code, group } of CASES) {
  test(`cylo exec: ${sig}${group ? ' to its process group (Ctrl-C)' : ''} during a run ends it with exit ${code} and leaves no cgroup, uid or process`, T, async (t) => {
    if (skipWithoutSandbox(t)) return;
    // The marker is the fraction of the sleep's duration: it is on the sleep's own command line.
    const marker = uniqueMarker('');
    const child = spawn(process.execPath, ['bin/cylo', 'exec', '--lang', 'bash', '--timeout', '60s', `sleep 30.${marker}`], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CYLO_UID_BASE: String(UID_BASE), CYLO_UID_COUNT: String(UID_COUNT) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: group, // its own process group, to signal as a whole
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.stdout.resume();
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (c, s) => resolve({ code: c, signal: s })));
    try {
      const cyloPid = child.pid as number;
      // The program runs (as a sandbox uid) before the signal is sent.
      // (cylo's own command line holds the marker too, and so, for an instant, does every child
      // cylo forks before it execs (flock, the helper, a version probe): the sleep is the process
      // whose program is sleep.)
      const sleeper = await waitFor('the sandboxed sleep to start', () => processesWith(marker).find((p) => p.pid !== cyloPid && /(^|\/)sleep$/.test(p.cmdline[0] ?? '')), 30_000);
      assert.ok((sleeper.uids[0] ?? 0) >= UID_BASE && (sleeper.uids[0] ?? 0) < UID_BASE + UID_COUNT, 'the program ran as one of the sandbox uids');
      assert.ok(cgroupsNamed(`x-${cyloPid}-`).length > 0, 'the execution had its cgroup while it ran');
      if (group) process.kill(-cyloPid, sig);
      else child.kill(sig);
      const end = await closed;
      assert.deepEqual(end, { code, signal: null }, `cylo exited with the shell's code for ${sig}, not by the signal (stderr: ${stderr})`);
      assert.equal(stderr, '', 'nothing printed for a signal, as a shell program');
      // Cleanup happened before cylo exited; the polls only give the kernel time to reap.
      await waitFor('no process of the execution left', () => processesWith(marker).length === 0 && sandboxUidProcesses().length === 0);
      await waitFor(`no cgroup x-${cyloPid}-... left`, () => cgroupsNamed(`x-${cyloPid}-`).length === 0);
      assert.equal(readProcess(cyloPid), undefined, 'cylo itself is gone');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
}
