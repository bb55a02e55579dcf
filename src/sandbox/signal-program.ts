// Delivers a signal to the sandboxed program itself (interactive sessions: Ctrl-C, SIGTERM...).
// The process tree on the host is: bwrap (our child) -> cylo-helper inner (PID 1 of the
// sandbox) -> the program. The program's host pid is found through /proc/PID/task/PID/children
// and signalled by the service (root), so Landlock's signal scoping inside does not apply.
import { readFileSync } from 'node:fs';
import { signalNumber } from '../util/signals.js';

/** Signals a client may send to a program (the usual job-control and termination ones). */
export const FORWARDABLE_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGKILL', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGSTOP', 'SIGCONT', 'SIGALRM', 'SIGWINCH'] as const;
export type ForwardableSignal = (typeof FORWARDABLE_SIGNALS)[number];

export function isForwardableSignal(name: unknown): name is ForwardableSignal {
  return typeof name === 'string' && (FORWARDABLE_SIGNALS as readonly string[]).includes(name) && signalNumber(name) !== undefined;
}

function childrenOf(pid: number): number[] {
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
