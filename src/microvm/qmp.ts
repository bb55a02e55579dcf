// A minimal QMP client (QEMU's JSON monitor) for the snapshot steps of a VM: the host listens on
// a Unix socket of the VM's private directory and QEMU's `-chardev socket` connects to it (the
// same pattern as the job channel: QEMU never creates a file the host then uses). Only the host
// speaks on it; the guest has no path to QEMU's monitor.
//   wire: one JSON object per line each way. The first line is QEMU's greeting {"QMP": {...}};
//   each command carries an `id` (a number, one per command) and its reply {"return": ..., "id"}
//   or {"error": {...}, "id"} is matched by that id, never by order; asynchronous
//   {"event": ...} lines are ignored.
// QEMU is treated as untrusted (a guest may have taken it over), so the monitor fails closed
// (every pending command rejected, the socket closed) on: a line longer than LINE_MAX, a line that
// is not a JSON object, a greeting without "QMP", a reply whose id is not one of a pending
// command (an unsolicited or repeated answer, or a reply without an id), a reply with neither or
// both of "return" and "error". Replies are only ever read as plain JSON values.
import type { Socket } from 'node:net';

/** The longest line accepted from QEMU, in bytes. */
const LINE_MAX = 64 * 1024;

interface Waiter {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class Qmp {
  private buffered = '';
  /** Pending commands by the id they were sent with. */
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 1;
  private failure: Error | null = null;
  private greeted: Promise<void>;
  private greet: () => void = () => undefined;
  /** Rejects when the monitor fails (so no command waits for a greeting that cannot come). */
  private readonly broken: Promise<never>;
  private breakWith: (e: Error) => void = () => undefined;
  private first = true;
  private negotiated = false;

  /** `socket`: the connection QEMU made to the host's monitor socket. */
  constructor(private readonly socket: Socket) {
    this.greeted = new Promise<void>((resolve) => (this.greet = resolve));
    this.broken = new Promise<never>((_, reject) => (this.breakWith = reject));
    this.broken.catch(() => undefined); // read by command(); never an unhandled rejection
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffered += chunk;
      if (this.buffered.length > LINE_MAX && !this.buffered.includes('\n')) return this.fail(new Error(`QEMU's monitor sent a line of more than ${LINE_MAX} bytes`));
      for (let nl = this.buffered.indexOf('\n'); nl >= 0 && this.failure === null; nl = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, nl).trim();
        this.buffered = this.buffered.slice(nl + 1);
        if (line !== '') this.line(line);
      }
    });
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error("QEMU's monitor closed")));
  }

  /** One line from QEMU: the greeting, an event (ignored) or the reply to a pending command. */
  private line(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return this.fail(new Error(`QEMU's monitor sent something that is not JSON: ${line.slice(0, 200)}`));
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return this.fail(new Error(`QEMU's monitor sent something that is not a JSON object: ${line.slice(0, 200)}`));
    const m = msg as Record<string, unknown>;
    if (this.first) {
      this.first = false;
      if (!('QMP' in m)) return this.fail(new Error(`QEMU's monitor did not greet with {"QMP": ...}: ${line.slice(0, 200)}`));
      return this.greet();
    }
    if ('event' in m) return;
    const id = m.id;
    const waiter = typeof id === 'number' ? this.waiting.get(id) : undefined;
    if (waiter === undefined) return this.fail(new Error(`QEMU's monitor sent a reply to no pending command (id ${JSON.stringify(id) ?? 'missing'}): ${line.slice(0, 200)}`));
    if ('error' in m === 'return' in m) return this.fail(new Error(`QEMU's monitor sent a reply with ${'error' in m ? 'both "return" and "error"' : 'neither "return" nor "error"'}: ${line.slice(0, 200)}`));
    this.waiting.delete(id as number);
    if ('error' in m) waiter.reject(new Error(`QEMU: ${JSON.stringify(m.error).slice(0, 300)}`));
    else waiter.resolve(m.return);
  }

  private fail(error: Error): void {
    if (this.failure !== null) return;
    this.failure = error;
    this.breakWith(error);
    const pending = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of pending) w.reject(error);
    this.socket.destroy();
  }

  /** Runs one command; resolves with its "return" value, rejects with QEMU's error (or the
   *  monitor's failure). The first call also negotiates the capabilities (qmp_capabilities).
   *  Commands may overlap: each reply is matched by its id. */
  async command(name: string, args?: Record<string, unknown>): Promise<unknown> {
    await Promise.race([this.greeted, this.broken]);
    if (name !== 'qmp_capabilities' && !this.negotiated) {
      this.negotiated = true;
      await this.command('qmp_capabilities');
    }
    if (this.failure !== null) throw this.failure;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.socket.write(`${JSON.stringify(args === undefined ? { execute: name, id } : { execute: name, arguments: args, id })}\n`);
    });
  }

  /** Polls `query` every `everyMs` until `done` says true (returns the value) or `timeoutMs` passed. */
  async until<T>(query: string, done: (value: T) => boolean | Error, everyMs: number, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = (await this.command(query)) as T;
      const d = done(value);
      if (d instanceof Error) throw d;
      if (d) return value;
      if (Date.now() > deadline) throw new Error(`QEMU's ${query} did not reach the state in ${timeoutMs} ms: ${JSON.stringify(value).slice(0, 200)}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
