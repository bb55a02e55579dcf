// The resident cylo's wire format (docs/resident.md): frames on a Unix stream socket, each a
// 1-byte kind, a 4-byte big-endian payload length, then the payload (JSON text or raw bytes).
// Imports only Node's built-ins: the fast client (./client.ts) loads it before anything else.

/** Client -> resident. */
export const HELLO = 'H'; // JSON ExecHello: run `cylo exec` with these arguments
export const STATUS = 'Q'; // JSON {}: report pid, version, commands running (cylo doctor)
export const STDIN = 'I'; // bytes of the client's stdin
export const STDIN_END = 'E'; // the client's stdin ended
export const SIGNAL = 'S'; // UTF-8 signal name (SIGINT, SIGTERM, SIGHUP) the client received
/** Resident -> client. */
export const ACCEPTED = 'A'; // JSON {pid}: the request runs here; the client must not run it again
export const DECLINED = 'N'; // JSON {reason}: nothing ran; the client runs the command in-process
export const WANT_STDIN = 'W'; // the command reads stdin: start (or resume) sending it
export const PAUSE_STDIN = 'P'; // backpressure: stop sending stdin until the next W
export const STDOUT = 'O'; // bytes for the client's stdout
export const STDERR = 'R'; // bytes for the client's stderr
export const EXIT = 'X'; // JSON {code}: the command ended with this exit code
export const STATUS_REPLY = 'T'; // JSON ResidentStatus

/** The most one frame may carry (a hello holds the arguments and a few variables; stdin and
 *  output come in chunks of at most 64 KiB); a longer frame ends the connection. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** What the client sends to have `cylo exec` run by the resident. */
export interface ExecHello {
  /** The command line after `cylo` (`['exec', '--lang', 'python', 'print(1)']`). */
  argv: string[];
  /** The client's working directory: files and paths on the command line are relative to it. */
  cwd: string;
  /** The variables that make the configuration (every CYLO_*, and PATH). */
  env: Record<string, string>;
  /** Whether the client's stdin, stdout and stderr are terminals. */
  tty: { stdin: boolean; stdout: boolean; stderr: boolean };
  /** The client terminal's width in columns (help text), when stdout is one. */
  columns?: number;
}

/** What a resident says about itself (cylo doctor). */
export interface ResidentStatus {
  pid: number;
  version: string;
  /** True when it runs as many commands as it may (the next one is declined). */
  busy: boolean;
  /** How many commands it runs now, and at most at once (its instance's concurrency). */
  running: number;
  capacity: number;
  /** How many commands it accepted since it started. */
  served: number;
}

/** One frame, ready to write. */
export function frame(kind: string, payload: Buffer | string = ''): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const head = Buffer.allocUnsafe(5);
  head.write(kind, 0, 1, 'latin1');
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Splits a byte stream into frames: `push` each chunk read, get back the whole frames it
 *  completed. Throws when a frame announces more than MAX_FRAME_BYTES. */
export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Array<{ kind: string; payload: Buffer }> {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: Array<{ kind: string; payload: Buffer }> = [];
    while (this.buffered.length >= 5) {
      const length = this.buffered.readUInt32BE(1);
      if (length > MAX_FRAME_BYTES) throw new Error(`frame of ${length} bytes (at most ${MAX_FRAME_BYTES})`);
      if (this.buffered.length < 5 + length) break;
      frames.push({ kind: this.buffered.toString('latin1', 0, 1), payload: this.buffered.subarray(5, 5 + length) });
      this.buffered = this.buffered.subarray(5 + length);
    }
    return frames;
  }
}
