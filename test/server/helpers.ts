// Shared utilities of the HTTP server tests: a visible skip when this host cannot run real
// sandboxes, a cylo with a uid range of its own, a server on a loopback socket, and host-side
// views of processes and cgroups (to prove that nothing outlives an execution).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { createCylo, type Cylo, type CyloOptions } from '../../src/cylo.js';
import { checkHost } from '../../src/sandbox/host-check.js';

export const MiB = 1024 * 1024;

/** A uid range for this test process, away from cylo's default and from other test runs. */
export const SERVER_TEST_UID_BASE = 2_100_000_000 + (process.pid % 8192) * 512;

let reason: string | null | undefined;

/** Why real sandboxes cannot run here, or undefined when they can. */
export function sandboxSkipReason(): string | undefined {
  if (reason === undefined) {
    if (process.platform !== 'linux') reason = `needs Linux (this is ${process.platform})`;
    else if (typeof process.getuid !== 'function' || process.getuid() !== 0) reason = 'needs root (cylo gives each sandbox its own uid and cgroup)';
    else {
      const report = checkHost();
      const failed = report.checks.find((c) => !c.ok);
      reason = failed === undefined ? null : `host cannot run sandboxes: ${failed.layer}: ${failed.detail}`;
    }
  }
  return reason ?? undefined;
}

/** Skips the test visibly, with the reason, when the host cannot run sandboxes. */
export function skipWithoutSandbox(t: TestContext): boolean {
  const why = sandboxSkipReason();
  if (why === undefined) return false;
  t.skip(why);
  return true;
}

/** A cylo for tests: small default limits, its own uids. */
export function testCylo(options: CyloOptions = {}, uidOffset = 0): Cylo {
  return createCylo({
    defaultLimits: { timeoutMs: 5000, cpuTimeMs: 5000, memoryBytes: 128 * MiB, pids: 32, outputBytes: 256 * 1024, workspaceBytes: 16 * MiB },
    uidBase: SERVER_TEST_UID_BASE + uidOffset,
    uidCount: 128,
    ...options,
  });
}

/** Listens on 127.0.0.1 with a free port; returns the base URL. */
export async function listenLoopback(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

export function uniqueMarker(): string {
  // Digits only: it goes into `sleep 30.<marker>`, which the host sees in the process list.
  return String(BigInt(`0x${randomBytes(6).toString('hex')}`)).padStart(15, '1').slice(0, 15);
}

/** Pids of host processes (not this one) whose command line contains `marker`. */
export function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(marker)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

/** Cgroup directories whose name starts with `prefix` (cylo names them x-<service pid>-<n>). */
export function cgroupsNamed(prefix: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 6) return;
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e);
      if (e.startsWith(prefix)) found.push(p);
      else walk(p, depth + 1);
    }
  };
  for (const root of ['/sys/fs/cgroup']) if (existsSync(root)) walk(root, 0);
  return found;
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

// ------------------------------------------------------------------------------------------
// `bin/cylo serve` as a separate process
// ------------------------------------------------------------------------------------------

export interface Served {
  child: ChildProcess;
  pid: number;
  base: string;
  /** Its JSON log lines so far. */
  logs: Array<Record<string, unknown>>;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const CYLO_BIN = fileURLToPath(new URL('../../../bin/cylo', import.meta.url));

/**
 * Starts `bin/cylo serve --port 0 ARGS` with the given environment (the test's own CYLO_*
 * variables are not passed on) and resolves with its address once it logged "cylo serve ready".
 * `strictJson`: a log line that is not JSON fails the start (stdout is not a TTY, so logs must be
 * JSON).
 */
export async function spawnServe(args: string[], env: Record<string, string>, options: { timeoutMs?: number; strictJson?: boolean } = {}): Promise<Served> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const cleanEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CYLO_')) cleanEnv[k] = v;
  const child = spawn(process.execPath, [CYLO_BIN, 'serve', '--port', '0', ...args], { env: { ...cleanEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
