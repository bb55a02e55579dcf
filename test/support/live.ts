// Proving that output is delivered live, without timing it. LIVE_PROGRAM prints "first", then
// waits for a signal from the host (SIGUSR1) before it writes "released" to stderr and "second"
// to stdout. The test sends that signal (releaseLiveProgram) only once it has received "first"
// through the interface under test. If that interface held output back until the program ended,
// the test would never see "first" and never release the program, which would end at its
// wall-clock limit instead: status timeout, no "second". No sleep, no clock, no threshold.
import { readFileSync } from 'node:fs';
import { pids, processesWith, readProcess, type HostProcess } from './processes.js';

/** Python; takes the test's marker as its only argument (so the host can find it: on the
 *  interpreter's command line when it started cold; a pre-started interpreter's command line
 *  has no arguments, so it is also found by its entry file, see liveProgram). */
export const LIVE_PROGRAM = [
  'import signal, sys',
  '# blocked first, so that a signal sent before sigwait() stays pending instead of killing it',
  'signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})',
  'print("first", flush=True)',
  'signal.sigwait({signal.SIGUSR1})',
  'print("released", file=sys.stderr, flush=True)',
  'print("second", flush=True)',
  '',
].join('\n');

/** LIVE_PROGRAM with `marker` in its code too (a comment), so that the host finds it in its
 *  entry file even when its interpreter was pre-started (docs/security.md: a pre-started
 *  runtime's command line does not carry the program's arguments). */
export function liveProgram(marker: string): string {
  return `${LIVE_PROGRAM}# ${marker}\n`;
}

/** Python interpreters whose entry file in their own workspace (/proc/PID/root/work/main.py,
 *  which the host's root may read) contains `marker`. */
function pythonsRunning(marker: string): HostProcess[] {
  const found: HostProcess[] = [];
  for (const pid of pids()) {
    try {
      if (!/(^|\/)python[\d.]*$/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '')) continue;
      if (!readFileSync(`/proc/${pid}/root/work/main.py`, 'utf8').includes(marker)) continue;
      const p = readProcess(pid);
      if (p !== undefined) found.push(p);
    } catch {
      // gone, or another kind of process
    }
  }
  return found;
}

/** Sends SIGUSR1 to the sandboxed Python program that carries `marker` (as an argument, or in
 *  its code: liveProgram); throws when there is none (the program cannot have printed "first"
 *  without running). */
export function releaseLiveProgram(marker: string): void {
  // Only the interpreter itself: a `cylo exec --arg <marker>` process carries the marker too.
  const byArgv = processesWith(marker).filter((p) => /(^|\/)python[\d.]*$/.test(p.cmdline[0] ?? ''));
  const programs = byArgv.length > 0 ? byArgv : pythonsRunning(marker);
  if (programs.length === 0) throw new Error(`no running Python program carries ${marker}: ${JSON.stringify(processesWith(marker).map((p) => p.cmdline))}`);
  for (const p of programs) process.kill(p.pid, 'SIGUSR1');
}
