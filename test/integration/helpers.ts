// Shared utilities for the integration tests that run real sandboxes: one memoized cylo per set
// of relaxed layers, a visible skip when this host cannot run sandboxes, tight default limits,
// and host-side views of processes and cgroups (to prove nothing outlives an execution).
import { readdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createCylo, type Cylo, type ExecuteOptions } from '../../src/cylo.js';
import type { ExecuteRequest } from '../../src/api/request.js';
import type { ExecutionResult, Stage } from '../../src/api/result.js';
import { checkHost, type RelaxableLayer } from '../../src/sandbox/host-check.js';
import { openCgroups } from '../../src/sandbox/cgroups.js';

export const MiB = 1024 * 1024;

/** Limits every integration execution gets unless a test asks otherwise: small, so that even a
 *  hostile program costs little, and the whole suite stays fast on 2 cores. */
export const TIGHT_LIMITS = Object.freeze({
  timeoutMs: 2000,
  cpuTimeMs: 2000,
  memoryBytes: 128 * MiB,
  pids: 32,
  outputBytes: 64 * 1024,
  workspaceBytes: 8 * MiB,
});

/** The sandbox uid range of the tests: above 2_000_000_000 like cylo's default, but offset by
 *  this process's pid so that concurrent test runs on the same host never share a uid (they
 *  would share RLIMIT_NPROC accounting and could see each other's processes by uid). */
export const TEST_UID_BASE = 2_000_000_000 + 65_536 + (process.pid % 8192) * 256;
/** The shared instances use the first half of the range; a test that starts a separate cylo
 *  service process gives it the second half. */
export const TEST_UID_COUNT = 128;

let hostReason: string | null | undefined;

/** Why this host cannot run real sandboxes, or undefined when it can. Checked once. */
export function hostSkipReason(): string | undefined {
  if (hostReason === undefined) {
    if (process.platform !== 'linux') hostReason = `needs Linux (this is ${process.platform})`;
    else if (typeof process.getuid !== 'function' || process.getuid() !== 0) hostReason = 'needs root (cylo switches each sandbox to its own uid and manages cgroups)';
    else {
      const report = checkHost();
      const failed = report.checks.find((c) => !c.ok);
      hostReason = failed === undefined ? null : `host cannot run sandboxes: ${failed.layer}: ${failed.detail}${failed.fix === undefined ? '' : ` (fix: ${failed.fix})`}`;
    }
  }
  return hostReason ?? undefined;
}

/** Skips the test visibly, with the reason, when the host cannot run sandboxes. */
export function hostSkip(t: TestContext): boolean {
  const reason = hostSkipReason();
  if (reason === undefined) return false;
  t.skip(reason);
  return true;
}

const instances = new Map<string, Cylo>();

/** One cylo per set of relaxed layers, created on first use and shared by every test file. */
export function getCylo(relax: RelaxableLayer[] = []): Cylo {
  const key = [...relax].sort().join(',');
  let cylo = instances.get(key);
  if (cylo === undefined) {
    // concurrency 4: tests that hold two sandboxes open at once must not queue behind each other on a small host.
    cylo = createCylo({ relax, defaultLimits: { ...TIGHT_LIMITS }, uidBase: TEST_UID_BASE, uidCount: TEST_UID_COUNT, concurrency: 4 });
    instances.set(key, cylo);
  }
  return cylo;
}

/** Runs a request and returns the result with its run stage (asserted present). */
export async function run(request: ExecuteRequest, options: ExecuteOptions & { relax?: RelaxableLayer[] } = {}): Promise<ExecutionResult & { run: Stage }> {
  const { relax, ...execOptions } = options;
  const result = await getCylo(relax).execute(request, execOptions);
  if (result.run === null) throw new Error(`no run stage: ${JSON.stringify(result)}`);
  return result as ExecutionResult & { run: Stage };
}

/** A short unique token to find a test's processes from the host. */
export function uniqueMarker(prefix = 'cylomark'): string {
  return `${prefix}${randomBytes(6).toString('hex')}`;
}

export interface HostProcess {
  pid: number;
  ppid: number;
  /** Real, effective, saved and filesystem uid as the host sees them. */
  uids: number[];
  cmdline: string[];
  noNewPrivs: number | undefined;
}

/** Reads a process as the host sees it; undefined when it has gone away. */
export function readProcess(pid: number): HostProcess | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '';
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (cmdline.at(-1) === '') cmdline.pop();
    const nnp = field('NoNewPrivs');
    return { pid, ppid: Number(field('PPid')), uids: field('Uid').split(/\s+/).map(Number), cmdline, noNewPrivs: nnp === '' ? undefined : Number(nnp) };
  } catch {
    return undefined;
  }
}

/** Host processes (other than this one) whose command line contains `marker`. */
export function processesWith(marker: string): HostProcess[] {
  const out: HostProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!cmdline.includes(marker)) continue;
    const p = readProcess(Number(name));
    // A zombie has an empty cmdline, so anything found here is alive.
    if (p !== undefined) out.push(p);
  }
  return out;
}

/** Polls `check` until it returns a value other than undefined, or throws after timeoutMs. */
export async function waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** True for the two processes of a sandbox started ahead of time that waits for its job: the
 *  bubblewrap monitor and the helper (PID 1 inside). An idle pool slot keeps one of them. */
export function isPreparedSandboxProcess(pid: number): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv[0]?.endsWith('/bwrap') === true || (argv[0] === '/.cylo/helper' && argv[1] === 'inner');
  } catch {
    return false; // gone
  }
}

/** Cgroups of this test process that still hold a process other than a prepared sandbox. The
 *  pool keeps its slots' cgroups for reuse (at most one per concurrent execution), each with
 *  the sandbox it started ahead, so "clean" means no program left, not gone. */
export function leftoverCgroups(): string[] {
  const prefix = `x-${process.pid}-`;
  const driver = openCgroups();
  return driver
    .list()
    .filter((n) => n.startsWith(prefix) && driver.open(n).pids().some((pid) => !isPreparedSandboxProcess(pid)));
}

/** Starts an execution and resolves once its program has written `ready` to stdout, so a test can
 *  look at the running sandbox from the host. */
export function startAndWaitReady(
  request: ExecuteRequest,
  options: ExecuteOptions & { relax?: RelaxableLayer[]; ready?: string } = {},
): { result: Promise<ExecutionResult>; ready: Promise<void> } {
  const { relax, ready: token = 'ready', ...execOptions } = options;
  let seen = '';
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const result = getCylo(relax).execute(request, {
    ...execOptions,
    onEvent: (e) => {
      execOptions.onEvent?.(e);
      if (e.type === 'stdout') {
        seen += e.data.toString('utf8');
        if (seen.includes(token)) markReady();
      }
    },
  });
  // If the execution ends before it is ready, let the waiter see why instead of hanging.
  const readyOrEnd = Promise.race([ready, result.then(() => Promise.reject(new Error(`execution ended before printing ${JSON.stringify(token)}`)))]);
  readyOrEnd.catch(() => {});
  result.catch(() => {});
  return { result, ready: readyOrEnd };
}
