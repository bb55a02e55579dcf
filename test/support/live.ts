// Proving that output is delivered live, without timing it. LIVE_PROGRAM prints "first", then
// waits for a signal from the host (SIGUSR1) before it writes "released" to stderr and "second"
// to stdout. The test sends that signal (releaseLiveProgram) only once it has received "first"
// through the interface under test. If that interface held output back until the program ended,
// the test would never see "first" and never release the program, which would end at its
// wall-clock limit instead: status timeout, no "second". No sleep, no clock, no threshold.
import { processesWith } from './processes.js';

/** Python; takes the test's marker as its only argument (so the host can find it). */
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

/** Sends SIGUSR1 to the sandboxed Python program that carries `marker`; throws when there is
 *  none (the program cannot have printed "first" without running). */
export function releaseLiveProgram(marker: string): void {
  // Only the interpreter itself: a `cylo exec --arg <marker>` process carries the marker too.
  const programs = processesWith(marker).filter((p) => /(^|\/)python[\d.]*$/.test(p.cmdline[0] ?? ''));
  if (programs.length === 0) throw new Error(`no running Python program carries ${marker}: ${JSON.stringify(processesWith(marker).map((p) => p.cmdline))}`);
  for (const p of programs) process.kill(p.pid, 'SIGUSR1');
}
