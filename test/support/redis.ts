// A real redis-server for the queue tests: started by the test on a free loopback port with a
// temporary directory and no persistence (--save '' --appendonly no), stopped after. The system
// service is never used. Without the redis-server binary (scripts/setup.sh installs Debian's),
// redisSkipReason() says so and the tests skip visibly.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:PORT/0 */
  readonly url: string;
  pid(): number | undefined;
  /** Stops it (SIGTERM, then SIGKILL after 5 s); what it held is gone (no persistence). */
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop()). */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  remove(): Promise<void>;
}

let memo: string | null | undefined;

/** Why redis-server cannot be started here, or undefined. */
export function redisSkipReason(): string | undefined {
  if (memo === undefined) {
    const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
    memo = probe.status === 0 ? null : 'redis-server is not installed (scripts/setup.sh installs Debian\'s redis-server)';
  }
  return memo ?? undefined;
}

/** A free loopback port (the kernel's pick, released just before redis binds it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

async function launch(port: number, dir: string, password?: string): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning', '--logfile', '', ...(password === undefined ? [] : ['--requirepass', password])];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  // Ready once a PING answers (redis-server prints nothing at loglevel warning).
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited at start: ${out}`);
    const ping = spawnSync('redis-cli', ['-p', String(port), ...(password === undefined ? [] : ['-a', password, '--no-auth-warning']), 'ping'], { encoding: 'utf8' });
    if (ping.stdout.trim() === 'PONG') return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not answer on port ${port} within 10 s: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Starts a redis-server on a free loopback port (with `password`: requirepass). */
export async function startRedis(options: { password?: string } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'cylo-redis-'));
  let child: ChildProcess | undefined = await launch(port, dir, options.password);
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  return {
    port,
    url: `redis://${auth}127.0.0.1:${port}/0`,
    pid: () => child?.pid,
    async stop() {
      if (child !== undefined) await terminate(child);
      child = undefined;
    },
    async restart() {
      if (child !== undefined) await terminate(child);
      child = await launch(port, dir, options.password);
    },
    async remove() {
      if (child !== undefined) await terminate(child);
      child = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
