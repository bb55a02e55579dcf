// `cylo exec`'s own stdin, streamed to the running program (a terminal, a pipe or a file): each
// chunk goes to the interactive execution as it arrives, never read to its end first. Memory is
// bounded by backpressure: when cylo's input buffer is full (InteractiveExecution.write returns
// false) cylo stops reading its stdin until the program's stdin pipe took the buffer
// (`drained`), so a fast producer waits, as it would for any reader of a pipe. The request's
// stdin maximum (requestBounds.maxStdinBytes) still holds: past it the run is cancelled and the
// command fails with CYLO_E_USAGE naming stdin.
import { CyloError } from '../errors.js';
import type { InteractiveExecution } from '../engine/interactive.js';
import { formatSize } from '../util/units.js';

/** A running pump: `overflow` is set once more than the maximum came in; `stop` detaches it
 *  (idempotent) and leaves cylo's stdin paused, so it keeps nothing alive. */
export interface StdinPump {
  readonly overflow: () => CyloError | undefined;
  stop(): void;
}

/** Streams `stdin` into `execution` until stdin ends (then the program's stdin is closed), the
 *  execution ends, or more than `maxBytes` arrived (then the execution is cancelled). */
export function pumpStdin(stdin: NodeJS.ReadableStream, execution: InteractiveExecution, maxBytes: number): StdinPump {
  let total = 0;
  let stopped = false;
  let overflow: CyloError | undefined;
  const what = (stdin as { isTTY?: boolean }).isTTY === true ? 'typed' : 'piped';
  const onData = (c: Buffer | string): void => {
    const chunk = typeof c === 'string' ? Buffer.from(c) : c;
    total += chunk.length;
    if (total > maxBytes) {
      overflow = new CyloError('CYLO_E_USAGE', `stdin: more than ${formatSize(maxBytes)} ${what}; a program's stdin is bounded by the request's stdin maximum (requestBounds.maxStdinBytes in the config file)`, { field: 'stdin' });
      stop();
      execution.cancel();
      return;
    }
    let room: boolean;
    try {
      room = execution.write(chunk);
    } catch {
      return stop(); // the program's stdin is closed already: nothing more is taken, as for a terminal
    }
    if (room) return;
    stdin.pause(); // backpressure: read on once the program's stdin pipe took what waits
    void execution.drained().then(() => {
      if (!stopped) stdin.resume();
    });
  };
  const onEnd = (): void => {
    if (!stopped) execution.end();
  };
  function stop(): void {
    if (stopped) return;
    stopped = true;
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    stdin.pause(); // a paused stdin no longer keeps cylo alive
  }
  stdin.on('data', onData);
  stdin.once('end', onEnd);
  return { overflow: () => overflow, stop };
}
