// The library entry point: createCylo(options) -> { execute, runtimes, doctor, close }.
import { availableParallelism } from 'node:os';
import { CyloError } from './errors.js';
import { DEFAULT_LIMITS, DEFAULT_MAX_LIMITS, DEFAULT_REQUEST_BOUNDS, LIMIT_NAMES, type Limits, type RequestBounds } from './api/limits.js';
import { normalizeRequest, type ExecuteRequest, type ValidationPolicy } from './api/request.js';
import type { ExecutionResult } from './api/result.js';
import { Engine, type ExecutionEvent, type SandboxSlot } from './engine/engine.js';
import type { RuntimeDefinitionInput } from './runtimes/definition.js';
import { RuntimeRegistry, type ResolvedRuntime } from './runtimes/registry.js';
import { checkHost, RELAXABLE_LAYERS, type HostReport, type RelaxableLayer } from './sandbox/host-check.js';
import { DEFAULT_UID_BASE, IdentityPool } from './sandbox/identity.js';
import { buildSeccompProgram } from './sandbox/seccomp.js';
import { versionMatches } from './runtimes/version.js';
import { streamExecution, type StreamEvent } from './engine/event-stream.js';
import { startInteractive, type InteractiveExecution } from './engine/interactive.js';
import type { SandboxControl } from './sandbox/run-sandbox.js';
import { ExecutionPool, type PoolStats } from './engine/pool.js';
import { cleanOrphans, findOrphans, type OrphanReport } from './engine/orphans.js';
import { CompileCache, DEFAULT_CACHE_DIR, DEFAULT_CACHE_MAX_BYTES } from './engine/compile-cache.js';
import { configuredRuntimesFile, loadRuntimesFile } from './runtimes/config-file.js';

export interface CyloOptions {
  /** Languages to add, or to override by id (same shape as the built-in ones). */
  runtimes?: RuntimeDefinitionInput[];
  /** Limits every execution gets unless the request asks otherwise. */
  defaultLimits?: Partial<Limits>;
  /** The most a request may ask for; above it the request is refused. */
  maxLimits?: Partial<Limits>;
  /** Bounds on requests (files, stdin, args). */
  requestBounds?: Partial<RequestBounds>;
  /** Layers the operator explicitly relaxes. Results list the layers in force. */
  relax?: RelaxableLayer[];
  /** First host uid used for sandboxes (each concurrent execution gets its own). */
  uidBase?: number;
  uidCount?: number;
  bwrapPath?: string;
  helperPath?: string;
  cgroupRoot?: string;
  /** Executions running at once (default: the number of cores). */
  concurrency?: number;
  /** Executions waiting for a free worker before CYLO_E_QUEUE_FULL (default: 16 x concurrency). */
  queueLimit?: number;
  /** Start each idle worker's next sandbox ahead of time, so that bubblewrap's setup is not on
   *  the request's path (default true; used by runtimes under /usr with the default workspace). */
  prewarm?: boolean;
  /** Where cylo reports what it did on its own (e.g. orphans cleaned at start). */
  log?: (level: CyloLogLevel, message: string, fields?: Record<string, unknown>) => void;
  /** An operator's runtimes file (JSON, see docs/runtimes.md) adding or overriding languages.
   *  Default: $CYLO_RUNTIMES_FILE, else /etc/cylo/runtimes.json when it exists; false: none.
   *  `runtimes` given here are applied after the file's. */
  runtimesFile?: string | false;
  /** The compile cache directory (created 0700; must be owned by cylo's user). Default:
   *  /var/cache/cylo/compile when running as root; false: no compile cache. */
  cacheDir?: string | false;
  /** Bound on the compile cache's total size; least recently used entries go first (default 512 MiB). */
  cacheMaxBytes?: number;
}

export interface ExecuteOptions {
  signal?: AbortSignal;
  /** Interactive input after `request.stdin`; its end closes the program's stdin. */
  stdinStream?: AsyncIterable<Buffer>;
  /** Filled in when the program starts: `control.signal(name)` signals it. */
  control?: SandboxControl;
  /** Lifecycle transitions and output chunks, as they happen. */
  onEvent?: (event: ExecutionEvent) => void;
}

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
  /** Leftovers of crashed cylo processes (cgroups, sandbox-uid processes); with `clean`, what
   *  was removed. */
  orphans: OrphanReport & { cleaned: boolean };
}

export interface CyloStats extends PoolStats {
  sandboxesPrepared: number;
  sandboxesStartedOnDemand: number;
}

export type CyloLogLevel = 'info' | 'warn' | 'error';

export interface Cylo {
  execute(request: ExecuteRequest, options?: ExecuteOptions): Promise<ExecutionResult>;
  /** The same execution as an async iterable: `state` transitions, `stdout`/`stderr` chunks as
   *  they are produced, then one `result` (or `error`). Breaking out cancels the execution. */
  stream(request: ExecuteRequest, options?: { signal?: AbortSignal }): AsyncIterableIterator<StreamEvent>;
  /** An interactive execution: write to stdin as it runs, close it, signal the program, and
   *  read the same events as `stream`. */
  interactive(request: ExecuteRequest, options?: { signal?: AbortSignal }): InteractiveExecution;
  runtimes(): Promise<RuntimeInfo[]>;
  /** The host check report (what `cylo doctor` prints). */
  doctor(options?: { clean?: boolean }): Promise<DoctorReport>;
  /** Creates every worker's slot (uid, cgroup, prepared sandbox) now rather than on first use. */
  warm(): Promise<void>;
  /** Concurrency, queue depth and counters of the execution pool, and how many stages ran in
   *  a prepared sandbox versus one started on the spot. */
  stats(): CyloStats;
  readonly registry: RuntimeRegistry;
  readonly policy: ValidationPolicy;
  /** Stops accepting executions, rejects queued ones and waits for running ones; after
   *  `graceMs` (default: no limit) the running ones are cancelled (every process killed). */
  close(options?: { graceMs?: number }): Promise<void>;
}

function mergeLimits(base: Readonly<Limits>, extra: Partial<Limits> | undefined, field: string): Limits {
  const out = { ...base };
  for (const name of LIMIT_NAMES) {
    const v = extra?.[name];
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v <= 0) throw new CyloError('CYLO_E_CONFIG', `${field}.${name}: expected a positive integer (got ${String(v)})`, { field: `${field}.${name}` });
    out[name] = v;
  }
  return out;
}

export function createCylo(options: CyloOptions = {}): Cylo {
  for (const layer of options.relax ?? []) {
    if (!RELAXABLE_LAYERS.includes(layer)) {
      throw new CyloError('CYLO_E_CONFIG', `relax: "${String(layer)}" cannot be relaxed; only ${RELAXABLE_LAYERS.join(', ')} can`, { field: 'relax' });
    }
  }
  const runtimesFile = configuredRuntimesFile(options.runtimesFile);
  const registry = new RuntimeRegistry([...(runtimesFile === undefined ? [] : loadRuntimesFile(runtimesFile)), ...(options.runtimes ?? [])]);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const cacheDir = options.cacheDir ?? (isRoot ? DEFAULT_CACHE_DIR : false);
  let compileCache: CompileCache | undefined;
  const maxLimits = mergeLimits(DEFAULT_MAX_LIMITS, options.maxLimits, 'maxLimits');
  const defaultLimits = mergeLimits(DEFAULT_LIMITS, options.defaultLimits, 'defaultLimits');
  for (const name of LIMIT_NAMES) defaultLimits[name] = Math.min(defaultLimits[name], maxLimits[name]);
  const policy: ValidationPolicy = {
    maxLimits,
    defaultLimits,
    bounds: { ...DEFAULT_REQUEST_BOUNDS, ...options.requestBounds },
    defaultEntry: (language) => registry.find(language)?.entry ?? 'main',
    languageLimits: (language) => registry.find(language)?.limits,
  };
  const relax = new Set(options.relax ?? []);
  const uidBase = options.uidBase ?? DEFAULT_UID_BASE;
  const uidCount = options.uidCount ?? Math.max(256, availableParallelism() * 16);
  const identities = new IdentityPool(uidBase, uidCount);
  let closed = false;
  /** What this instance removed at its start (crash recovery), for doctor's report. */
  let cleanedAtStart: OrphanReport | undefined;
  let ready: Promise<Engine> | undefined;
  let engineForStats: Engine | undefined;
  // Slots (a uid and a cgroup each) are created on demand and reused across executions.
  const pool = new ExecutionPool<SandboxSlot>({
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    ...(options.queueLimit === undefined ? {} : { queueLimit: options.queueLimit }),
    createSlot: async () => (await prepare()).createSlot(),
  });
  // Idle slots' (empty) cgroups are removed when the process exits without close().
  const onExit = (): void => pool.destroyIdleSync();
  process.once('exit', onExit);
  const inFlight = new Set<AbortController>();

  const hostOptions = { relax: options.relax ?? [], ...(options.helperPath === undefined ? {} : { helperPath: options.helperPath }), ...(options.bwrapPath === undefined ? {} : { bwrapPath: options.bwrapPath }), ...(options.cgroupRoot === undefined ? {} : { cgroupRoot: options.cgroupRoot }) };

  /** Checks the host once; refuses (naming the layer and the fix) when a layer is missing. */
  function prepare(): Promise<Engine> {
    ready ??= (async () => {
      const report = checkHost(hostOptions);
      const failed = report.checks.find((c) => !c.ok);
      if (failed !== undefined || report.bwrapPath === undefined || report.cgroups === undefined) {
        const c = failed ?? { layer: 'cgroups', detail: 'unavailable', fix: 'run cylo doctor' };
        throw new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', `sandbox unavailable: ${c.layer}: ${c.detail}. Fix: ${c.fix ?? 'run cylo doctor'}`, { layer: c.layer });
      }
      // Crash recovery: what a SIGKILLed cylo left behind (execution cgroups named after an
      // owner that is gone, with any process still inside) is killed and removed before this
      // instance runs anything, and reported through `log`.
      try {
        const cleaned = await cleanOrphans(report.cgroups, uidBase, uidCount);
        cleanedAtStart = cleaned;
        if (cleaned.cgroups.length > 0) {
          options.log?.('warn', `cleaned ${cleaned.cgroups.length} cgroup(s) left by crashed cylo processes, with every process inside: ${cleaned.cgroups.join(', ')}`, { cgroups: cleaned.cgroups });
        }
        if (cleaned.processes.length > 0) {
          options.log?.('warn', `${cleaned.processes.length} process(es) run as a sandbox uid outside any live cylo cgroup (not killed: they may belong to another cylo; see cylo doctor): ${cleaned.processes.map((p) => p.pid).join(', ')}`, { processes: cleaned.processes });
        }
      } catch (error) {
        options.log?.('error', `cleaning what crashed cylo processes left behind failed: ${(error as Error).message}`);
      }
      engineForStats = new Engine({
        prewarmWorkspaceBytes: options.prewarm === false ? undefined : policy.defaultLimits.workspaceBytes,
        // Opened once, when a compiled language first runs; an unsafe directory is refused
        // (CYLO_E_CONFIG) rather than used.
        compileCache: () => {
          if (cacheDir !== false) compileCache ??= CompileCache.open({ dir: cacheDir, maxBytes: options.cacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES });
          return compileCache;
        },
        bwrapPath: report.bwrapPath,
        helperPath: report.helperPath,
        cgroups: report.cgroups,
        identities,
        seccompProgram: relax.has('seccomp') ? undefined : buildSeccompProgram(),
        landlockAbi: report.landlockAbi,
        relax,
      });
      return engineForStats;
    })();
    // A failed check is retried on the next call (the operator may have fixed it).
    ready.catch(() => {
      ready = undefined;
    });
    return ready;
  }

  async function resolveRuntime(language: string, version: string | undefined): Promise<ResolvedRuntime> {
    const runtime = await registry.resolve(language);
    if (!runtime.available) {
      throw new CyloError('CYLO_E_RUNTIME_UNAVAILABLE', `language: ${runtime.problem ?? `${language} is not installed`}`, { field: 'language' });
    }
    if (version !== undefined && !versionMatches(runtime.version ?? '', version)) {
      throw new CyloError('CYLO_E_UNKNOWN_LANGUAGE', `version: ${runtime.definition.id} ${version} is not available (installed: ${runtime.version ?? 'unknown'})`, { field: 'version' });
    }
    return runtime;
  }

  return {
    registry,
    policy,
    async execute(request, execOptions = {}) {
      if (closed) throw new CyloError('CYLO_E_CLOSED', 'this cylo instance is closed; create a new one with createCylo()');
      const normalized = normalizeRequest(request, policy);
      registry.get(normalized.language);
      const runtime = await resolveRuntime(normalized.language, normalized.version);
      const engine = await prepare();
      const controller = new AbortController();
      const outer = execOptions.signal;
      const forward = (): void => controller.abort(outer?.reason);
      if (outer?.aborted === true) controller.abort(outer.reason);
      else outer?.addEventListener('abort', forward, { once: true });
      inFlight.add(controller);
      try {
        // A caller's listener that throws must neither turn the execution into a non-CyloError
        // failure nor crash the process from inside a stream handler: its errors are dropped.
        const listener = execOptions.onEvent;
        const onEvent =
          listener === undefined
            ? undefined
            : (event: ExecutionEvent): void => {
                try {
                  listener(event);
                } catch {
                  // the listener's own bug; the execution goes on
                }
              };
        return await pool.run((slot) => engine.execute(normalized, runtime, slot, { signal: controller.signal, onEvent, stdinStream: execOptions.stdinStream, control: execOptions.control }), controller.signal);
      } finally {
        inFlight.delete(controller);
        outer?.removeEventListener('abort', forward);
      }
    },
    async runtimes() {
      const all = await registry.resolveAll();
      return all.map((r) => ({
        language: r.definition.id,
        aliases: r.definition.aliases,
        version: r.version ?? null,
        extension: r.definition.extension,
        available: r.available,
        compiled: r.definition.compile !== undefined,
        package: r.definition.package,
        problem: r.problem ?? null,
      }));
    },
    async doctor(doctorOptions = {}) {
      const report = checkHost(hostOptions);
      let orphans: DoctorReport['orphans'] = { cgroups: [], processes: [], cleaned: false };
      if (report.cgroups !== undefined) {
        orphans = doctorOptions.clean === true ? { ...(await cleanOrphans(report.cgroups, uidBase, uidCount)), cleaned: true } : { ...findOrphans(report.cgroups, uidBase, uidCount), cleaned: false };
      }
      let smoke = { ok: false, detail: 'not run: a layer above is missing' };
      if (report.ok) {
        try {
          const result = await this.execute({ language: 'bash', code: 'echo ok' });
          smoke = result.status === 'ok' && result.run?.stdout === 'ok\n' ? { ok: true, detail: `a sandboxed "echo ok" ran in ${result.run.wallMs.toFixed(1)} ms` } : { ok: false, detail: `status ${result.status}: ${result.run?.message ?? result.run?.stderr ?? ''}` };
        } catch (error) {
          smoke = { ok: false, detail: (error as Error).message };
        }
      }
      // The smoke execution starts this instance, which removes what it found above: say so.
      if (!orphans.cleaned && orphans.processes.length === 0 && orphans.cgroups.length > 0 && orphans.cgroups.every((c) => cleanedAtStart?.cgroups.includes(c) === true)) orphans = { ...orphans, cleaned: true };
      return { ...report, smoke, orphans };
    },
    stream(request, streamOptions = {}) {
      return streamExecution((onEvent, signal) => this.execute(request, { signal, onEvent }), streamOptions.signal);
    },
    interactive(request, interactiveOptions = {}) {
      return startInteractive(({ onEvent, signal, stdinStream, control }) => this.execute(request, { onEvent, signal, stdinStream, control }), interactiveOptions.signal);
    },
    async warm() {
      await prepare();
      await pool.warm();
    },
    stats() {
      const sandboxes = engineForStats?.sandboxStats ?? { prepared: 0, started: 0 };
      return { ...pool.stats(), sandboxesPrepared: sandboxes.prepared, sandboxesStartedOnDemand: sandboxes.started };
    },
    async close(closeOptions = {}) {
      closed = true;
      process.removeListener('exit', onExit);
      const grace = closeOptions.graceMs;
      const closing = pool.close();
      if (grace === undefined) {
        await closing;
        return;
      }
      const timer = setTimeout(() => {
        for (const c of inFlight) c.abort(new CyloError('CYLO_E_SHUTTING_DOWN', 'cylo closed: the grace period ended'));
      }, grace);
      try {
        await closing;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
