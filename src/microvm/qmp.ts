// A minimal QMP client (QEMU's JSON monitor) for the snapshot steps of a VM: the host listens on
// a Unix socket of the VM's private directory and QEMU's `-chardev socket` connects to it (the
// same pattern as the job channel: QEMU never creates a file the host then uses). Only the host
// speaks on it; the guest has no path to QEMU's monitor.
//   wire: one JSON object per line each way; replies are {"return": ...} or {"error": {...}},
//   asynchronous {"event": ...} lines are ignored.
// QEMU is treated as untrusted (a guest may have taken it over): a line longer than LINE_MAX
// ends the monitor with an error, and replies are only ever read as plain JSON values.
import type { Socket } from 'node:net';

/** The longest line accepted from QEMU, in bytes. */
const LINE_MAX = 64 * 1024;

export class Qmp {
  private buffered = '';
  private waiting: Array<{ resolve: (v: unknown) => void; reject: (e: Error) => void }> = [];
  private failure: Error | null = null;
  private greeted: Promise<void>;
  private negotiated = false;

  /** `socket`: the connection QEMU made to the host's monitor socket. */
  constructor(private readonly socket: Socket) {
    let greet: () => void = () => undefined;
    this.greeted = new Promise<void>((resolve) => (greet = resolve));
    let first = true;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffered += chunk;
      if (this.buffered.length > LINE_MAX && !this.buffered.includes('\n')) return this.fail(new Error(`QEMU's monitor sent a line of more than ${LINE_MAX} bytes`));
      for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
        const line = this.buffered.slice(0, nl).trim();
        this.buffered = this.buffered.slice(nl + 1);
        if (line === '') continue;
        if (first) {
          first = false;
          greet();
          continue;
        }
        this.line(line);
      }
    });
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error("QEMU's monitor closed")));
  }

  private line(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return this.fail(new Error(`QEMU's monitor sent something that is not JSON: ${line.slice(0, 200)}`));
    }
    if (typeof msg !== 'object' || msg === null || 'event' in msg) return;
    const waiter = this.waiting.shift();
    if (waiter === undefined) return;
    if ('error' in msg) waiter.reject(new Error(`QEMU: ${JSON.stringify((msg as { error: unknown }).error).slice(0, 300)}`));
    else waiter.resolve((msg as { return?: unknown }).return);
  }

  private fail(error: Error): void {
    if (this.failure !== null) return;
    this.failure = error;
    for (const w of this.waiting.splice(0)) w.reject(error);
    this.socket.destroy();
  }

  /** Runs one command; resolves with its "return" value, rejects with QEMU's error. The first
   *  call also negotiates the capabilities (qmp_capabilities). */
  async command(name: string, args?: Record<string, unknown>): Promise<unknown> {
    await this.greeted;
    if (name !== 'qmp_capabilities' && !this.negotiated) {
      this.negotiated = true;
      await this.command('qmp_capabilities');
    }
    if (this.failure !== null) throw this.failure;
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.socket.write(`${JSON.stringify(args === undefined ? { execute: name } : { execute: name, arguments: args })}\n`);
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
