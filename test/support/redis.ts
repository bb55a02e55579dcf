// A real redis-server for the queue tests: started by the test on a free loopback port with a
// temporary directory and no persistence (--save '' --appendonly no), stopped after. The system
// service is never used. Without the redis-server binary (scripts/setup.sh installs Debian's),
// redisSkipReason() says so and the tests skip visibly.
// With `tls`, it listens with TLS only (--port 0 --tls-port PORT) on a server certificate for
// localhost and 127.0.0.1 signed by a throwaway CA made here with the openssl CLI (tlsMaterial):
// the tests trust that CA through NODE_EXTRA_CA_CERTS, never by turning certificate checks off.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:PORT/0 (with a password: redis://:PASSWORD@...); with TLS
   *  rediss://localhost:PORT/0 (the name the certificate carries). */
  readonly url: string;
  /** With TLS: the PEM file of the CA that signed the server's certificate. */
  readonly caFile?: string;
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

/** The TLS files of a test server: ca.pem (the throwaway CA), server.pem and server.key. */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** Why the TLS tests cannot run here (no redis-server or no openssl CLI; Debian's redis-server
 *  is built with TLS: one built without it fails at start, naming tls-port). */
export function tlsSkipReason(): string | undefined {
  const base = redisSkipReason();
  if (base !== undefined) return base;
  if (spawnSync('openssl', ['version'], { encoding: 'utf8' }).status !== 0) return 'the openssl CLI is not installed (scripts/setup.sh installs it)';
  return undefined;
}

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

/** A throwaway CA and a server certificate (localhost, 127.0.0.1) it signed, in `dir`; EC keys,
 *  valid one day. With `name`, the files are prefixed (two CAs in one directory). */
export function tlsMaterial(dir: string, name = ''): TlsFiles {
  const f = (n: string): string => join(dir, `${name}${n}`);
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=cylo test CA']);
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost']);
  writeFileSync(f('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  openssl(dir, ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '1', '-extfile', f('ext.cnf')]);
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
}

async function launch(port: number, dir: string, password?: string, tls?: TlsFiles): Promise<ChildProcess> {
  const listen = tls === undefined ? ['--port', String(port)] : ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'no'];
  const args = [...listen, '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning', '--logfile', '', ...(password === undefined ? [] : ['--requirepass', password])];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  // Ready once a PING answers (redis-server prints nothing at loglevel warning).
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited at start: ${out}`);
    const tlsArgs = tls === undefined ? [] : ['--tls', '--cacert', tls.ca, '-h', 'localhost'];
    const ping = spawnSync('redis-cli', ['-p', String(port), ...tlsArgs, ...(password === undefined ? [] : ['-a', password, '--no-auth-warning']), 'ping'], { encoding: 'utf8' });
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

/** Starts a redis-server on a free loopback port (with `password`: requirepass; with `tls`:
 *  TLS only, on a certificate of a throwaway CA made in its directory). */
export async function startRedis(options: { password?: string; tls?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'cylo-redis-'));
  const tls = options.tls === true ? tlsMaterial(dir) : undefined;
  let child: ChildProcess | undefined = await launch(port, dir, options.password, tls);
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  return {
    port,
    url: tls === undefined ? `redis://${auth}127.0.0.1:${port}/0` : `rediss://${auth}localhost:${port}/0`,
    ...(tls === undefined ? {} : { caFile: tls.ca }),
    pid: () => child?.pid,
    async stop() {
      if (child !== undefined) await terminate(child);
      child = undefined;
    },
    async restart() {
      if (child !== undefined) await terminate(child);
      child = await launch(port, dir, options.password, tls);
    },
    async remove() {
      if (child !== undefined) await terminate(child);
      child = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
