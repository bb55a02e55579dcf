// `bin/cylo COMMAND` as a separate process (a child of the test) that logs JSON lines on stdout
// and says when it is ready: the shared start and stop of `cylo serve` (serve.ts) and
// `cylo worker` (worker.ts). The test's own CYLO_* variables are never passed on.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export type ChildExit = { code: number | null; signal: NodeJS.Signals | null };

export interface CyloChild<T> {
  child: ChildProcess;
  pid: number;
  /** What the ready line gave (`ready` below). */
  ready: T;
  /** Its log lines so far (parsed JSON; a line that is not JSON as { text }). */
  logs: Array<Record<string, unknown>>;
  stderr: () => string;
  exited: Promise<ChildExit>;
}

export interface CyloChildOptions<T> {
  /** The command's name, for messages ("cylo serve"). */
  what: string;
  /** Variables added to the environment (after the CYLO_* ones were left out). */
  env?: Record<string, string | undefined>;
  /** Returns a value once `entry` is the ready line, undefined otherwise. */
  ready: (entry: Record<string, unknown>) => T | undefined;
  timeoutMs?: number;
  /** A log line that is not JSON fails the start (stdout is not a TTY: logs must be JSON). */
  strictJson?: boolean;
}

const CYLO_BIN = fileURLToPath(new URL('../../../bin/cylo', import.meta.url));

/** Starts `bin/cylo ARGS` and resolves once it logged its ready line; rejects (and SIGKILLs it)
 *  when it exits first, does not get ready within `timeoutMs` (default 60 s), or, with
 *  `strictJson`, logs a line that is not JSON. */
export async function spawnCyloChild<T>(args: string[], options: CyloChildOptions<T>): Promise<CyloChild<T>> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CYLO_')) env[k] = v;
  Object.assign(env, options.env);
  const child = spawn(process.execPath, [CYLO_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const logs: Array<Record<string, unknown>> = [];
  let err = '';
  let buffered = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const ready = new Promise<T>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          if (options.strictJson === true) {
            reject(new Error(`a log line that is not JSON (stdout is not a TTY): ${line}`));
            return;
          }
          logs.push({ text: line });
          continue;
        }
        logs.push(entry);
        const value = options.ready(entry);
        if (value !== undefined) resolve(value);
      }
    });
    void exited.then((e) => reject(new Error(`${options.what} exited early (${JSON.stringify(e)}): ${err}`)));
  });
  const timeoutMs = options.timeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const tooLong = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${options.what} did not start within ${timeoutMs} ms: ${err}`)), timeoutMs);
  });
  try {
    const value = await Promise.race([ready, tooLong]);
    return { child, pid: child.pid as number, ready: value, logs, stderr: () => err, exited };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Stops a child: SIGTERM, then SIGKILL if it has not exited after `killAfterMs`. Resolves with
 *  how it exited; at once when it already has. */
export async function stopCyloChild(child: ChildProcess, exited: Promise<ChildExit>, killAfterMs = 15_000): Promise<ChildExit> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  }
  return exited;
}
