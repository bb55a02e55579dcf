// Timed child processes for the "bare" and "minimal bubblewrap" baselines: spawned from Node
// exactly the way cylo spawns its helper (argv array, pipes for stdio, no shell), waited for
// until the pipes close, timed end to end with performance.now().
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

export interface SpawnOutcome {
  ms: number;
  code: number | null;
  signal: string | null;
  stdout: Buffer;
  stdoutBytes: number;
  stderr: string;
}

export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string>;
  stdin?: Buffer;
  /** Keep at most this many stdout bytes in the outcome (the rest is only counted). */
  keepBytes?: number;
  timeoutMs?: number;
}

export function timedSpawn(argv: readonly string[], options: SpawnOptions = {}): Promise<SpawnOutcome> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd: options.cwd,
      env: options.env ?? {},
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const keep = options.keepBytes ?? 4096;
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let stdoutBytes = 0;
    let stderr = '';
    (child.stdout as Readable).on('data', (c: Buffer) => {
      stdoutBytes += c.length;
      if (keptBytes < keep) {
        const part = c.subarray(0, keep - keptBytes);
        kept.push(part);
        keptBytes += part.length;
      }
    });
    (child.stderr as Readable).on('data', (c: Buffer) => {
      if (stderr.length < 4096) stderr += c.toString('utf8');
    });
    const stdin = child.stdin as Writable;
    stdin.on('error', () => {});
    if (options.stdin !== undefined && options.stdin.length > 0) stdin.end(options.stdin);
    else stdin.end();
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', (error) => {
      if (timer !== undefined) clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve({ ms: performance.now() - started, code, signal, stdout: Buffer.concat(kept), stdoutBytes, stderr });
    });
  });
}

/** Throws with the program's stderr when a baseline run did not succeed: a failing baseline
 *  would make every ratio meaningless. */
export function expectOk(outcome: SpawnOutcome, what: string): SpawnOutcome {
  if (outcome.code !== 0) {
    throw new Error(`${what}: exited with ${outcome.code ?? outcome.signal}: ${outcome.stderr.trim().slice(0, 500)}`);
  }
  return outcome;
}
