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
import { CyloError } from './errors.js';
import type { MicrovmBackend, MicrovmSlot } from './microvm/microvm-backend.js';
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
}

export interface DoctorReport extends HostReport {
  smoke: { ok: boolean; detail: string };
  /** Leftovers of crashed cylo processes (cgroups, sandbox-uid processes; with `clean`, the
   *  cgroups were removed with every process inside them, else nothing was changed), and the
   *  cgroups of other live instances (`others`: their work, never touched). */
  orphans: OrphanReport & { cleaned: boolean };
  /** The microVM backend: isolations offered, accelerator, QEMU, guest kernel, runtime image,
   *  pool (checked without booting a VM). */
  microvm: MicrovmReport;
}

export interface CyloStats extends PoolStats {
  /** Stages that ran in a sandbox prepared ahead of time. */
  sandboxesPrepared: number;
  /** Stages whose sandbox was started on demand (no prepared one fitted). */
  sandboxesStartedOnDemand: number;
  /** The sandbox uid range this instance holds (null until its host is set up, and after close). */
  uidRange: { base: number; count: number } | null;
  /** Compile stages whose compiler ran (compile-cache hits and shared compiles not counted). */
  compiles: number;
  /** The microVM backend's pool (VMs booted ahead, each for one execution), or null before
   *  the first request for isolation "microvm": executions that found their VM booted (warmVms)
   *  or waited for its boot (coldVms), VMs booted and idle now, the last boot times in ms. */
  microvm: (PoolStats & { warmVms: number; coldVms: number; bootedIdle: number; bootMs: number[] }) | null;
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
  // A VM's QEMU dies with this process (bubblewrap --die-with-parent); its directory (the socket,
  // the initramfs) is removed here, its empty cgroup at the next start (crash recovery).
  const onExit = (): void => {
    pool.destroyIdleSync();
    microvmSetUp?.host.image.remove();
  };
  let closed = false;
  process.once('exit', onExit);

  // The microVM backend: set up on the first request for it (never as a fallback); its own pool
  // of VMs (each used for one execution) and its own lifecycle over the same compile cache.
  let microvm: Promise<MicrovmBackend> | undefined;
  let microvmSetUp: MicrovmBackend | undefined;
  const microvmReady = (): Promise<MicrovmBackend> => {
    if (microvm === undefined) {
      microvm = ready().then(async (h) => {
        const { setUpMicrovm } = await import('./microvm/setup.js');
        return (microvmSetUp = setUpMicrovm(options.microvm, { ...h.shared, identities: h.range.identities }));
      });
      microvm.catch(() => (microvm = undefined));
    }
    return microvm;
  };
  const microvmPool = new ExecutionPool<MicrovmSlot>({ concurrency: options.microvm.pool, queueLimit: options.queueLimit, createSlot: async () => (await microvmReady()).createSlot() });
  let microvmLifecycle: Lifecycle<MicrovmSlot> | undefined;
  const microvmGate = new ExecutionGate<MicrovmSlot>({ registry, policy, pool: microvmPool, lifecycle: async () => (microvmLifecycle ??= new Lifecycle(await microvmReady(), (await ready()).compileCache)) });
  /** The gate of the request's isolation (its `isolation`, else the configured default); one
   *  the operator does not offer is refused, never replaced by the other. */
  const gateFor = (request: ExecuteRequest): ExecutionGate<NamespaceSlot> | ExecutionGate<MicrovmSlot> => {
    const asked = (request as { isolation?: unknown } | null)?.isolation ?? options.isolation;
    if ((asked === 'namespaces' || asked === 'microvm') && !options.isolations.includes(asked)) {
      throw new CyloError('CYLO_E_UNSUPPORTED', `isolation: "${asked}" is not offered by this cylo (it offers ${options.isolations.map((i) => `"${i}"`).join(', ')})`, { field: 'isolation' });
    }
    return asked === 'microvm' ? microvmGate : gate;
  };
  const execute = (request: ExecuteRequest, executeOptions?: ExecuteOptions): Promise<ExecutionResult> => {
    try {
      return gateFor(request).execute(request, executeOptions);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  };

  const sessions = new SessionManager({ backend: async () => (await ready()).backend, registry, defaultLimits: options.defaultLimits, maxLimits: options.maxLimits, settings: options.sessions,
    // Sessions run in the namespace sandbox only: where the operator offers only microVMs, refused.
    refusal: options.isolations.includes('namespaces') ? undefined : 'sessions: not available with isolation "microvm" (a session keeps one sandbox alive between runs; this cylo offers only microVMs, each used for one execution); use single executions' });

  const cylo: Cylo = {
    registry,
    policy,
    sessions,
    execute,
    stream: (request, o = {}) => streamExecution((onEvent, signal) => execute(request, { signal, onEvent }), o.signal, requestedOutputEncoding(request)),
    interactive: (request, o = {}) => startInteractive((run) => execute(request, run), o.signal, requestedOutputEncoding(request)),
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
      return { ...report, smoke, orphans, microvm: microvmReport(options) };
    },
    async warm() {
      await ready();
      if (options.isolations.includes('namespaces')) await pool.warm();
      // VMs boot ahead only where the default isolation is microvm (or the only one).
      if (options.isolation === 'microvm') {
        await microvmReady();
        await microvmPool.warm();
      }
    },
    stats() {
      const counts = setUp?.backend.stats() ?? { prepared: 0, startedOnDemand: 0 };
      const uidRange = setUp === undefined || closed ? null : { base: setUp.range.base, count: setUp.range.count };
      const vmCounts = microvmSetUp?.stats();
      const microvmStats = vmCounts === undefined ? null : { ...microvmPool.stats(), warmVms: vmCounts.prepared, coldVms: vmCounts.startedOnDemand, bootedIdle: microvmSetUp?.warmVms() ?? 0, bootMs: [...(microvmSetUp?.bootMs ?? [])] };
      return { ...pool.stats(), sandboxesPrepared: counts.prepared, sandboxesStartedOnDemand: counts.startedOnDemand, uidRange, compiles: (lifecycle?.compilesRun ?? 0) + (microvmLifecycle?.compilesRun ?? 0), microvm: microvmStats };
    },
    async close(closeOptions = {}) {
      process.removeListener('exit', onExit);
      // Sessions are not persisted: closing ends them (every process killed, slot destroyed).
      await Promise.all([sessions.close(), gate.close(closeOptions.graceMs), microvmGate.close(closeOptions.graceMs)]);
      microvmSetUp?.host.image.remove();
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
