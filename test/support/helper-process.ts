// Running the built native helper directly (no bubblewrap, no Node sandbox code) with the fd
// layout of a real sandbox, for the tests of its refusal paths (test/unit/helper-refusals.test.ts)
// and the fuzzer of its job protocol (test/security/fuzz-helper.test.ts).
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

/** The fds of a real sandbox (src/sandbox/bwrap-argv.ts): status 4, bundle 5, artifact 6. */
export const FD_STATUS = 4;
export const FD_BUNDLE = 5;
export const FD_EMIT = 6;
/** The environment the helper runs with (a PATH for unshare, setpriv and the program). */
export const HELPER_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };

export interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Lines the helper wrote on the status fd. */
  status: string[];
  /** Bytes the helper wrote on the artifact fd. */
  artifact: Buffer;
  timedOut: boolean;
}

/** Runs COMMAND with the sandbox's fd layout: 3 /dev/null (seccomp), 4 status, 5 bundle (INPUT
 *  is written there, then closed), 6 artifact, then EXTRAFDS from 7 on (the CPU counter).
 *  Killed (SIGKILL) after timeoutMs; resolves once it has exited and its pipes are closed. */
export function runHelper(command: readonly string[], input: Buffer = Buffer.alloc(0), timeoutMs = 8000, extraFds: number[] = []): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(command[0] as string, command.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe', 'ignore', 'pipe', 'pipe', 'pipe', ...extraFds],
      env: HELPER_ENV,
    });
    const stdio = child.stdio as unknown as Array<Readable & Writable>;
    const collect = (stream: Readable): Buffer[] => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', () => {});
      return chunks;
    };
    const out = collect(stdio[1] as Readable);
    const err = collect(stdio[2] as Readable);
    const status = collect(stdio[FD_STATUS] as Readable);
    const artifact = collect(stdio[FD_EMIT] as Readable);
    const bundle = stdio[FD_BUNDLE] as Writable;
    bundle.on('error', () => {}); // EPIPE when the helper refused before reading: expected
    bundle.end(input);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = Buffer.concat(status).toString('utf8').split('\n');
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        status: lines.slice(0, -1),
        artifact: Buffer.concat(artifact),
        timedOut,
      });
    });
  });
}
