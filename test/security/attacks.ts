// The security battery's own helpers: the attack programs (one multi-purpose program per
// language, the attack named by its first argument, so C and Go compile once and the compile
// cache keeps them), an in-process HTTP service the hostile requests are sent to, and the check
// every hostile test ends with: nothing of the execution is left (processes, cgroups), the
// service still answers /healthz. The host-side views, uid ranges, the pre-flight and the
// serve spawner are shared with the other suites, in test/support/.
//
// SAFETY: the attack programs run only inside cylo's sandbox, and only after the pre-flight of
// test/support/preflight.ts has passed (every hostile test calls skipWithoutPreflight(t) first).
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { ExecuteRequest } from '../../src/api/request.js';
import type { Limits } from '../../src/api/limits.js';
import type { ExecutionResult, Stage } from '../../src/api/result.js';
import type { Cylo } from '../../src/cylo.js';
import { buildServer } from '../../src/server/app.js';
import { closeSharedCylos, getCylo, TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { listenLoopback } from '../support/http.js';
import { preflight } from '../support/preflight.js';
import { busyCgroups, processesWith, strayProcesses, uniqueMarker } from '../support/processes.js';
import { MiB } from '../support/units.js';
import { settled } from '../support/wait.js';
import { slow } from '../support/slow.js';

/** Every hostile test: a short timeout. */
export const T = { timeout: slow(20_000) };

/** Tight limits for hostile programs (the shared cylo's defaults are already tight). */
export const HOSTILE_LIMITS: Partial<Limits> = { timeoutMs: slow(2000), cpuTimeMs: slow(2000), memoryBytes: 128 * MiB, pids: 32, outputBytes: 64 * 1024, workspaceBytes: 8 * MiB };

export const LANGS = ['python', 'javascript', 'bash', 'c', 'go'] as const;
/** The same attack classes in Rust, Java and TypeScript (test/security/hostile-languages.test.ts):
 *  fork and memory bombs, file floods, the network, host files, writes outside the workspace,
 *  signals to the supervisor and the host. */
export const MORE_LANGS = ['rust', 'java', 'typescript'] as const;
export type Lang = (typeof LANGS)[number] | (typeof MORE_LANGS)[number];

const SOURCES: Record<Lang, { entry: string; file: string }> = {
  python: { entry: 'main.py', file: 'attack.py' },
  javascript: { entry: 'main.mjs', file: 'attack.mjs' },
  bash: { entry: 'main.sh', file: 'attack.sh' },
  c: { entry: 'main.c', file: 'attack.c' },
  go: { entry: 'main.go', file: 'attack.go' },
  rust: { entry: 'main.rs', file: 'attack.rs' },
  java: { entry: 'Main.java', file: 'Main.java' },
  typescript: { entry: 'main.ts', file: 'attack.ts' },
};

/** The source tree's programs directory (the compiled test runs from dist/test/security). */
const PROGRAM_DIR = new URL('../../../test/security/programs/', import.meta.url);
const sourceCache = new Map<string, string>();

/** The text of a program of test/security/programs/ (read once). */
export function programSource(file: string): string {
  let text = sourceCache.get(file);
  if (text === undefined) {
    text = readFileSync(new URL(file, PROGRAM_DIR), 'utf8');
    sourceCache.set(file, text);
  }
  return text;
}

export function attackSource(lang: Lang): string {
  return programSource(SOURCES[lang].file);
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
  /** GET /healthz; asserts 200 {status: ok}. */
  healthz(): Promise<void>;
  close(): Promise<void>;
}

/** The HTTP service (in this process, so `process.pid` is the service's pid) over the shared
 *  test cylo, listening on 127.0.0.1. */
export async function startService(cylo: Cylo = getCylo()): Promise<Service> {
  const app = await buildServer({ cylo, logger: false, processMetrics: false });
  const base = await listenLoopback(app);
  return {
    base,
    app,
    cylo,
    async exec(request) {
      const res = await fetch(`${base}/v1/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request), signal: AbortSignal.timeout(slow(60_000)) });
      const body = (await res.json()) as ExecutionResult & { error?: { code: string; message: string } };
      if (res.status !== 200) throw new Error(`POST /v1/execute answered ${res.status}: ${JSON.stringify(body)}`);
      return body;
    },
    async healthz() {
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(slow(10_000)) });
      assert.equal(res.status, 200, 'the service answers /healthz');
      assert.deepEqual(await res.json(), { status: 'ok' });
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

/**
 * The service a hostile test file attacks: started (with the compiled attack programs of WARM
 * warmed) before the file's tests and stopped after them. Returns a handle that forwards to it.
 */
export function useService(warm: readonly Lang[] = ['c', 'go']): Service {
  let current: Service | undefined;
  const get = (): Service => {
    if (current === undefined) throw new Error('the service under attack did not start (see the before hook)');
    return current;
  };
  before(async () => {
    current = await startService();
    if ((await preflight()).ok) await warmCompiled(current, warm);
  }, { timeout: slow(180_000) });
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

/** Compiles LANGS' programs once (a cache hit afterwards), outside the 20 s test budget. */
export async function warmCompiled(service: Service, langs: readonly Lang[] = ['c', 'go']): Promise<void> {
  for (const lang of langs) {
    const r = await service.exec({ ...attackRequest(lang, 'hello', [], uniqueMarker()), limits: { compileTimeoutMs: slow(120_000) } });
    assert.equal(r.status, 'ok', `${lang}: the attack program compiles: ${JSON.stringify(r.compile ?? r.run).slice(0, 2000)}`);
  }
}

// ------------------------------------------------------------------------------------------
// the host side
// ------------------------------------------------------------------------------------------

/** After a hostile run: no process of it is left (by marker, by sandbox uid), no cgroup of this
 *  process holds one, and the service answers /healthz. Polls: the pool resets a slot right
 *  after the result is sent. */
export async function assertHostClean(service: Service, markers: string[]): Promise<void> {
  const state = (): { markers: string[]; stray: string[]; cgroups: string[] } => ({
    markers: markers.flatMap((m) => processesWith(m).map((p) => `${p.pid} ${p.cmdline.join(' ').slice(0, 120)}`)),
    stray: strayProcesses(TEST_UID_BASE, TEST_UID_COUNT),
    cgroups: busyCgroups(),
  });
  const last = await settled(state, (now) => now.markers.length === 0 && now.stray.length === 0 && now.cgroups.length === 0);
  assert.deepEqual(last.markers, [], 'no process of the executions is left (by marker)');
  assert.deepEqual(last.stray, [], 'no process runs as a sandbox uid');
  assert.deepEqual(last.cgroups, [], "the executions' cgroups hold no process");
  await service.healthz();
}
