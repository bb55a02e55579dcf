// Writing to the sandbox's input pipes: the seccomp program, the job and the files, and the
// program's stdin (all at once, or as an interactive session produces it).
import type { Writable } from 'node:stream';

/** Writes every chunk, then closes the pipe. EPIPE/ECONNRESET when the other side never reads
 *  (a program that ignores its stdin) is normal, not an error. */
export function writeAll(stream: Writable, chunks: readonly Buffer[]): void {
  stream.on('error', () => {});
  for (const c of chunks) if (c.length > 0) stream.write(c);
  stream.end();
}

/** Writes the initial stdin, then whatever `rest` yields (respecting backpressure), then
 *  closes the program's stdin when `rest` ends. */
export async function pipeInteractive(stream: Writable, first: Buffer, rest: AsyncIterable<Buffer>): Promise<void> {
  stream.on('error', () => {});
  if (first.length > 0) stream.write(first);
  try {
    for await (const chunk of rest) {
      if (stream.destroyed) return;
      if (!stream.write(chunk)) await drained(stream);
    }
  } finally {
    stream.end();
  }
}

/** Resolves on the pipe's next 'drain' or its 'close', whichever comes first; the other listener
 *  is removed (a long stream waits here many times: listeners must not pile up). */
function drained(stream: Writable): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}
