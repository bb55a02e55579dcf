// Crash recovery: a real `cylo serve` is SIGKILLed while several executions are in flight
// (sleeping, stopped, busy, with a daemon). Its sandboxes die with it (bubblewrap
// --die-with-parent: their PID 1 is killed, and with it the whole PID namespace); what it leaves
// is its execution cgroups, named after it (x-<pid>-<start>-<n>). cylo doctor's check reports
// them; the next service started with the same uid range removes them, killing whatever is
// still inside (here a process the test puts into one of them, standing for a sandbox process
// that outlived its service), and logs what it cleaned. Afterwards nothing of the first service
// remains: no process, no cgroup, no mount, no folder.
//
// SAFETY: skipWithoutPreflight(t) first; the programs only sleep, stop or loop, with tight limits.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { openCgroups } from '../../src/sandbox/cgroups.js';
import { findOrphans } from '../../src/sandbox/orphans.js';
import { closeSharedCylos, SECURITY_UID_COUNT, SECURITY_UIDS } from '../support/cylo.js';
import { mountTable, sandboxOwnedFiles } from '../support/host-traces.js';
import { skipWithoutPreflight } from '../support/preflight.js';
import { busyCgroups, processesWith, sandboxZombies, strayProcesses, uniqueMarker } from '../support/processes.js';
import { type Served, startServe } from '../support/serve.js';
import { waitFor } from '../support/wait.js';

const BASE = SECURITY_UIDS.service;
const ENV = { CYLO_UID_BASE: String(BASE), CYLO_UID_COUNT: String(SECURITY_UID_COUNT), CYLO_CONCURRENCY: '4', CYLO_LOG_LEVEL: 'info' };

// The pre-flight used the shared test cylo: close it, so the process can exit.
after(() => closeSharedCylos());

test('SIGKILL of the service mid-execution: sandboxes die with it, the next start removes its cgroups and logs it', { timeout: 150_000 }, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const mountsBefore = mountTable();
  const marker = uniqueMarker();
  const driver = openCgroups();
  let first: Served | undefined;
  let second: Served | undefined;
  let survivor: ReturnType<typeof spawn> | undefined;
  try {
    first = await startServe(ENV);
    const limits = { timeoutMs: 60_000, cpuTimeMs: 60_000, pids: 16 };
    const requests = [
      { language: 'bash', code: 'sleep 1000', args: [marker] },
      { language: 'bash', code: 'kill -STOP $$', args: [marker] },
      { language: 'bash', code: '(exec -a "$1-bg" sleep 1000) & setsid bash -c \'exec -a "$0" sleep 1000\' "$1-setsid" & sleep 1000', args: [marker] },
      { language: 'python', code: 'while True: pass', args: [marker] },
    ];
    const inFlight = requests.map((r) =>
      fetch(`${first?.base}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...r, limits }) }).then(
        (res) => `answered ${res.status}`,
        (error: Error) => `failed: ${error.message}`,
      ),
    );
    // Every program is running: 4 programs + the background and setsid sleepers.
    const firstPid = first.pid;
    await waitFor('the executions to run', () => processesWith(marker).length >= 6 && busyCgroups(firstPid).length >= 4, 20_000);
    const cgroups = driver.list().filter((n) => n.startsWith(`x-${firstPid}-`));
    assert.ok(cgroups.length >= 4, `the service runs 4 executions in cgroups of its own: ${cgroups.join(', ')}`);

    first.child.kill('SIGKILL');
    assert.equal((await first.exited).signal, 'SIGKILL');
    const answers = await Promise.all(inFlight);
    assert.ok(answers.every((a) => a.startsWith('failed')), `no answer came from a dead service: ${answers.join('; ')}`);

    // The sandboxes died with their service (--die-with-parent), the daemons with them.
    await waitFor('the sandboxes to die with the service', () => processesWith(marker).length === 0 && strayProcesses(BASE, SECURITY_UID_COUNT, firstPid).length === 0).catch(() => undefined);
    assert.deepEqual(processesWith(marker), [], 'no process of the executions is left');
    assert.deepEqual(strayProcesses(BASE, SECURITY_UID_COUNT, firstPid), [], 'no process runs as a sandbox uid');
    // Their bubblewrap and PID 1 are zombies now, re-parented to the host's init, which reaps
    // them in its own time (nothing of cylo can: their parent, the service, is gone).
    const zombies = await waitFor('the host init to reap the sandboxes', () => (sandboxZombies(BASE, SECURITY_UID_COUNT).length === 0 ? [] : undefined), 15_000).catch(() => sandboxZombies(BASE, SECURITY_UID_COUNT));
    if (zombies.length > 0) t.diagnostic(`${zombies.length} zombie(s) of the killed service not yet reaped by the host's init after 15 s`);
    // What remains: its cgroups, empty. cylo doctor's check reports them as orphans.
    const orphans = findOrphans(driver, BASE, SECURITY_UID_COUNT);
    for (const name of cgroups) assert.ok(orphans.cgroups.includes(name), `doctor reports ${name}`);
    assert.deepEqual(orphans.processes, []);
    for (const name of cgroups) assert.deepEqual(driver.open(name).pids(), [], `${name} is empty`);

    // A process that outlived its service (as if --die-with-parent had failed): the test puts a
    // harmless sleeper, running as a sandbox uid, into one of the orphaned cgroups.
    survivor = spawn('/usr/bin/sleep', ['1000'], { argv0: `${marker}-survivor`, uid: BASE + SECURITY_UID_COUNT - 1, gid: BASE + SECURITY_UID_COUNT - 1, stdio: 'ignore' });
    await once(survivor, 'spawn');
    const survivorExit = once(survivor, 'exit');
    const target = driver.open(cgroups[0] as string);
    for (const procs of target.procsFiles) writeFileSync(procs, String(survivor.pid));
    assert.deepEqual(target.pids(), [survivor.pid], 'the survivor sits in an orphaned cgroup');

    // The next start (same uid range) cleans up and says so in its log.
    second = await startServe(ENV);
    const warn = second.logs.find((l) => l.level === 40 && typeof l.msg === 'string' && /cleaned \d+ cgroup\(s\) left by crashed cylo processes/.test(l.msg));
    assert.ok(warn !== undefined, `the second service logs what it cleaned: ${JSON.stringify(second.logs.slice(0, 5))}`);
    t.diagnostic(`second service's log: ${String(warn.msg)}`);
    const cleaned = warn.cgroups as string[];
    for (const name of cgroups) assert.ok(cleaned.includes(name), `${name} is in the log`);
    const [code, signal] = await survivorExit;
    assert.deepEqual([code, signal], [null, 'SIGKILL'], 'the process inside an orphaned cgroup was killed');
    survivor = undefined;

    // Nothing of the first service remains.
    assert.deepEqual(driver.list().filter((n) => n.startsWith(`x-${firstPid}-`)), [], 'its cgroups are gone');
    assert.deepEqual(processesWith(marker), []);
    assert.deepEqual(strayProcesses(BASE, SECURITY_UID_COUNT, second.pid), []);
    assert.deepEqual(findOrphans(driver, BASE, SECURITY_UID_COUNT).cgroups.filter((n) => n.startsWith(`x-${firstPid}-`)), []);
    assert.deepEqual(sandboxOwnedFiles(BASE, SECURITY_UID_COUNT), [], 'no folder or file of a sandbox uid on the host');
    assert.equal(mountTable(), mountsBefore, 'the host mount table is as before');

    // The second service works, and stops cleanly.
    const res = await fetch(`${second.base}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'bash', code: 'echo alive' }) });
    const body = (await res.json()) as { status: string; run: { stdout: string } };
    assert.equal(body.run.stdout, 'alive\n');
    const secondPid = second.pid;
    second.child.kill('SIGTERM');
    assert.equal((await second.exited).code, 0);
    second = undefined;
    assert.deepEqual(busyCgroups(secondPid), []);
    assert.deepEqual(driver.list().filter((n) => n.startsWith(`x-${secondPid}-`)), [], 'a clean stop removes its cgroups');
    assert.deepEqual(strayProcesses(BASE, SECURITY_UID_COUNT, secondPid), []);
  } finally {
    survivor?.kill('SIGKILL');
    for (const s of [first, second]) if (s !== undefined && s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  }
});
