// The cylo HTTP service for the benchmarks: started as a real child process
// (`bin/cylo serve --host 127.0.0.1 --port N`), called over loopback with a keep-alive agent.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { CYLO_BIN, REPO_ROOT } from './paths.js';

export interface ServerHandle {
  pid: number;
  port: number;
  post(path: string, body: unknown): Promise<{ status: number; json: unknown; ms: number }>;
  execute(body: unknown): Promise<{ ms: number; result: Record<string, unknown> }>;
  stop(): Promise<void>;
}

/** Why the HTTP service cannot be benchmarked here, or undefined when it can. */
export function serverUnavailableReason(): string | undefined {
  if (!existsSync(join(REPO_ROOT, 'src/server'))) return 'src/server does not exist yet (the HTTP service is not implemented)';
  if (!existsSync(join(REPO_ROOT, 'dist/src/server'))) return 'dist/src/server is missing: build first (npm run build)';
  const help = spawnSync(process.execPath, [CYLO_BIN, 'serve', '--help'], { encoding: 'utf8', timeout: 15_000 });
  if (help.status !== 0) return `\`cylo serve --help\` failed (${(help.stderr || help.stdout || String(help.status)).trim().split('\n')[0] ?? ''})`;
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export async function startServer(extraArgs: readonly string[] = [], extraEnv: Record<string, string> = {}): Promise<ServerHandle> {
  const port = await freePort();
  const token = randomBytes(16).toString('hex');
  const child: ChildProcess = spawn(process.execPath, [CYLO_BIN, 'serve', '--host', '127.0.0.1', '--port', String(port), ...extraArgs], {
    cwd: REPO_ROOT,
    env: { ...process.env, CYLO_TOKEN: token, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (c: Buffer) => {
    if (log.length < 20_000) log += c.toString('utf8');
  });
  child.stderr?.on('data', (c: Buffer) => {
    if (log.length < 20_000) log += c.toString('utf8');
  });
  let exited: string | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exited = `exited with ${code ?? signal}`;
      resolve();
    });
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });

  const post = (path: string, body: unknown): Promise<{ status: number; json: unknown; ms: number }> =>
    new Promise((resolve, reject) => {
      const payload = Buffer.from(JSON.stringify(body));
      const started = performance.now();
      const req = request(
        { host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': payload.length, authorization: `Bearer ${token}` } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const ms = performance.now() - started;
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown = text;
            try {
              json = JSON.parse(text);
            } catch {
              // not JSON
            }
            resolve({ status: res.statusCode ?? 0, json, ms });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });

  const handle: ServerHandle = {
    pid: child.pid ?? 0,
    port,
    post,
    async execute(body) {
      const r = await post('/v1/execute', body);
      if (r.status !== 200 || typeof r.json !== 'object' || r.json === null) {
        throw new Error(`POST /v1/execute answered ${r.status}: ${JSON.stringify(r.json).slice(0, 300)}`);
      }
      return { ms: r.ms, result: r.json as Record<string, unknown> };
    },
    async stop() {
      agent.destroy();
      if (exited === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exitPromise;
        clearTimeout(timer);
      }
    },
  };

  // Ready when an execution succeeds (the service may listen before its sandbox is checked).
  const deadline = performance.now() + 30_000;
  let lastError = '';
  while (performance.now() < deadline) {
    if (exited !== undefined) throw new Error(`cylo serve ${exited}: ${log.trim().slice(-600)}`);
    try {
      const r = await post('/v1/execute', { language: 'bash', code: 'echo ready' });
      if (r.status === 200) return handle;
      lastError = `HTTP ${r.status}: ${JSON.stringify(r.json).slice(0, 300)}`;
      if (r.status === 401 || r.status === 403 || r.status === 404) break;
    } catch (error) {
      lastError = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await handle.stop();
  throw new Error(`cylo serve did not become ready: ${lastError}; log: ${log.trim().slice(-600)}`);
}
