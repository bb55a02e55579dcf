// Delivers a signal to the sandboxed program itself (interactive sessions: Ctrl-C, SIGTERM...).
// The process tree on the host is: bwrap (our child) -> cylo-helper inner (PID 1 of the
// sandbox) -> the program. The program's host pid is found through /proc/PID/task/PID/children
// and signalled by the service (root), so Landlock's signal scoping inside does not apply.
import { readFileSync } from 'node:fs';
import type { ForwardableSignal } from '../util/signals.js';

/** The host pids of the direct children of `pid` ([] when it has none or is gone). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The program's host pid, given bubblewrap's pid, or undefined when it is not running. */
export function programPid(bwrapPid: number): number | undefined {
  for (const supervisor of childrenOf(bwrapPid)) {
    const [program] = childrenOf(supervisor);
    if (program !== undefined) return program;
  }
  return undefined;
}

/** The host pids of every direct child of the sandbox's PID 1 (the program, and any orphan of
 *  it PID 1 adopted), given bubblewrap's pid; [] when none is running. Killing them ends the
 *  program while PID 1 lives on: it then kills and reaps the rest itself and can still stream
 *  a run stage's output files out (native/supervisor.c). */
export function programChildren(bwrapPid: number): number[] {
  return childrenOf(bwrapPid).flatMap((supervisor) => childrenOf(supervisor));
}

/** Sends `signal` to the program; false when the program is not (or no longer) running. */
export function signalProgram(bwrapPid: number, signal: ForwardableSignal): boolean {
  const pid = programPid(bwrapPid);
  if (pid === undefined) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}
