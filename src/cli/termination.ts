// Ctrl-C, SIGTERM and SIGHUP for the CLI's commands: instead of Node's default (die at once,
// leaving the execution's cgroup, its slot's uid and every sandbox process for the next start to
// clean as a crash leftover), the signal aborts the command's work, which kills and removes all
// of it; the command then ends with the shell's code for that signal (128 + its number).
import { CyloError } from '../errors.js';
import { signalNumber } from '../util/signals.js';

/** The signals that end a CLI command cleanly: an interrupt, a termination request, a hang-up. */
export const TERMINATION_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type TerminationSignal = (typeof TERMINATION_SIGNALS)[number];

/** The shell's exit code for a death by `signal`: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP). */
export function exitCodeForSignal(signal: TerminationSignal): number {
  return 128 + (signalNumber(signal) ?? 0);
}

/**
 * Runs `work` with an AbortSignal that aborts on the first SIGINT, SIGTERM or SIGHUP. While `work`
 * runs, these signals no longer kill the process: `work` must stop (and clean up) when its signal
 * aborts. Resolves with `work`'s exit code, or, when a signal came, with the shell's code for it
 * (`work` has returned by then, so everything it owned is gone). Later signals while `work` is
 * still cleaning up are ignored: cleanup is bounded, and a cut-short one leaks what it was
 * removing (SIGKILL remains for an operator who wants that).
 */
export async function untilTerminated(work: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const stop = new AbortController();
  let received: TerminationSignal | undefined;
  const handlers = TERMINATION_SIGNALS.map((sig) => {
    const handler = (): void => {
      received ??= sig;
      stop.abort(new Error(`cylo: ${sig}`));
    };
    process.on(sig, handler);
    return [sig, handler] as const;
  });
  try {
    const code = await work(stop.signal);
    return received === undefined ? code : exitCodeForSignal(received);
  } finally {
    for (const [sig, handler] of handlers) process.off(sig, handler);
    // A read of the terminal that the signal cut short would keep the process alive.
    if (received !== undefined) process.stdin.destroy();
  }
}

/** `promise`, or a CYLO_E_CANCELLED rejection as soon as `signal` aborts (e.g. while the code is
 *  still being read from a terminal's stdin). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new CyloError('CYLO_E_CANCELLED', 'cancelled before the execution started'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
