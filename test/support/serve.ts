// `bin/cylo serve` as a separate process (a child of the test), for tests that need a real
// service process: its own pid, signals, logs, a crash.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnCyloChild, stopCyloChild } from './cylo-child.js';

export interface Served {
  child: ChildProcess;
  pid: number;
  base: string;
  /** Its log lines so far (parsed JSON; a line that is not JSON as { text }). */
  logs: Array<Record<string, unknown>>;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Removes the temporary data directory spawnServe made (none when the caller gave one). */
  removeDataDir: () => void;
}

/**
 * Starts `bin/cylo serve --port 0 ARGS` with the given environment (the test's own CYLO_*
 * variables are not passed on) and resolves with its address once it logged "cylo serve ready".
 * `strictJson`: a log line that is not JSON fails the start (stdout is not a TTY, so logs must be
 * JSON). Without CYLO_DATA_DIR in `env`, the service gets a fresh temporary data directory (its
 * submission database, removed by stopServe), never the host's /var/lib/cylo.
 */
export async function spawnServe(args: string[], env: Record<string, string>, options: { timeoutMs?: number; strictJson?: boolean } = {}): Promise<Served> {
  const ownDir = env.CYLO_DATA_DIR === undefined ? mkdtempSync(join(tmpdir(), 'cylo-serve-data-')) : undefined;
  const removeDataDir = (): void => {
    if (ownDir !== undefined) rmSync(ownDir, { recursive: true, force: true });
  };
  // A test that kills its service (SIGKILL) rather than stopping it: removed when the test
  // process exits (a killed service has no use for it any more).
  if (ownDir !== undefined) process.once('exit', removeDataDir);
  try {
    const started = await spawnCyloChild(['serve', '--port', '0', ...args], {
      what: 'cylo serve',
      env: { CYLO_DATA_DIR: ownDir, ...env },
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.strictJson === undefined ? {} : { strictJson: options.strictJson }),
      ready: (entry) => (entry.msg === 'cylo serve ready' ? `http://127.0.0.1:${String(entry.port)}` : undefined),
    });
    const { ready: base, ...rest } = started;
    return { ...rest, base, removeDataDir };
  } catch (error) {
    removeDataDir();
    throw error;
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
  const exit = await stopCyloChild(served.child, served.exited, killAfterMs);
  served.removeDataDir();
  return exit;
}
