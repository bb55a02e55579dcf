// `bin/cylo worker` as a separate process (a child of the test), for the queue tests: its own
// pid, signals (SIGTERM drains, SIGKILL is a crash), its JSON log lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** Its id in the registry (from its "cylo worker ready" line). */
  id: string;
  logs: Array<Record<string, unknown>>;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const CYLO_BIN = fileURLToPath(new URL('../../../bin/cylo', import.meta.url));

/** Starts `bin/cylo worker --queue URL ARGS` (the test's own CYLO_* variables are not passed on;
 *  `env` is added, e.g. NODE_EXTRA_CA_CERTS) and resolves once it logged "cylo worker ready". */
export async function startWorker(queueUrl: string, args: string[], options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<WorkerProcess> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CYLO_')) env[k] = v;
  Object.assign(env, options.env);
  const child = spawn(process.execPath, [CYLO_BIN, 'worker', '--queue', queueUrl, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
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
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'cylo worker ready') resolve(String(entry.id));
        } catch {
          logs.push({ text: line });
        }
      }
    });
    void exited.then((e) => reject(new Error(`cylo worker exited early (${JSON.stringify(e)}): ${err}`)));
  });
  const timeoutMs = options.timeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const tooLong = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new Error(`cylo worker did not start within ${timeoutMs} ms: ${err}`)), timeoutMs);
  });
  try {
    const id = await Promise.race([ready, tooLong]);
    return { child, pid: child.pid as number, id, logs, stderr: () => err, exited };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Stops a worker: SIGTERM (drain), then SIGKILL after `killAfterMs`. */
export async function stopWorker(worker: WorkerProcess | undefined, killAfterMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
  if (worker === undefined) return undefined;
  if (worker.child.exitCode === null && worker.child.signalCode === null) {
    worker.child.kill('SIGTERM');
    const timer = setTimeout(() => worker.child.kill('SIGKILL'), killAfterMs);
    try {
      return await worker.exited;
    } finally {
      clearTimeout(timer);
    }
  }
  return worker.exited;
}
