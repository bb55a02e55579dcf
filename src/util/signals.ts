// Signal names and numbers, canonical per number. Node's os.constants.signals lists aliases
// (SIGIOT = SIGABRT = 6, SIGPOLL = SIGIO = 29 on Linux); a map built from it by number keeps
// whichever alias comes last, so a C program's abort() was reported as "SIGIOT". Every place
// that names a signal (results, Piston's `signal`, CLI messages) goes through here.
// Source of the canonical names: signal(7), "Standard signals" table (the first name per number).
import { constants } from 'node:os';

/** Names that are aliases of another signal's number; never used to name a number. */
const ALIASES: ReadonlySet<string> = new Set(['SIGIOT', 'SIGPOLL', 'SIGUNUSED', 'SIGCLD', 'SIGINFO', 'SIGLOST']);

const BY_NAME = constants.signals as Readonly<Record<string, number | undefined>>;
const BY_NUMBER = new Map<number, string>();
for (const [name, num] of Object.entries(BY_NAME)) {
  if (num !== undefined && !ALIASES.has(name) && !BY_NUMBER.has(num)) BY_NUMBER.set(num, name);
}

/** `6` -> `"SIGABRT"`; a number with no name (a real-time signal) -> `"SIG34"`. */
export function signalName(num: number): string {
  return BY_NUMBER.get(num) ?? `SIG${num}`;
}

/** `"SIGABRT"` -> `6`; undefined for a name this platform does not know. */
export function signalNumber(name: string): number | undefined {
  return BY_NAME[name];
}

/** Signals a client may send to a program (the usual job-control and termination ones). */
export const FORWARDABLE_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGKILL', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGSTOP', 'SIGCONT', 'SIGALRM', 'SIGWINCH'] as const;
export type ForwardableSignal = (typeof FORWARDABLE_SIGNALS)[number];

export function isForwardableSignal(name: unknown): name is ForwardableSignal {
  return typeof name === 'string' && (FORWARDABLE_SIGNALS as readonly string[]).includes(name) && signalNumber(name) !== undefined;
}
