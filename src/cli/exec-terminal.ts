// `cylo exec` on a terminal: stdin is live (the program runs through cylo.interactive(); each line
// typed reaches it as the terminal delivers it, Ctrl-D ends its input) and, while a compile takes
// long, a status line on stderr (only when stderr is a terminal; erased as soon as anything else
// is printed or the compile ends). A program from a file gets a piped stdin the same live way.
import type { Cylo } from '../cylo.js';
import type { ExecuteRequest } from '../api/request.js';
import type { ExecutionResult } from '../api/result.js';
import type { CommandIO } from '../util/io.js';
import type { ProgramSource } from './exec-program.js';
import { pumpStdin } from './stdin-pump.js';

/** How long a compile runs before the status line appears, in ms. */
export const STATUS_DELAY_MS = 1000;

const isTTY = (stream: NodeJS.WritableStream | NodeJS.ReadableStream): boolean => (stream as { isTTY?: boolean }).isTTY === true;

/** The "compiling…" line: `state(to)` on each state change, `clear()` before anything is printed. */
export class CompileStatus {
  private timer: NodeJS.Timeout | undefined;
  private shown = false;

  constructor(
    private readonly stderr: NodeJS.WritableStream,
    private readonly language: string,
  ) {}

  state(to: string): void {
    this.clear();
    if (to !== 'Compiling' || !isTTY(this.stderr)) return;
    this.timer = setTimeout(() => {
      this.shown = true;
      this.stderr.write(`cylo: compiling ${this.language}…`);
    }, STATUS_DELAY_MS);
    this.timer.unref();
  }

  /** Cancels a pending line and erases a shown one (carriage return, erase to end of line). */
  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.shown) this.stderr.write('\r\x1b[K');
    this.shown = false;
  }
}

/** True when cylo's own stdin streams to the program while it runs: nothing else was given as its
 *  input (`request.stdin` unset, no test cases) and the code was not read from stdin; and stdin is
 *  a terminal (whatever the program's source), or the program came from a file (`producer |
 *  cylo exec prog.py`, or `< input`). */
export function wantsLiveStdin(request: ExecuteRequest, source: ProgramSource, io: CommandIO): boolean {
  if (request.stdin !== undefined || request.tests !== undefined || source.kind === 'stdin') return false;
  return isTTY(io.stdin) || source.kind === 'files';
}

/** How the live run reports: `json` prints nothing while it runs (the caller prints the result). */
export interface LiveOptions {
  signal?: AbortSignal | undefined;
  /** The request's stdin maximum, in bytes (cylo.policy.bounds.maxStdinBytes). */
  maxStdinBytes: number;
  json: boolean;
}

/** Runs the request interactively: cylo's stdin goes to the program as it arrives (stdin-pump.ts;
 *  its end, or Ctrl-D on a terminal, closes the program's stdin); output is printed as it comes,
 *  byte for byte (base64 events decoded: binary output survives), unless `json`. Returns the
 *  result and whether compile output was printed. Rejects like `execute`, or with the pump's
 *  CYLO_E_USAGE when more than the stdin maximum came in. */
export async function runWithLiveStdin(cylo: Cylo, request: ExecuteRequest, io: CommandIO, o: LiveOptions): Promise<{ result: ExecutionResult; compileOutputSeen: boolean }> {
  const live = o.json ? request : { ...request, outputEncoding: 'base64' as const };
  const execution = cylo.interactive(live, o.signal === undefined ? {} : { signal: o.signal });
  const status = new CompileStatus(io.stderr, request.language);
  const pump = pumpStdin(io.stdin, execution, o.maxStdinBytes);
  let compileOutputSeen = false;
  try {
    for await (const event of execution.events) {
      if (o.json) continue;
      if (event.type === 'state') status.state(event.to);
      else if (event.type === 'stdout' || event.type === 'stderr') {
        status.clear();
        if (event.stage === 'compile') compileOutputSeen = true;
        (event.type === 'stdout' && event.stage === 'run' ? io.stdout : io.stderr).write(Buffer.from(event.data, 'base64'));
      }
    }
    return { result: await execution.result, compileOutputSeen };
  } catch (error) {
    throw pump.overflow() ?? error;
  } finally {
    status.clear();
    pump.stop();
  }
}
