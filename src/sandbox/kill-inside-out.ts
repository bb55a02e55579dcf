// The one way a running sandbox is killed (timeout, CPU limit, output limit, cancellation, a
// prepared sandbox discarded). The cgroup sweep at the end of every run is the backstop.
import type { SandboxProcess } from './spawner.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionCgroup } from './cgroups.js';

/**
 * Kills a running sandbox from the inside out: every process of its cgroup but the bubblewrap
 * monitor first. Its PID 1 dies, the kernel kills the rest of the PID namespace, and bubblewrap,
 * PID 1's parent, reaps it and exits by itself. Killing bubblewrap first (--die-with-parent then
 * kills PID 1) orphans PID 1 to the host's init, and until that init gets round to reaping it
 * (1-2 s on this kind of host, never under an init that does not reap) the zombie still counts in
 * the cgroup's pids.current: the slot's reset waited for it and then retired the slot, so every
 * killed execution (timeout, output limit, cancellation) held a slot ~2 s longer
 * (test/security/hostile-resources.test.ts, test/security/leaks.test.ts). If bubblewrap
 * lingers, it is killed too; the cgroup sweep then makes it certain.
 */
export async function killInsideOut(child: SandboxProcess, cgroup: ExecutionCgroup, stop: AbortSignal): Promise<void> {
  const bwrap = child.pid;
  let exited = child.exitCode !== null || child.signalCode !== null;
  const onExit = (): void => {
    exited = true;
  };
  child.once('exit', onExit);
  // Until bubblewrap has exited (~1 ms after PID 1 died; an exited PID 1 leaves cgroup.procs
  // before bubblewrap has reaped it, so an empty list is no sign to stop waiting), at most
  // ~160 ms (bubblewrap that has not forked PID 1 yet never exits on its own).
  for (let attempt = 0; attempt < 40 && !exited && bwrap !== undefined; attempt++) {
    for (const pid of cgroup.pids()) {
      if (pid === bwrap) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sleep(attempt < 10 ? 1 : 5);
  }
  child.off('exit', onExit);
  if (!exited) child.kill('SIGKILL');
  await cgroup.killAll(stop);
}
