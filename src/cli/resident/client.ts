// The fast path of `cylo exec` (docs/resident.md): bin/cylo calls tryResident before loading the
// CLI bundle, commander or zod. When a resident cylo (`cylo daemon`) of this user listens on the
// socket, the command is handed to it: the arguments, the working directory, the configuration's
// variables and which streams are terminals go over; stdin follows when the command reads it;
// stdout, stderr and the exit code come back; SIGINT, SIGTERM and SIGHUP are forwarded, and the
// resident ends the run and answers with the shell's code for them (130, 143, 129), as
// in-process. Imports only Node's built-ins and the two small modules beside it: its load cost is
// the whole point.
import { lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Socket } from 'node:net';
import * as F from './frames.js';
import { configEnv, residentSocketPath } from './where.js';

/** Exit code of a cylo failure (src/cli/exit-codes.ts; not imported: it would load more). */
const EXIT_CYLO_FAILURE = 125;
const SIGNAL_CODES: Readonly<Record<string, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/** True when the command may go to a resident: `cylo exec` without --config (a config file named
 *  on the command line is read in-process), unless CYLO_RESIDENT=0. */
export function residentEligible(args: readonly string[], env: NodeJS.ProcessEnv = process.env): boolean {
  if (args[0] !== 'exec' || env.CYLO_RESIDENT === '0') return false;
  const end = args.indexOf('--');
  return !(end === -1 ? args : args.slice(0, end)).some((a) => a === '--config' || a.startsWith('--config='));
}

/** True when the socket can only be this user's resident: a socket owned by this uid, in a
 *  directory (not a symlink) owned by this uid that nobody else can write. */
function trustedSocket(path: string): boolean {
  const uid = process.getuid?.();
  const sock = lstatSync(path, { throwIfNoEntry: false });
  if (sock === undefined || !sock.isSocket() || sock.uid !== uid) return false;
  const dir = lstatSync(dirname(path), { throwIfNoEntry: false });
  return dir !== undefined && dir.isDirectory() && dir.uid === uid && (dir.mode & 0o022) === 0;
}

const jsonWanted = (args: readonly string[]): boolean => {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).includes('--json');
};

/** Says that an accepted request lost its resident, on stderr (or as a JSON error object on
 *  stdout with --json), and exits 125: the program may have run, so it is not run again. */
function lost(args: readonly string[], pid: number): never {
  const message = `the resident cylo (cylo daemon, pid ${pid}) ended before the command did; its outcome is unknown and it was not run again (run it again; CYLO_RESIDENT=0 runs cylo exec without the resident)`;
  if (jsonWanted(args)) process.stdout.write(`${JSON.stringify({ error: { code: 'CYLO_E_RESIDENT', message } })}\n`);
  else process.stderr.write(`cylo: ${message}\n`);
  process.exit(EXIT_CYLO_FAILURE);
}

/** Exits with `code` once stdout and stderr took everything written to them. */
function exitWhenFlushed(code: number): void {
  let pending = 2;
  const done = (): void => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

/** Hands `cylo ARGS` to the resident. Resolves false when the command is to run in-process (not
 *  exec, no trusted socket, nobody listening, or the resident declined: nothing ran); otherwise
 *  never resolves: the process exits with the command's code. */
export async function tryResident(args: string[]): Promise<boolean> {
  if (!residentEligible(args)) return false;
  const path = residentSocketPath();
  if (!trustedSocket(path)) return false;
  const { connect } = await import('node:net');
  return new Promise<boolean>((resolve) => {
    const socket = connect(path);
    let accepted: number | undefined;
    let signalled: string | undefined;
    const onSignal = (sig: NodeJS.Signals): void => {
      signalled ??= sig;
      socket.write(F.frame(F.SIGNAL, sig));
    };
    for (const sig of Object.keys(SIGNAL_CODES)) process.on(sig, onSignal);
    const inProcess = (): void => {
      for (const sig of Object.keys(SIGNAL_CODES)) process.off(sig, onSignal);
      socket.destroy();
      if (signalled !== undefined) process.exit(SIGNAL_CODES[signalled] ?? EXIT_CYLO_FAILURE);
      resolve(false);
    };
    socket.once('connect', () => {
      const tty = { stdin: process.stdin.isTTY === true, stdout: process.stdout.isTTY === true, stderr: process.stderr.isTTY === true };
      const hello: F.ExecHello = { argv: args, cwd: process.cwd(), env: configEnv(), tty, ...(tty.stdout ? { columns: process.stdout.columns } : {}) };
      socket.write(F.frame(F.HELLO, JSON.stringify(hello)));
    });
    socket.on('error', () => undefined); // followed by 'close'
    socket.once('close', () => (accepted === undefined ? inProcess() : lost(args, accepted)));
    const reader = new F.FrameReader();
    const stdin = new StdinForwarder(socket);
    socket.on('data', (chunk: Buffer) => {
      for (const { kind, payload } of reader.push(chunk)) {
        if (kind === F.ACCEPTED) accepted = (JSON.parse(payload.toString()) as { pid: number }).pid;
        else if (kind === F.DECLINED) inProcess();
        else if (kind === F.STDOUT) process.stdout.write(payload);
        else if (kind === F.STDERR) process.stderr.write(payload);
        else if (kind === F.WANT_STDIN) stdin.resume();
        else if (kind === F.PAUSE_STDIN) stdin.pause();
        else if (kind === F.EXIT) {
          socket.removeAllListeners('close');
          exitWhenFlushed((JSON.parse(payload.toString()) as { code: number }).code);
        }
      }
    });
  });
}

/** The client's stdin, sent as frames while the resident wants it: read only after the first
 *  W (a command that never reads stdin leaves it unread, as in-process), paused on P. */
class StdinForwarder {
  private started = false;

  constructor(private readonly socket: Socket) {}

  resume(): void {
    if (!this.started) {
      this.started = true;
      process.stdin.on('data', (c: Buffer) => this.socket.write(F.frame(F.STDIN, c)));
      process.stdin.once('end', () => this.socket.write(F.frame(F.STDIN_END)));
      process.stdin.once('error', () => this.socket.write(F.frame(F.STDIN_END)));
    }
    process.stdin.resume();
  }

  pause(): void {
    if (this.started) process.stdin.pause();
  }
}
