// Shared parts of the security battery: the attack programs (one multi-purpose program per
// language, the attack named by its first argument, so C and Go compile once and the compile
// cache keeps them), an in-process HTTP service the hostile requests are sent to, and the
// host-side checks every hostile test ends with: nothing of the execution is left (processes,
// cgroups), the service still answers /healthz.
//
// SAFETY: the attack programs run only inside cylo's sandbox, and only after the pre-flight of
// test/integration/preflight.ts has passed (every hostile test calls hostileSkip(t) first).
import { spawnServe, type Served } from '../server/helpers.js';
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { ExecuteRequest } from '../../src/api/request.js';
import type { Limits } from '../../src/api/limits.js';
import type { ExecutionResult, Stage } from '../../src/api/result.js';
import type { Cylo } from '../../src/cylo.js';
import { buildServer } from '../../src/server/app.js';
import { openCgroups } from '../../src/sandbox/cgroups.js';
import { HELPER_IN_SANDBOX } from '../../src/sandbox/bwrap-argv.js';
import { preflight } from '../integration/preflight.js';
import { getCylo, MiB, processesWith, readProcess, TEST_UID_BASE, TEST_UID_COUNT, uniqueMarker } from '../integration/helpers.js';

export { MiB };

/** Sandbox uid ranges (32 each) for the battery's own cylo instances and services, in the
 *  second half of this test process's range (the shared test cylo uses the first half). */
export const SECURITY_UIDS = {
  fresh: TEST_UID_BASE + TEST_UID_COUNT,
  leaks: TEST_UID_BASE + TEST_UID_COUNT + 32,
  service: TEST_UID_BASE + TEST_UID_COUNT + 64,
  load: TEST_UID_BASE + TEST_UID_COUNT + 96,
} as const;
export const SECURITY_UID_COUNT = 32;

/** Every hostile test: a short timeout. */
export const T = { timeout: 20_000 };

/** Tight limits for hostile programs (the shared cylo's defaults are already tight). */
export const HOSTILE_LIMITS: Partial<Limits> = { timeoutMs: 2000, cpuTimeMs: 2000, memoryBytes: 128 * MiB, pids: 32, outputBytes: 64 * 1024, workspaceBytes: 8 * MiB };

export const LANGS = ['python', 'javascript', 'bash', 'c', 'go'] as const;
export type Lang = (typeof LANGS)[number];

const SOURCES: Record<Lang, { entry: string; file: string }> = {
  python: { entry: 'main.py', file: 'attack.py' },
  javascript: { entry: 'main.mjs', file: 'attack.mjs' },
  bash: { entry: 'main.sh', file: 'attack.sh' },
  c: { entry: 'main.c', file: 'attack.c' },
  go: { entry: 'main.go', file: 'attack.go' },
};

/** The source tree's programs directory (the compiled test runs from dist/test/security). */
const PROGRAM_DIR = new URL('../../../test/security/programs/', import.meta.url);
const sourceCache = new Map<Lang, string>();

export function attackSource(lang: Lang): string {
  let text = sourceCache.get(lang);
  if (text === undefined) {
    text = readFileSync(new URL(SOURCES[lang].file, PROGRAM_DIR), 'utf8');
    sourceCache.set(lang, text);
  }
  return text;
}

/** The request that runs `attack` of `lang`'s program, with the marker as its last argument (the
 *  programs ignore a trailing "cylomark..." argument; it lets the host find their processes). */
export function attackRequest(lang: Lang, attack: string, args: string[], marker: string, limits: Partial<Limits> = {}): ExecuteRequest {
  return {
    language: lang,
    files: [{ name: SOURCES[lang].entry, content: attackSource(lang) }],
    args: [attack, ...args, marker],
    limits: { ...HOSTILE_LIMITS, ...limits },
  };
}

/** "name=value" lines of a probe's stdout. */
export function parseProbe(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// the service under attack
// ------------------------------------------------------------------------------------------

export interface Service {
  readonly base: string;
  readonly app: FastifyInstance;
  readonly cylo: Cylo;
  /** POST /v1/execute; resolves with the result (throws on anything but 200). */
  exec(request: ExecuteRequest): Promise<ExecutionResult>;
  /** GET /healthz; resolves with its latency in ms (asserts 200 {status: ok}). */
  healthz(): Promise<number>;
  close(): Promise<void>;
}

/** The HTTP service (in this process, so `process.pid` is the service's pid) over the shared
 *  test cylo, listening on 127.0.0.1. */
export async function startService(cylo: Cylo = getCylo()): Promise<Service> {
  const app = await buildServer({ cylo, logger: false, processMetrics: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    app,
    cylo,
    async exec(request) {
      const res = await fetch(`${base}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request), signal: AbortSignal.timeout(60_000) });
      const body = (await res.json()) as ExecutionResult & { error?: { code: string; message: string } };
      if (res.status !== 200) throw new Error(`POST /v1/execute answered ${res.status}: ${JSON.stringify(body)}`);
      return body;
    },
    async healthz() {
      const t0 = performance.now();
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5000) });
      const body = (await res.json()) as { status: string };
      const ms = performance.now() - t0;
      assert.equal(res.status, 200, 'the service answers /healthz');
      assert.deepEqual(body, { status: 'ok' });
      return ms;
    },
    async close() {
      await app.close();
    },
  };
}

export interface Attack {
  lang: Lang;
  result: ExecutionResult;
  run: Stage;
  out: Record<string, string>;
  marker: string;
}

/** Runs one attack through the service and returns what the program printed. */
export async function attack(service: Service, lang: Lang, name: string, args: string[] = [], limits: Partial<Limits> = {}): Promise<Attack> {
  const marker = uniqueMarker();
  const result = await service.exec(attackRequest(lang, name, args, marker, limits));
  assert.notEqual(result.run, null, `${lang} ${name}: no run stage (compile: ${JSON.stringify(result.compile)})`);
  const run = result.run as Stage;
  return { lang, result, run, out: parseProbe(run.stdout), marker };
}

/** The same attack in several languages, concurrently (the pool bounds how many run at once). */
export async function attackAll(service: Service, langs: readonly Lang[], name: string, args: string[] = [], limits: Partial<Limits> = {}): Promise<Record<Lang, Attack>> {
  const done = await Promise.all(langs.map((l) => attack(service, l, name, args, limits)));
  return Object.fromEntries(done.map((a) => [a.lang, a])) as Record<Lang, Attack>;
}

/** Closes the shared test cylo instances (integration/helpers.ts getCylo) a test file used: an
 *  idle slot may hold a sandbox started ahead of time, whose pipes would keep the test process
 *  alive after its last test. */
/**
 * The service a hostile test file attacks: started (with the compiled attack programs warmed)
 * before the file's tests and stopped after them. Returns a handle that forwards to it.
 */
export function useService(): Service {
  let current: Service | undefined;
  const get = (): Service => {
    if (current === undefined) throw new Error('the service under attack did not start (see the before hook)');
    return current;
  };
  before(async () => {
    current = await startService();
    if ((await preflight()).ok) await warmCompiled(current);
  }, { timeout: 180_000 });
  after(async () => {
    await current?.close();
    await closeSharedCylos();
  });
  return {
    get base() {
      return get().base;
    },
    get app() {
      return get().app;
    },
    get cylo() {
      return get().cylo;
    },
    exec: (request) => get().exec(request),
    healthz: () => get().healthz(),
    close: () => get().close(),
  };
}

export async function closeSharedCylos(): Promise<void> {
  for (const relax of [[], ['seccomp'], ['landlock']] as Array<Array<'seccomp' | 'landlock'>>) await getCylo(relax).close();
}

/** Compiles the C and Go programs once (a cache hit afterwards), outside the 20 s test budget. */
export async function warmCompiled(service: Service): Promise<void> {
  for (const lang of ['c', 'go'] as const) {
    const r = await service.exec({ ...attackRequest(lang, 'hello', [], uniqueMarker()), limits: { compileTimeoutMs: 120_000 } });
    assert.equal(r.status, 'ok', `${lang}: the attack program compiles: ${JSON.stringify(r.compile ?? r.run).slice(0, 2000)}`);
  }
}

// ------------------------------------------------------------------------------------------
// the host side
// ------------------------------------------------------------------------------------------

function uidOf(pid: number): number | undefined {
  return readProcess(pid)?.uids[0];
}

/** True for a zombie: dead, holding nothing but its pid until its parent reaps it. */
export function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Zombies of a sandbox uid range (e.g. a killed service's sandboxes, re-parented to the host's
 *  init until it reaps them). */
export function sandboxZombies(uidBase: number, uidCount: number): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((pid) => {
      const uid = uidOf(pid);
      return uid !== undefined && uid >= uidBase && uid < uidBase + uidCount && isZombie(pid);
    });
}

function pidsCgroupOf(pid: number): string | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /^\d+:(.*,)?pids(,.*)?:/.test(l) || l.startsWith('0::'));
    return line?.split(':').slice(2).join(':');
  } catch {
    return undefined;
  }
}

/**
 * Living processes running as a sandbox uid of [uidBase, uidBase + uidCount) that are not an idle
 * sandbox started ahead of time for a pool slot (bubblewrap, a child of `servicePid`, and its
 * one child, the inner helper waiting for its job or still starting, alone in their cgroup). A process left over
 * by an execution is never such a pair: its bubblewrap is gone, so it was re-parented.
 */
export function strayProcesses(uidBase = TEST_UID_BASE, uidCount = TEST_UID_COUNT, servicePid = process.pid): string[] {
  const inRange: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const uid = uidOf(Number(name));
    if (uid !== undefined && uid >= uidBase && uid < uidBase + uidCount && !isZombie(Number(name))) inRange.push(Number(name));
  }
  const byCgroup = new Map<string, number[]>();
  for (const pid of inRange) {
    const cg = pidsCgroupOf(pid) ?? `?${pid}`;
    byCgroup.set(cg, [...(byCgroup.get(cg) ?? []), pid]);
  }
  const stray: string[] = [];
  for (const pids of byCgroup.values()) {
    const procs = pids.map((pid) => readProcess(pid)).filter((p) => p !== undefined);
    const bwrap = procs.find((p) => p.ppid === servicePid && /bwrap$/.test(p.cmdline[0] ?? ''));
    // Its child is the inner helper waiting for its job, or still bubblewrap while it starts.
    const others = procs.filter((p) => p !== bwrap);
    const starting = others.every((p) => bwrap !== undefined && p.ppid === bwrap.pid && ((p.cmdline[0] === HELPER_IN_SANDBOX && p.cmdline[1] === 'inner') || /bwrap$/.test(p.cmdline[0] ?? '')));
    const idlePrepared = bwrap !== undefined && others.length <= 1 && starting;
    if (!idlePrepared) for (const p of procs) stray.push(`${p.pid} (uid ${p.uids[0]}, ppid ${p.ppid}): ${p.cmdline.join(' ').slice(0, 120)}`);
  }
  return stray;
}

/** This process's execution cgroups that hold a process other than an idle prepared sandbox. */
export function busyCgroups(ownerPid = process.pid): string[] {
  const driver = openCgroups();
  const prefix = `x-${ownerPid}-`;
  return driver
    .list()
    .filter((n) => n.startsWith(prefix))
    .filter((n) => {
      const pids = driver.open(n).pids();
      if (pids.length === 0) return false;
      const procs = pids.map((pid) => readProcess(pid));
      const bwrap = procs.find((p) => p !== undefined && p.ppid === ownerPid && /bwrap$/.test(p.cmdline[0] ?? ''));
      // A prepared sandbox: bubblewrap and its child (the waiting helper, or bubblewrap still starting).
      const others = procs.filter((p) => p !== bwrap);
      const idle = bwrap !== undefined && others.length <= 1 && others.every((p) => p !== undefined && p.ppid === bwrap.pid && (p.cmdline[0] === HELPER_IN_SANDBOX || /bwrap$/.test(p.cmdline[0] ?? '')));
      return !idle;
    });
}

/** After a hostile run: no process of it is left (by marker, by sandbox uid), no cgroup of this
 *  process holds one, and the service answers /healthz. Polls briefly: the pool resets a slot
 *  right after the result is sent. */
export async function assertHostClean(service: Service, markers: string[]): Promise<number> {
  const deadline = performance.now() + 3000;
  let state: { markers: string[]; stray: string[]; cgroups: string[] };
  for (;;) {
    state = {
      markers: markers.flatMap((m) => processesWith(m).map((p) => `${p.pid} ${p.cmdline.join(' ').slice(0, 120)}`)),
      stray: strayProcesses(),
      cgroups: busyCgroups(),
    };
    if ((state.markers.length === 0 && state.stray.length === 0 && state.cgroups.length === 0) || performance.now() > deadline) break;
    await sleep(20);
  }
  assert.deepEqual(state.markers, [], 'no process of the executions is left (by marker)');
  assert.deepEqual(state.stray, [], 'no process runs as a sandbox uid');
  assert.deepEqual(state.cgroups, [], "the executions' cgroups hold no process");
  const ms = await service.healthz();
  assert.ok(ms < 1000, `the service answered /healthz in ${ms.toFixed(1)} ms`);
  return ms;
}

// ------------------------------------------------------------------------------------------
// `cylo serve` as a separate process
// ------------------------------------------------------------------------------------------

export type { Served } from '../server/helpers.js';

/** Starts `bin/cylo serve` on a free loopback port with JSON logs and the given environment
 *  (the test's own CYLO_* variables are not passed on); resolves once it is ready. */
export function startServe(env: Record<string, string>, timeoutMs = 60_000): Promise<Served> {
  return spawnServe(['--host', '127.0.0.1', '--log-format', 'json'], env, { timeoutMs });
}

