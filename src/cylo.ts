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
import { EnvironmentCatalog } from './environments/catalog.js';
import { buildEnvironment, type EnvironmentBuildRequest } from './environments/build.js';
import type { EnvironmentInfo, EnvironmentManifest } from './environments/types.js';
import type { HostReport } from './sandbox/host-check.js';
import type { NamespaceSlot } from './sandbox/namespace-backend.js';
import type { OrphanReport } from './sandbox/orphans.js';
import { SessionManager } from './sessions/manager.js';
import { createMicrovmSide, isolationOf, type MicrovmStats } from './microvm/entry.js';
import { microvmReport, type MicrovmReport } from './microvm/doctor.js';

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
  /** The named environments a request of this language can select (docs/environments.md),
   *  with their packages and versions. */
  environments: Array<Pick<EnvironmentInfo, 'name' | 'packages' | 'builtin'>>;
}

export interface DoctorReport extends HostReport {
  smoke: { ok: boolean; detail: string };
  /** Leftovers of crashed cylo processes (cgroups, sandbox-uid processes; with `clean`, the
   *  cgroups were removed with every process inside them, else nothing was changed), and the
   *  cgroups of other live instances (`others`: their work, never touched). `staleLocks`: uid
   *  range lock files of dead instances removed from /run/cylo/ranges (only with `clean`). */
  orphans: OrphanReport & { cleaned: boolean; staleLocks: number };
  /** The microVM backend: isolations offered, accelerator, QEMU, guest kernel, runtime image,
   *  pool (checked without booting a VM). */
  microvm: MicrovmReport;
  /** Whether sandboxes are started by the spawner (option `spawner`, default true) or by Node's
   *  spawn, with a line saying which; the smoke run went through it. */
  spawner: { on: boolean; detail: string };
  /** Whether pre-started Python runtimes come from a zygote (option `zygote`, default false). */
  zygote: { on: boolean; detail: string };
}

export interface CyloStats extends PoolStats {
  /** Stages that ran in a sandbox prepared ahead of time. */
  sandboxesPrepared: number;
  /** Stages whose sandbox was started on demand (no prepared one fitted). */
  sandboxesStartedOnDemand: number;
  /** Run stages handed to a language runtime started ahead of time (option `prestart`; a
   *  subset of sandboxesPrepared). */
  runtimesPrestarted: number;
  /** Of those, runtimes forked from a Python zygote (option `zygote`; docs/security.md "The
   *  Python zygote"). */
  runtimesFromZygote: number;
  /** Sandboxes being started: spawned (through the spawner: asked for, its pid and pipes not
   *  all back yet) and not yet past taking their seccomp program. A slot's next sandbox is
   *  started in the background after each execution: 0 says an idle instance has settled (no
   *  pipe of it will open or close until the next request). */
  sandboxesStarting: number;
  /** The sandbox uid range this instance holds (null until its host is set up, and after close). */
  uidRange: { base: number; count: number } | null;
  /** Compile stages whose compiler ran (compile-cache hits and shared compiles not counted). */
  compiles: number;
  /** The microVM backend's pool (VMs booted ahead, each for one execution), or null before
   *  the first request for isolation "microvm": executions that found their VM booted (warmVms)
   *  or waited for its boot (coldVms), VMs booted and idle now, the last boot times in ms. */
  microvm: MicrovmStats | null;
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
  /** The named environments (built-in datasci, and those in environmentsDir). */
  readonly environments: EnvironmentCatalog;
  /** Builds an environment in a sandbox of its own and stores it (`cylo env build`). */
  buildEnvironment(request: EnvironmentBuildRequest): Promise<EnvironmentManifest>;
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
  const environments = new EnvironmentCatalog(options.environmentsDir, options.preimport);
  const gate = new ExecutionGate<NamespaceSlot>({ registry, environments, policy, pool, lifecycle: async () => lifecycleOf(await ready()) });
  let lifecycle: Lifecycle<NamespaceSlot> | undefined;
  const lifecycleOf = (h: HostSetup): Lifecycle<NamespaceSlot> => (lifecycle ??= new Lifecycle(h.backend, h.compileCache));
  // Idle slots' (empty) cgroups are removed when the process exits without close().
  // A VM's QEMU dies with this process (bubblewrap --die-with-parent); its directory (the socket,
  // the initramfs) is removed here, its empty cgroup at the next start (crash recovery).
  const onExit = (): void => {
    pool.destroyIdleSync();
    microvm.removeFiles();
  };
  let closed = false;
  process.once('exit', onExit);

  // The microVM side (src/microvm/entry.ts): its own pool, gate and lifecycle, set up on the
  // first request for it; a request goes to the gate of its isolation, never to the other.
  const microvm = createMicrovmSide(options, ready, registry, policy);
  const execute = (request: ExecuteRequest, executeOptions?: ExecuteOptions): Promise<ExecutionResult> => {
    try {
      return isolationOf(request, options) === 'microvm' ? microvm.gate.execute(request, executeOptions) : gate.execute(request, executeOptions);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  };

  const sessions = new SessionManager({ backend: async () => (await ready()).backend, registry, environments, defaultLimits: options.defaultLimits, maxLimits: options.maxLimits, settings: options.sessions,
    // Sessions run in the namespace sandbox only: where the operator offers only microVMs, refused.
    refusal: options.isolations.includes('namespaces') ? undefined : 'sessions: not available with isolation "microvm" (a session keeps one sandbox alive between runs; this cylo offers only microVMs, each used for one execution); use single executions' });

  const cylo: Cylo = {
    registry,
    policy,
    sessions,
    environments,
    buildEnvironment: (request) => buildEnvironment({ backend: async () => (await ready()).backend, registry, catalog: environments }, request),
    execute,
    stream: (request, o = {}) => streamExecution((onEvent, signal) => execute(request, { signal, onEvent }), o.signal, requestedOutputEncoding(request)),
    interactive: (request, o = {}) => startInteractive((run) => execute(request, run), o.signal, requestedOutputEncoding(request)),
    runtimes: async () => {
      const all = environments.list();
      return (await registry.resolveAll()).map((r) => runtimeInfo(r, all));
    },
    async doctor(doctorOptions = {}) {
      const report = await inspectHost(options, doctorOptions.clean === true);
      // The smoke run sets this instance up; with clean: false (`cylo doctor` without --clean)
      // without the start-up cleanup, so that nothing changes.
      if (host === undefined && doctorOptions.clean === false) cleanAtStart = false;
      const smoke = report.ok ? await smokeTest(cylo) : { ok: false, detail: 'not run: a layer above is missing' };
      // Otherwise (serve's and mcp's start check) the smoke run's start removed them: say so.
      let orphans = report.orphans;
      if (!orphans.cleaned && orphans.cgroups.length > 0 && orphans.cgroups.every((c) => setUp?.cleanedAtStart.cgroups.includes(c) === true)) orphans = { ...orphans, cleaned: true };
      return { ...report, smoke, orphans, microvm: microvmReport(options), spawner: spawnerReport(options.spawner), zygote: zygoteReport(options.zygote) };
    },
    async warm() {
      await ready();
      if (options.isolations.includes('namespaces')) await pool.warm();
      // VMs boot ahead only where the default isolation is microvm (or the only one).
      if (options.isolation === 'microvm') await microvm.warm();
    },
    stats() {
      const counts = setUp?.backend.stats() ?? { prepared: 0, startedOnDemand: 0, prestarted: 0, zygote: 0, starting: 0 };
      const uidRange = setUp === undefined || closed ? null : { base: setUp.range.base, count: setUp.range.count };
      return { ...pool.stats(), sandboxesPrepared: counts.prepared, sandboxesStartedOnDemand: counts.startedOnDemand, runtimesPrestarted: counts.prestarted, runtimesFromZygote: counts.zygote, sandboxesStarting: counts.starting, uidRange, compiles: (lifecycle?.compilesRun ?? 0) + microvm.compilesRun(), microvm: microvm.stats() };
    },
    async close(closeOptions = {}) {
      process.removeListener('exit', onExit);
      // Sessions are not persisted: closing ends them (every process killed, slot destroyed).
      await Promise.all([sessions.close(), gate.close(closeOptions.graceMs), microvm.gate.close(closeOptions.graceMs)]);
      microvm.removeFiles();
      // Every sandbox has ended: the spawner goes too (its channel and stderr are fds of this
      // process; a library user's open/close cycles would otherwise keep one spawner each).
      setUp?.spawner?.close();
      setUp?.zygotes?.close();
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

function runtimeInfo(r: ResolvedRuntime, envs: readonly EnvironmentInfo[]): RuntimeInfo {
  const def = r.definition;
  const environments = envs.filter((e) => e.language === def.id).map((e) => ({ name: e.name, packages: e.packages, builtin: e.builtin }));
  return { language: def.id, aliases: def.aliases, version: r.version ?? null, extension: def.extension, available: r.available, compiled: def.compile !== undefined, package: def.package, problem: r.problem ?? null, environments };
}

/** What doctor says of the option `spawner` (docs/security.md "The spawner"). */
function spawnerReport(on: boolean): DoctorReport['spawner'] {
  return on
    ? { on, detail: 'on: sandboxes are started by cylo-helper spawner, so the event loop never forks (spawner: false or CYLO_SPAWNER=0 turns it off)' }
    : { on, detail: 'off: Node\'s spawn forks the service for every sandbox (spawner: true or CYLO_SPAWNER=1 takes that off the event loop)' };
}

/** What doctor says of the option `zygote` (docs/security.md "The Python zygote"). */
function zygoteReport(on: boolean): DoctorReport['zygote'] {
  return on
    ? { on, detail: 'on: pre-started Python runtimes are forked from a zygote into each sandbox (zygote: false or CYLO_ZYGOTE=0 turns it off)' }
    : { on, detail: 'off: each sandbox\'s PID 1 starts its Python runtime (zygote: true or CYLO_ZYGOTE=1 forks them from a zygote; BENCHMARKS.md says when that pays)' };
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
