// `bin/cylo worker` as a separate process (a child of the test), for the queue tests: its own
// pid, signals (SIGTERM drains, SIGKILL is a crash), its JSON log lines.
import type { ChildProcess } from 'node:child_process';
import { spawnCyloChild, stopCyloChild } from './cylo-child.js';

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** Its id in the registry (from its "cylo worker ready" line). */
  id: string;
  logs: Array<Record<string, unknown>>;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `bin/cylo worker --queue URL ARGS` (the test's own CYLO_* variables are not passed on;
 *  `env` is added, e.g. NODE_EXTRA_CA_CERTS) and resolves once it logged "cylo worker ready". */
export async function startWorker(queueUrl: string, args: string[], options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<WorkerProcess> {
  const started = await spawnCyloChild(['worker', '--queue', queueUrl, ...args], {
    what: 'cylo worker',
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ready: (entry) => (entry.msg === 'cylo worker ready' ? String(entry.id) : undefined),
  });
  const { ready: id, ...rest } = started;
  return { ...rest, id };
}

/** Stops a worker: SIGTERM (drain), then SIGKILL after `killAfterMs`. */
export async function stopWorker(worker: WorkerProcess | undefined, killAfterMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
  return worker === undefined ? undefined : stopCyloChild(worker.child, worker.exited, killAfterMs);
}
