// `cylo exec` on a terminal: stdin is live (the program runs through cylo.interactive(); each line
// typed reaches it as the terminal delivers it, Ctrl-D ends its input) and, while a compile takes
// long, a status line on stderr (only when stderr is a terminal; erased as soon as anything else
// is printed or the compile ends). Pipes keep the plain path (stdin read to its end first).
import type { Cylo } from '../cylo.js';
import type { ExecuteRequest } from '../api/request.js';
import type { ExecutionResult } from '../api/result.js';
import type { CommandIO } from '../util/io.js';

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

/** True when the program should read the terminal live: stdin is a terminal and nothing else was
 *  given as its input (`request.stdin` unset) and the code itself was not read from stdin. */
export function wantsLiveStdin(request: ExecuteRequest, codeFromStdin: boolean, io: CommandIO): boolean {
  return isTTY(io.stdin) && request.stdin === undefined && !codeFromStdin;
}

/** Runs the request interactively: the terminal's input goes to the program as it is typed, its
 *  end (Ctrl-D) closes the program's stdin; output is printed as `execute`'s live path prints it.
 *  Returns the result and whether compile output was printed. Rejects like `execute`. */
export async function runWithLiveStdin(cylo: Cylo, request: ExecuteRequest, io: CommandIO, signal?: AbortSignal): Promise<{ result: ExecutionResult; compileOutputSeen: boolean }> {
  const execution = cylo.interactive(request, signal === undefined ? {} : { signal });
  const status = new CompileStatus(io.stderr, request.language);
  const onData = (chunk: Buffer | string): void => {
    try {
      execution.write(chunk);
    } catch {
      // typed after the program closed its input or ended: dropped, as a terminal would
    }
  };
  const onEnd = (): void => execution.end();
  io.stdin.on('data', onData);
  io.stdin.once('end', onEnd);
  let compileOutputSeen = false;
  try {
    for await (const event of execution.events) {
      if (event.type === 'state') status.state(event.to);
      else if (event.type === 'stdout' || event.type === 'stderr') {
        status.clear();
        if (event.stage === 'compile') compileOutputSeen = true;
        (event.type === 'stdout' && event.stage === 'run' ? io.stdout : io.stderr).write(event.data);
      }
    }
    return { result: await execution.result, compileOutputSeen };
  } finally {
    status.clear();
    io.stdin.off('data', onData);
    io.stdin.off('end', onEnd);
    io.stdin.pause(); // a paused terminal no longer keeps cylo alive
  }
}
