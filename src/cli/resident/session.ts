// One client connection of the resident cylo: a status question (cylo doctor), or a `cylo exec`
// run by the real exec command (../program.ts, the same code as in-process) with the client's
// streams, working directory and forwarded signals, and the resident's warm cylo instance.
// Several commands at once, up to the instance's concurrency (its pool's slots): each reads the
// relative paths of its command line from its client's working directory (CliContext.cwd; the
// resident never changes its own), with its own streams, signals and exit code. A client that
// finds every slot taken is declined and runs in-process (rather than waiting in the queue).
import { statSync } from 'node:fs';
import type { Socket } from 'node:net';
import { isAbsolute } from 'node:path';
import type { Cylo } from '../../cylo.js';
import type { CliContext } from '../cli-context.js';
import { main } from '../program.js';
import { exitCodeForSignal, TERMINATION_SIGNALS, type TerminationSignal } from '../termination.js';
import { configFingerprint } from './fingerprint.js';
import * as F from './frames.js';
import { ClientInput, ClientOutput } from './streams.js';

/** What every connection shares: the instance, the resident's own configuration, who runs now. */
export interface Resident {
  cylo: Cylo;
  /** configFingerprint of the resident's own configuration. */
  fingerprint: string;
  version: string;
  /** How many commands were accepted (cylo doctor; tests tell the paths apart by it). */
  served: number;
  /** How many commands may run at once: the instance's concurrency. */
  capacity: number;
  /** The commands running now (at most `capacity`), to end them when the resident stops. */
  running: Set<RunningCommand>;
}

/** One accepted command: `stop` ends it as SIGTERM would; `done` settles once it answered. */
export interface RunningCommand {
  stop: () => void;
  done: Promise<void>;
}

/** What the resident says about itself now (STATUS). */
function statusOf(resident: Resident): F.ResidentStatus {
  const running = resident.running.size;
  return { pid: process.pid, version: resident.version, busy: running >= resident.capacity, running, capacity: resident.capacity, served: resident.served };
}

/** True when `dir` is an absolute path to a directory (a client's working directory). */
function isDirectory(dir: string): boolean {
  try {
    return isAbsolute(dir) && statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/** Reads the client's first frame and answers it; then, for an accepted exec, its stream. */
export function serveConnection(socket: Socket, resident: Resident): void {
  const reader = new F.FrameReader();
  let onFrame: (kind: string, payload: Buffer) => void = (kind, payload) => {
    if (kind === F.STATUS) {
      socket.end(F.frame(F.STATUS_REPLY, JSON.stringify(statusOf(resident))));
    } else if (kind === F.HELLO) {
      onFrame = accept(socket, resident, parseHello(payload));
    } else socket.destroy();
  };
  socket.on('error', () => undefined); // followed by 'close'
  socket.on('data', (chunk: Buffer) => {
    try {
      for (const { kind, payload } of reader.push(chunk)) onFrame(kind, payload);
    } catch {
      socket.destroy(); // a malformed frame or hello: nothing was accepted on it
    }
  });
}

/** The hello's fields, checked for shape; throws on anything else. */
function parseHello(payload: Buffer): F.ExecHello {
  const h = JSON.parse(payload.toString('utf8')) as F.ExecHello;
  const strings = (v: unknown): boolean => Array.isArray(v) && v.every((a) => typeof a === 'string');
  const ok = strings(h.argv) && typeof h.cwd === 'string' && typeof h.env === 'object' && h.env !== null && strings(Object.values(h.env)) && typeof h.tty === 'object' && h.tty !== null;
  if (!ok) throw new Error('malformed hello');
  return h;
}

/** Declines (nothing runs: the client runs in-process) or accepts and starts the command;
 *  returns the handler of the client's later frames (stdin, signals). */
function accept(socket: Socket, resident: Resident, hello: F.ExecHello): (kind: string, payload: Buffer) => void {
  const decline = (reason: string): (() => void) => {
    socket.end(F.frame(F.DECLINED, JSON.stringify({ reason })));
    return () => undefined;
  };
  if (hello.argv[0] !== 'exec') return decline('the resident runs cylo exec only');
  if (resident.running.size >= resident.capacity) return decline(`busy: ${resident.running.size} commands run (its concurrency)`);
  if (configFingerprint(hello.env, hello.cwd) !== resident.fingerprint) return decline('the configuration differs from the resident\'s');
  if (!isDirectory(hello.cwd)) return decline('the working directory is not a directory');
  resident.served += 1;
  socket.write(F.frame(F.ACCEPTED, JSON.stringify({ pid: process.pid })));
  const stdin = new ClientInput(socket, hello.tty.stdin);
  const stop = new AbortController();
  let received: TerminationSignal | undefined;
  const end = (sig: TerminationSignal): void => {
    received ??= sig;
    stop.abort(new Error(`cylo: ${sig}`));
  };
  // The client gone (killed, or its terminal closed) ends the command as a hang-up would.
  socket.once('close', () => end('SIGHUP'));
  const command: RunningCommand = { stop: () => end('SIGTERM'), done: Promise.resolve() };
  command.done = runCommand(socket, resident, hello, stdin, stop.signal, () => received).finally(() => resident.running.delete(command));
  resident.running.add(command);
  return (kind, payload) => {
    if (kind === F.STDIN) stdin.deliver(payload);
    else if (kind === F.STDIN_END) stdin.deliver(null);
    else if (kind === F.SIGNAL) {
      const sig = payload.toString('utf8');
      if ((TERMINATION_SIGNALS as readonly string[]).includes(sig)) end(sig as TerminationSignal);
    }
  };
}

/** Runs `cylo ARGS` as the CLI does, with the client's streams; sends the exit code (after every
 *  byte of output) and closes the connection. */
async function runCommand(socket: Socket, resident: Resident, hello: F.ExecHello, stdin: ClientInput, signal: AbortSignal, received: () => TerminationSignal | undefined): Promise<void> {
  const stdout = new ClientOutput(socket, F.STDOUT, hello.tty.stdout, hello.columns);
  const stderr = new ClientOutput(socket, F.STDERR, hello.tty.stderr, hello.columns);
  let code = 0;
  const context: CliContext = {
    io: { stdout, stderr, stdin },
    argv: [process.execPath, 'cylo', ...hello.argv],
    cwd: hello.cwd,
    untilTerminated: async (work) => {
      const result = await work(signal);
      const sig = received();
      if (sig !== undefined) stdin.destroy();
      return sig === undefined ? result : exitCodeForSignal(sig);
    },
    setExitCode: (c) => {
      code = c;
    },
    cylo: resident.cylo,
    output: { helpWidth: (hello.tty.stdout ? hello.columns : undefined) ?? 80, colors: false },
  };
  try {
    await main(context.argv, context);
  } catch {
    code = 125; // main reports every error itself; this is a last resort
  }
  await Promise.all([stdout, stderr].map((s) => new Promise<void>((resolve) => s.end(resolve))));
  stdin.destroy();
  if (!socket.destroyed) socket.end(F.frame(F.EXIT, JSON.stringify({ code })));
}
