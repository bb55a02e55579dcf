// The library entry point: createCylo(options) -> Cylo. A thin facade: options are normalised
// (options.ts), the host is set up on first use (host-setup.ts), and every execution goes
// through the gate (gate/execution-gate.ts) -> pool -> lifecycle -> backend.
import type { ExecuteRequest, ValidationPolicy } from './api/request.js';
import { requestedOutputEncoding } from './api/output-encoding.js';
import type { ExecutionResult } from './api/result.js';
import { ExecutionGate, type ExecuteOptions } from './gate/execution-gate.js';
import { streamExecution, type StreamEvent } from './engine/event-stream.js';
import { startInteractive, type InteractiveExecution } from './engine/interactive.js';
import { Lifecycle } from './engine/lifecycle.js';
import { ExecutionPool, type PoolStats } from './engine/pool.js';
import { inspectHost, setUpHost, type HostSetup } from './host-setup.js';
import { normalizeOptions, type CyloOptions, type NormalizedOptions } from './options.js';
import { configuredRuntimesFile, loadRuntimesFile } from './runtimes/config-file.js';
import { RuntimeRegistry, type ResolvedRuntime } from './runtimes/registry.js';
import type { HostReport } from './sandbox/host-check.js';
import type { NamespaceSlot } from './sandbox/namespace-backend.js';
import type { OrphanReport } from './sandbox/orphans.js';
import { SessionManager } from './sessions/manager.js';

export type { CyloLogLevel, CyloOptions } from './options.js';
export type { ExecuteOptions } from './gate/execution-gate.js';

export interface RuntimeInfo {
  language: string;
  aliases: string[];
  version: string | null;
  extension: string;
  available: boolean;
  compiled: boolean;
  /** The Debian/Ubuntu package that provides the toolchain. */
  package: string;
  problem: string | null;
}

export interface DoctorReport extends HostReport {
  smoke: { ok: boolean; detail: string };
  /** Leftovers of crashed cylo processes (cgroups, sandbox-uid processes; with `clean`, the
   *  cgroups were removed with every process inside them, else nothing was changed), and the
   *  cgroups of other live instances (`others`: their work, never touched). */
  orphans: OrphanReport & { cleaned: boolean };
}

export interface CyloStats extends PoolStats {
  /** Stages that ran in a sandbox prepared ahead of time. */
  sandboxesPrepared: number;
  /** Stages whose sandbox was started on demand (no prepared one fitted). */
  sandboxesStartedOnDemand: number;
  /** Run stages handed to a language runtime started ahead of time (option `prestart`; a
   *  subset of sandboxesPrepared). */
  runtimesPrestarted: number;
  /** The sandbox uid range this instance holds (null until its host is set up, and after close). */
  uidRange: { base: number; count: number } | null;
  /** Compile stages whose compiler ran (compile-cache hits and shared compiles not counted). */
  compiles: number;
}

export interface Cylo {
  execute(request: ExecuteRequest, options?: ExecuteOptions): Promise<ExecutionResult>;
  /** The same execution as an async iterable: `state` transitions, `stdout`/`stderr` chunks as
   *  they are produced, then one `result` (or `error`). Breaking out cancels the execution. */
  stream(request: ExecuteRequest, options?: { signal?: AbortSignal }): AsyncIterableIterator<StreamEvent>;
  /** An interactive execution: write to stdin as it runs, close it, signal the program, and
   *  read the same events as `stream`. */
  interactive(request: ExecuteRequest, options?: { signal?: AbortSignal }): InteractiveExecution;
  runtimes(): Promise<RuntimeInfo[]>;
  /** The host check report (what `cylo doctor` prints). `clean: true`: leftovers of crashed
   *  instances are removed; `clean: false`: nothing is changed (the smoke run's instance skips
   *  its start-up cleanup); unset: the instance starts as usual (removing leftovers at start). */
  doctor(options?: { clean?: boolean }): Promise<DoctorReport>;
  /** Creates every slot (uid, cgroup, prepared sandbox) now rather than on first use. */
  warm(): Promise<void>;
  /** Concurrency, queue depth and counters of the pool, and how many stages ran in a
   *  prepared sandbox versus one started on demand. */
  stats(): CyloStats;
  readonly registry: RuntimeRegistry;
  readonly policy: ValidationPolicy;
  /** Stateful sessions (docs/sessions.md): one sandbox kept alive between runs, with its
   *  variables and files; each on a slot of its own, bounded by maxSessions; ended by close(). */
  readonly sessions: SessionManager;
  /** Stops accepting executions, rejects queued ones and waits for running ones; after
   *  `graceMs` (default: no limit) the running ones are cancelled (every process killed). */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** Creates a cylo instance. Throws CYLO_E_CONFIG for invalid options (unknown ones included);
 *  the host is checked on first use (CYLO_E_SANDBOX_UNAVAILABLE names the missing layer). */
export function createCylo(input: CyloOptions = {}): Cylo {
  const options = normalizeOptions(input);
  const runtimesFile = configuredRuntimesFile(options.runtimesFile);
  const registry = new RuntimeRegistry([...(runtimesFile === undefined ? [] : loadRuntimesFile(runtimesFile)), ...options.runtimes]);
  const policy = validationPolicy(options, registry);
  let host: Promise<HostSetup> | undefined;
  let setUp: HostSetup | undefined;
  // false while doctor without --clean sets the host up for its smoke run: it changes nothing.
  let cleanAtStart = true;
  /** Sets the host up once; a failed check is retried on the next call (the operator may have
   *  fixed it). */
  const ready = (): Promise<HostSetup> => {
    if (host === undefined) {
      host = setUpHost(options, cleanAtStart).then((h) => (setUp = h));
      host.catch(() => (host = undefined));
    }
    return host;
  };
  // Slots (a uid and a cgroup each) are created on demand and reused across executions.
  const pool = new ExecutionPool<NamespaceSlot>({ concurrency: options.concurrency, queueLimit: options.queueLimit, createSlot: async () => (await ready()).backend.createSlot() });
  const gate = new ExecutionGate<NamespaceSlot>({ registry, policy, pool, lifecycle: async () => lifecycleOf(await ready()) });
  let lifecycle: Lifecycle<NamespaceSlot> | undefined;
  const lifecycleOf = (h: HostSetup): Lifecycle<NamespaceSlot> => (lifecycle ??= new Lifecycle(h.backend, h.compileCache));
  // Idle slots' (empty) cgroups are removed when the process exits without close().
  const onExit = (): void => pool.destroyIdleSync();
  let closed = false;
  process.once('exit', onExit);

  const sessions = new SessionManager({ backend: async () => (await ready()).backend, registry, defaultLimits: options.defaultLimits, maxLimits: options.maxLimits, settings: options.sessions });

  const cylo: Cylo = {
    registry,
    policy,
    sessions,
    execute: (request, executeOptions) => gate.execute(request, executeOptions),
    stream: (request, o = {}) => streamExecution((onEvent, signal) => gate.execute(request, { signal, onEvent }), o.signal, requestedOutputEncoding(request)),
    interactive: (request, o = {}) => startInteractive((run) => gate.execute(request, run), o.signal, requestedOutputEncoding(request)),
    runtimes: async () => (await registry.resolveAll()).map(runtimeInfo),
    async doctor(doctorOptions = {}) {
      const report = await inspectHost(options, doctorOptions.clean === true);
      // The smoke run sets this instance up; with clean: false (`cylo doctor` without --clean)
      // without the start-up cleanup, so that nothing changes.
      if (host === undefined && doctorOptions.clean === false) cleanAtStart = false;
      const smoke = report.ok ? await smokeTest(cylo) : { ok: false, detail: 'not run: a layer above is missing' };
      // Otherwise (serve's and mcp's start check) the smoke run's start removed them: say so.
      let orphans = report.orphans;
      if (!orphans.cleaned && orphans.cgroups.length > 0 && orphans.cgroups.every((c) => setUp?.cleanedAtStart.cgroups.includes(c) === true)) orphans = { ...orphans, cleaned: true };
      return { ...report, smoke, orphans };
    },
    async warm() {
      await ready();
      await pool.warm();
    },
    stats() {
      const counts = setUp?.backend.stats() ?? { prepared: 0, startedOnDemand: 0, prestarted: 0 };
      const uidRange = setUp === undefined || closed ? null : { base: setUp.range.base, count: setUp.range.count };
      return { ...pool.stats(), sandboxesPrepared: counts.prepared, sandboxesStartedOnDemand: counts.startedOnDemand, runtimesPrestarted: counts.prestarted, uidRange, compiles: lifecycle?.compilesRun ?? 0 };
    },
    async close(closeOptions = {}) {
      process.removeListener('exit', onExit);
      // Sessions are not persisted: closing ends them (every process killed, slot destroyed).
      await Promise.all([sessions.close(), gate.close(closeOptions.graceMs)]);
      // Every slot is gone: the uid range is free for the next instance.
      closed = true;
      setUp?.range.release();
    },
  };
  return cylo;
}

/** What a request is validated against: the limits, the bounds, and per-language defaults. */
function validationPolicy(options: NormalizedOptions, registry: RuntimeRegistry): ValidationPolicy {
  return {
    maxLimits: options.maxLimits,
    defaultLimits: options.defaultLimits,
    bounds: options.requestBounds,
    defaultEntry: (language) => registry.find(language)?.entry ?? 'main',
    languageLimits: (language) => registry.find(language)?.limits,
    compilerOptions: { allow: options.allowedCompilerOptions, accepts: (language) => registry.find(language)?.compile?.argv.includes('{compilerOptions}') === true },
  };
}

function runtimeInfo(r: ResolvedRuntime): RuntimeInfo {
  const def = r.definition;
  return { language: def.id, aliases: def.aliases, version: r.version ?? null, extension: def.extension, available: r.available, compiled: def.compile !== undefined, package: def.package, problem: r.problem ?? null };
}

/** A sandboxed `echo ok` through the whole path: what doctor reports as the smoke test. */
async function smokeTest(cylo: Cylo): Promise<{ ok: boolean; detail: string }> {
  try {
    const result = await cylo.execute({ language: 'bash', code: 'echo ok' });
    if (result.status === 'ok' && result.run?.stdout === 'ok\n') return { ok: true, detail: `a sandboxed "echo ok" ran in ${result.run.wallMs.toFixed(1)} ms` };
    return { ok: false, detail: `status ${result.status}: ${result.run?.message ?? result.run?.stderr ?? ''}` };
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  }
}
