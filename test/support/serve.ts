// `bin/cylo serve` as a separate process (a child of the test), for tests that need a real
// service process: its own pid, signals, logs, a crash.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Served {
  child: ChildProcess;
  pid: number;
  base: string;
  /** Its log lines so far (parsed JSON; a line that is not JSON as { text }). */
  logs: Array<Record<string, unknown>>;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const CYLO_BIN = fileURLToPath(new URL('../../../bin/cylo', import.meta.url));

/**
 * Starts `bin/cylo serve --port 0 ARGS` with the given environment (the test's own CYLO_*
 * variables are not passed on) and resolves with its address once it logged "cylo serve ready".
 * `strictJson`: a log line that is not JSON fails the start (stdout is not a TTY, so logs must be
 * JSON). Without CYLO_DATA_DIR in `env`, the service gets a fresh temporary data directory (its
 * submission database), never the host's /var/lib/cylo.
 */
export async function spawnServe(args: string[], env: Record<string, string>, options: { timeoutMs?: number; strictJson?: boolean } = {}): Promise<Served> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const cleanEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CYLO_')) cleanEnv[k] = v;
  const dataDir = env.CYLO_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'cylo-serve-data-'));
  const child = spawn(process.execPath, [CYLO_BIN, 'serve', '--port', '0', ...args], { env: { ...cleanEnv, CYLO_DATA_DIR: dataDir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const logs: Array<Record<string, unknown>> = [];
  let err = '';
  let buffered = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const ready = new Promise<string>((resolve, reject) => {
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
        if (entry.msg === 'cylo serve ready') resolve(`http://127.0.0.1:${String(entry.port)}`);
      }
    });
    void exited.then((e) => reject(new Error(`cylo serve exited early (${JSON.stringify(e)}): ${err}`)));
  });
  let timer: NodeJS.Timeout | undefined;
  const tooLong = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`cylo serve did not start within ${timeoutMs} ms: ${err}`)), timeoutMs);
  });
  try {
    const base = await Promise.race([ready, tooLong]);
    return { child, pid: child.pid as number, base, logs, stderr: () => err, exited };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** `cylo serve` on a free loopback port with JSON logs, the given environment and extra
 *  arguments; resolves once it is ready. */
export function startServe(env: Record<string, string>, options: { args?: string[]; timeoutMs?: number } = {}): Promise<Served> {
  return spawnServe(['--host', '127.0.0.1', '--log-format', 'json', ...(options.args ?? [])], env, { timeoutMs: options.timeoutMs ?? 60_000 });
}

/** Stops a service: SIGTERM, then SIGKILL if it has not exited after `killAfterMs`. Resolves
 *  with how it exited; at once when it already has. */
export async function stopServe(served: Served, killAfterMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (served.child.exitCode === null && served.child.signalCode === null) {
    served.child.kill('SIGTERM');
    const timer = setTimeout(() => served.child.kill('SIGKILL'), killAfterMs);
    try {
      return await served.exited;
    } finally {
      clearTimeout(timer);
    }
  }
  return served.exited;
}
