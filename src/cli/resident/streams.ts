// A client's stdio inside the resident: Node streams that `cylo exec` reads and writes as it does
// process.stdin/stdout/stderr, carried as frames over the client's socket (frames.ts).
import type { Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import * as F from './frames.js';

/** stdout or stderr of the client: each write becomes one frame, in order; backpressure follows
 *  the socket's (a slow client's terminal slows the command, as it would in-process). Writes
 *  after the client went away are dropped. `isTTY` and `columns` are the client's. */
export class ClientOutput extends Writable {
  readonly isTTY: boolean;
  readonly columns: number | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly kind: typeof F.STDOUT | typeof F.STDERR,
    tty: boolean,
    columns: number | undefined,
  ) {
    super();
    this.isTTY = tty;
    this.columns = tty ? columns : undefined;
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (this.socket.destroyed) return done();
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.socket.write(F.frame(this.kind, data))) return done();
    this.socket.once('drain', () => done());
    this.socket.once('close', () => done());
  }
}

/** stdin of the client: nothing is asked for until the command reads (then W: the client starts
 *  or resumes sending); when the buffer is full, P pauses the client. `isTTY` is the client's. */
export class ClientInput extends Readable {
  readonly isTTY: boolean;
  private sending = false;

  constructor(
    private readonly socket: Socket,
    tty: boolean,
  ) {
    super();
    this.isTTY = tty;
  }

  override _read(): void {
    if (this.sending || this.socket.destroyed) return;
    this.sending = true;
    this.socket.write(F.frame(F.WANT_STDIN));
  }

  /** A chunk of the client's stdin arrived (I), or its end (E: `data` null). */
  deliver(data: Buffer | null): void {
    if (this.push(data) || data === null || this.socket.destroyed) return;
    this.sending = false;
    this.socket.write(F.frame(F.PAUSE_STDIN));
  }
}
