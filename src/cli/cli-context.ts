// Where a CLI command runs: in this process (its stdio, its signals, process.exitCode), or in the
// resident cylo for a client (./resident/session.ts: the client's streams over the socket, the
// client's forwarded signals, the exit code sent back). Commands that can run in the resident
// (`cylo exec`) take their streams, signals and exit code from here rather than from `process`.
import type { Cylo } from '../cylo.js';
import { processIO, type CommandIO } from '../util/io.js';
import { untilTerminated } from './termination.js';

export interface CliContext {
  io: CommandIO;
  /** The command line (`process.argv` shape: node, script, then the arguments). */
  argv: readonly string[];
  /** Runs the command's work with an AbortSignal that aborts on SIGINT/SIGTERM/SIGHUP (of this
   *  process, or forwarded by the client); resolves with the work's exit code, or the shell's
   *  code for the signal (termination.ts). */
  untilTerminated: (work: (signal: AbortSignal) => Promise<number>) => Promise<number>;
  /** Records the command's exit code. */
  setExitCode: (code: number) => void;
  /** The directory the command line's relative paths mean (a resident's client's: the
   *  resident runs several commands at once and never changes its own); undefined: this
   *  process's. */
  cwd?: string;
  /** An instance to run with instead of creating one (the resident's, kept warm). */
  cylo?: Cylo;
  /** commander's output settings (help width and colours) when they are not this process's. */
  output?: { helpWidth: number; colors: boolean };
}

/** The context of a command run in this process. */
export function processContext(argv: readonly string[] = process.argv): CliContext {
  return {
    io: processIO,
    argv,
    untilTerminated,
    setExitCode: (code) => {
      process.exitCode = code;
    },
  };
}
