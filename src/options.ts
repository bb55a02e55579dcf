// The library's options, normalised then validated in one step (as execa does): every field is
// checked against one schema that rejects unknown keys (a typo such as `concurency` is an error,
// not silently ignored), defaults are filled in, and the result is a complete, frozen
// NormalizedOptions. Every message has the same shape: `<field>: <what was expected> (got ...)`,
// code CYLO_E_CONFIG. Other layers receive normalised options and check nothing again.
import { preimportSchema, resolvePreimports, type Preimports } from './environments/preimport.js';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { DEFAULT_LIMITS, DEFAULT_MAX_LIMITS, DEFAULT_REQUEST_BOUNDS, LIMIT_NAMES, type Limits, type RequestBounds } from './api/limits.js';
import { zodIssueToCyloError } from './api/zod-errors.js';
import { CyloError } from './errors.js';
import type { RuntimeDefinitionInput } from './runtimes/definition.js';
import { RELAXABLE_LAYERS, type RelaxableLayer } from './sandbox/host-check.js';
import { DEFAULT_UID_BASE } from './sandbox/identity.js';
import { DEFAULT_ENVIRONMENTS_DIR } from './environments/store.js';
import { DEFAULT_SESSION_SETTINGS, type SessionSettings } from './sessions/manager.js';
import { DEFAULT_CACHE_DIR, DEFAULT_CACHE_MAX_BYTES } from './engine/compile-cache.js';
import { ISOLATIONS, type Isolation } from './api/isolation.js';
import { compileAllowlist, DEFAULT_ALLOWED_COMPILER_OPTIONS } from './api/compiler-options.js';

export type CyloLogLevel = 'info' | 'warn' | 'error';

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
  /** First host uid used for sandboxes (each concurrent execution gets its own). Unset: each
   *  cylo instance claims a free range of its own from 2,000,000,000 up (a lock under
   *  /run/cylo/ranges that a crashed process releases). Set: exactly this range, refused
   *  (CYLO_E_CONFIG) while another live instance holds any part of it. */
  uidBase?: number;
  /** How many uids the range has (default: 16 per core, at least 256). */
  uidCount?: number;
  bwrapPath?: string;
  helperPath?: string;
  cgroupRoot?: string;
  /** Executions running at once (default: the number of cores). */
  concurrency?: number;
  /** CPUs each execution (each session) may use per wall-clock second, enforced by cgroup v2's
   *  cpu.max: 1 = one CPU's worth, 0.5 = half of one, 2 = two (a multi-threaded program);
   *  0.01 to 1024. Unset: no cap (the CPU-time limit still bounds the total). Refused on cgroup
   *  v1 hosts (CYLO_E_SANDBOX_UNAVAILABLE, layer cgroups). */
  cpuShare?: number;
  /** Executions waiting for a free slot before CYLO_E_QUEUE_FULL (default: 16 x concurrency). */
  queueLimit?: number;
  /** Each idle slot prepares its next sandbox ahead of time, so that bubblewrap's setup is not
   *  on the request's path (default true; used by runtimes under /usr with the default
   *  workspace). Alias: `prewarm`. */
  prepare?: boolean;
  /** @deprecated the earlier name of `prepare`. */
  prewarm?: boolean;
  /** A prepared sandbox also starts its language runtime ahead of time (Python, JavaScript:
   *  the runtime's `prestart`), waiting for the program; a request hands over only the program
   *  (docs/security.md, "Pre-started runtimes"). Default true; needs `prepare`. false: every
   *  runtime starts cold (the same sandbox, the same layers). */
  prestart?: boolean;
  /** Sandboxes are started by the spawner, a helper process started once per instance that
   *  forks for the service (native/spawner.c), so the event loop never forks (docs/security.md
   *  "The spawner"). Default true. false: Node's child_process.spawn for each sandbox (the
   *  same sandbox, the same layers), which forks the whole service each time: 0.5-1.3 ms of a
   *  blocked event loop per sandbox (BENCHMARKS.md). */
  spawner?: boolean;
  /** Pre-started Python runtimes are forked from a zygote (one trusted, initialised, never-used
   *  interpreter per job and view) into each prepared sandbox, instead of each starting its own
   *  interpreter (docs/security.md "The Python zygote"). Default false. Needs `prestart` and the
   *  zygote module (built with python3-dev: dist/native/zygote); refused when it is missing. */
  zygote?: boolean;
  /** Named environments whose pre-started Python runtimes import modules before they wait
   *  (environment name -> module names; docs/environments.md "Pre-imports"). Merged over the
   *  default `{ datasci: ['numpy', 'pandas'] }`; an empty list turns one off. */
  preimport?: Record<string, string[]>;
  /** Where cylo reports what it did on its own (e.g. orphans cleaned at start). */
  log?: (level: CyloLogLevel, message: string, fields?: Record<string, unknown>) => void;
  /** An operator's runtimes file (JSON, see docs/runtimes.md) adding or overriding languages.
   *  Default: $CYLO_RUNTIMES_FILE, else /etc/cylo/runtimes.json when it exists; false: none.
   *  `runtimes` given here are applied after the file's. */
  runtimesFile?: string | false;
  /** The environments directory (docs/environments.md): built environments, root-owned.
   *  Default: $CYLO_ENVIRONMENTS_DIR, else /var/lib/cylo/environments. */
  environmentsDir?: string;
  /** The compile cache directory (created 0700; must be owned by cylo's user). Default:
   *  /var/cache/cylo/compile when running as root; false: no compile cache. */
  cacheDir?: string | false;
  /** Bound on the compile cache's total size; least recently used entries go first (default 512 MiB). */
  cacheMaxBytes?: number;
  /** The compiler options requests may give (`compilerOptions`): regular expressions, each
   *  matched against a whole flag (default DEFAULT_ALLOWED_COMPILER_OPTIONS: -O levels, -std,
   *  -DNAME[=VALUE], warnings, -g, -lm...). Flags that load code or read host files (-fplugin,
   *  -B, -wrapper, @file, -specs, -include, -I, -o...) are refused whatever this says. [] : none. */
  allowedCompilerOptions?: string[];
  /** Sessions open at once (each holds a sandbox, a uid and a cgroup of its own; default 8). */
  maxSessions?: number;
  /** A session without requests for this long is destroyed (default 10 minutes). */
  sessionIdleTimeoutMs?: number;
  /** The longest a session may live (default and maximum of `lifetimeMs`: 1 hour). */
  sessionMaxLifetimeMs?: number;
  /** The largest file a session uploads or downloads (default 16 MiB). */
  sessionFileMaxBytes?: number;
  /** The isolation a request gets when it names none (default "namespaces"; docs/isolation.md). */
  isolation?: Isolation;
  /** The isolations requests may ask for (default both); ["microvm"] makes the VM the only one. */
  isolations?: Isolation[];
  /** Allow the microVM backend to run under QEMU's software emulation (TCG) when the host has no
   *  hardware KVM (default false; the CLI and server read CYLO_MICROVM_ALLOW_TCG=1 and the config
   *  key microvmAllowTcg). Slow, but still a separate guest kernel. */
  microvmAllowTcg?: boolean;
  /** Guest RAM of each VM in MiB (default: the larger default memory limit + 96). A stage's
   *  memory limit may be at most this minus 96. */
  microvmMemoryMiB?: number;
  /** VMs kept booted ahead of requests (the microvm pool's concurrency; default 1). */
  microvmPool?: number;
  /** Start pool VMs by restoring a snapshot of one booted template VM (default true); false:
   *  every VM cold-boots. A snapshot that cannot be made falls back to cold boots (logged). */
  microvmSnapshot?: boolean;
  /** Restores one template snapshot serves before the next VM boots a new template (default
   *  32): every clone of a template shares its guest kernel's KASLR layout, so a new template
   *  every N restores bounds how many executions one learned layout applies to. */
  microvmSnapshotRestores?: number;
  /** The virtual machine monitor: "qemu" (default) or "firecracker" (a firecracker binary on
   *  PATH or at CYLO_FIRECRACKER, and hardware KVM; refused otherwise, never replaced by QEMU). */
  microvmMonitor?: 'qemu' | 'firecracker';
  /** How long a VM may take to boot (default 60 s: software emulation on a loaded host). */
  microvmBootTimeoutMs?: number;
  /** Tests only: the first N VMs this instance boots panic their guest kernel when a stage
   *  arrives (a guest kernel crash, to prove it ends as internal_error and the pool recovers). */
  microvmTestPanicVms?: number;
}


/** Restores per template snapshot by default (microvmSnapshotRestores). */
export const DEFAULT_SNAPSHOT_RESTORES = 32;

/** The microVM settings, normalised. */
export interface MicrovmOptions {
  allowTcg: boolean;
  memoryMiB: number;
  pool: number;
  /** Restore pool VMs from a template snapshot (microvmSnapshot). */
  snapshot: boolean;
  /** Restores per template snapshot before a new one is made (microvmSnapshotRestores). */
  snapshotRestores: number;
  /** The virtual machine monitor (microvmMonitor). */
  monitor: 'qemu' | 'firecracker';
  bootTimeoutMs: number;
  /** Tests only: how many of the first VMs panic (microvmTestPanicVms). */
  testPanicVms: number;
}

/** CyloOptions with every default filled in and every value checked. */
export interface NormalizedOptions {
  runtimes: RuntimeDefinitionInput[];
  runtimesFile: string | false | undefined;
  environmentsDir: string;
  defaultLimits: Limits;
  maxLimits: Limits;
  requestBounds: RequestBounds;
  relax: ReadonlySet<RelaxableLayer>;
  uidBase: number;
  uidCount: number;
  /** Whether the operator pinned uidBase (else the instance claims a free range at setup). */
  uidBasePinned: boolean;
  host: { relax: RelaxableLayer[]; bwrapPath?: string; helperPath?: string; cgroupRoot?: string };
  concurrency: number;
  /** CPUs per execution per wall second (cgroup v2 cpu.max); undefined: no cap. */
  cpuShare: number | undefined;
  queueLimit: number;
  prepare: boolean;
  prestart: boolean;
  spawner: boolean;
  zygote: boolean;
  preimport: Preimports;
  log: (level: CyloLogLevel, message: string, fields?: Record<string, unknown>) => void;
  cacheDir: string | false;
  cacheMaxBytes: number;
  allowedCompilerOptions: readonly RegExp[];
  sessions: SessionSettings;
  isolation: Isolation;
  isolations: readonly Isolation[];
  microvm: MicrovmOptions;
}

const positiveInt = z.number().int().positive();
const limitsSchema = z.strictObject(Object.fromEntries(LIMIT_NAMES.map((n) => [n, positiveInt.optional()])) as Record<keyof Limits, z.ZodOptional<typeof positiveInt>>);
const boundsSchema = z.strictObject(Object.fromEntries(Object.keys(DEFAULT_REQUEST_BOUNDS).map((n) => [n, positiveInt.optional()])) as Record<keyof RequestBounds, z.ZodOptional<typeof positiveInt>>);
const fn = z.custom<NonNullable<CyloOptions['log']>>((v) => typeof v === 'function', { message: 'expected a function' });
const path = z.string().min(1);

const optionsSchema = z.strictObject({
  runtimes: z.array(z.unknown()).optional(), // each definition is checked by the runtime registry
  defaultLimits: limitsSchema.optional(),
  maxLimits: limitsSchema.optional(),
  requestBounds: boundsSchema.optional(),
  relax: z.array(z.enum(RELAXABLE_LAYERS as [RelaxableLayer, ...RelaxableLayer[]])).optional(),
  uidBase: z.number().int().min(1000).optional(),
  uidCount: positiveInt.optional(),
  bwrapPath: path.optional(),
  helperPath: path.optional(),
  cgroupRoot: path.optional(),
  concurrency: positiveInt.optional(),
  cpuShare: z.number().min(0.01).max(1024).optional(),
  queueLimit: z.number().int().min(0).optional(),
  prepare: z.boolean().optional(),
  prewarm: z.boolean().optional(),
  prestart: z.boolean().optional(),
  spawner: z.boolean().optional(),
  zygote: z.boolean().optional(),
  preimport: preimportSchema.optional(),
  log: fn.optional(),
  runtimesFile: z.union([path, z.literal(false)]).optional(),
  environmentsDir: path.optional(),
  cacheDir: z.union([path, z.literal(false)]).optional(),
  cacheMaxBytes: positiveInt.optional(),
  allowedCompilerOptions: z.array(z.string().min(1)).optional(),
  maxSessions: z.number().int().min(0).optional(),
  sessionIdleTimeoutMs: positiveInt.optional(),
  sessionMaxLifetimeMs: positiveInt.optional(),
  sessionFileMaxBytes: positiveInt.max(256 * 1024 * 1024).optional(),
  isolation: z.enum(ISOLATIONS).optional(),
  isolations: z.array(z.enum(ISOLATIONS)).min(1).optional(),
  microvmAllowTcg: z.boolean().optional(),
  microvmMemoryMiB: z.number().int().min(128).max(65536).optional(),
  microvmPool: z.number().int().min(1).max(256).optional(),
  microvmSnapshot: z.boolean().optional(),
  microvmSnapshotRestores: z.number().int().min(1).max(1_000_000).optional(),
  microvmMonitor: z.enum(['qemu', 'firecracker']).optional(),
  microvmBootTimeoutMs: positiveInt.optional(),
  microvmTestPanicVms: z.number().int().min(0).optional(),
});

const EXPLAIN: Record<string, string> = {
  relax: `expected a list of layers that can be relaxed: ${RELAXABLE_LAYERS.join(', ')}`,
};

/** Normalises and validates createCylo's options. Throws CYLO_E_CONFIG naming the field. */
export function normalizeOptions(input: CyloOptions = {}): NormalizedOptions {
  const parsed = optionsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const root = issue?.path[0];
    const explain = typeof root === 'string' && root in EXPLAIN ? { [String(issue?.path.join('.'))]: EXPLAIN[root] as string } : {};
    throw zodIssueToCyloError(parsed.error, input, { code: 'CYLO_E_CONFIG', schemaHint: 'the CyloOptions type in docs/api.md', explain });
  }
  const o = parsed.data;
  const maxLimits: Limits = { ...DEFAULT_MAX_LIMITS, ...o.maxLimits };
  const defaults: Limits = { ...DEFAULT_LIMITS, ...o.defaultLimits };
  for (const name of LIMIT_NAMES) defaults[name] = Math.min(defaults[name], maxLimits[name]);
  const concurrency = o.concurrency ?? availableParallelism();
  const uidCount = o.uidCount ?? Math.max(256, availableParallelism() * 16);
  const uidBase = o.uidBase ?? DEFAULT_UID_BASE;
  if (uidBase + uidCount > 0xfffffffe) throw new CyloError('CYLO_E_CONFIG', `uidBase: ${uidBase} + uidCount ${uidCount} goes past the largest uid (${0xfffffffe}); lower one of them`, { field: 'uidBase' });
  const sessions: SessionSettings = {
    // Unset: the default, as far as the uid range leaves room beside the executions (a small
    // uidCount then gets fewer sessions, or none); set: it must fit (below).
    maxSessions: o.maxSessions ?? Math.max(0, Math.min(DEFAULT_SESSION_SETTINGS.maxSessions, uidCount - concurrency)),
    sessionIdleTimeoutMs: o.sessionIdleTimeoutMs ?? DEFAULT_SESSION_SETTINGS.sessionIdleTimeoutMs,
    sessionMaxLifetimeMs: o.sessionMaxLifetimeMs ?? DEFAULT_SESSION_SETTINGS.sessionMaxLifetimeMs,
    sessionFileMaxBytes: o.sessionFileMaxBytes ?? DEFAULT_SESSION_SETTINGS.sessionFileMaxBytes,
  };
  // Every running execution and every session holds a uid of the range at once.
  if (concurrency + sessions.maxSessions > uidCount) throw new CyloError('CYLO_E_CONFIG', `uidCount: ${uidCount} uids cannot hold concurrency ${concurrency} plus maxSessions ${sessions.maxSessions} at once; raise uidCount or lower one of them`, { field: 'uidCount' });
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const isolations = [...new Set(o.isolations ?? ISOLATIONS)];
  const isolation = o.isolation ?? (isolations.includes('namespaces') ? 'namespaces' : 'microvm');
  if (!isolations.includes(isolation)) throw new CyloError('CYLO_E_CONFIG', `isolation: "${isolation}" is not among isolations (${isolations.join(', ')}); add it or pick another default`, { field: 'isolation' });
  const microvm: MicrovmOptions = {
    allowTcg: o.microvmAllowTcg ?? false,
    memoryMiB: o.microvmMemoryMiB ?? Math.ceil(Math.max(defaults.memoryBytes, defaults.compileMemoryBytes) / 2 ** 20) + 96,
    pool: o.microvmPool ?? 1,
    snapshot: o.microvmSnapshot ?? true,
    snapshotRestores: o.microvmSnapshotRestores ?? DEFAULT_SNAPSHOT_RESTORES,
    monitor: o.microvmMonitor ?? 'qemu',
    bootTimeoutMs: o.microvmBootTimeoutMs ?? 60_000,
    testPanicVms: o.microvmTestPanicVms ?? 0,
  };
  const relax = o.relax ?? [];
  return Object.freeze({
    runtimes: (o.runtimes ?? []) as RuntimeDefinitionInput[],
    runtimesFile: o.runtimesFile,
    environmentsDir: o.environmentsDir ?? process.env.CYLO_ENVIRONMENTS_DIR ?? DEFAULT_ENVIRONMENTS_DIR,
    defaultLimits: defaults,
    maxLimits,
    requestBounds: { ...DEFAULT_REQUEST_BOUNDS, ...o.requestBounds },
    relax: new Set(relax),
    uidBase,
    uidCount,
    uidBasePinned: o.uidBase !== undefined,
    host: { relax, ...(o.bwrapPath === undefined ? {} : { bwrapPath: o.bwrapPath }), ...(o.helperPath === undefined ? {} : { helperPath: o.helperPath }), ...(o.cgroupRoot === undefined ? {} : { cgroupRoot: o.cgroupRoot }) },
    concurrency,
    cpuShare: o.cpuShare,
    queueLimit: o.queueLimit ?? concurrency * 16,
    prepare: o.prepare ?? o.prewarm ?? true,
    prestart: o.prestart ?? true,
    spawner: o.spawner ?? true,
    zygote: o.zygote ?? false,
    preimport: resolvePreimports(o.preimport),
    log: o.log ?? (() => {}),
    cacheDir: o.cacheDir ?? (isRoot ? DEFAULT_CACHE_DIR : false),
    cacheMaxBytes: o.cacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES,
    allowedCompilerOptions: compileAllowlist(o.allowedCompilerOptions ?? DEFAULT_ALLOWED_COMPILER_OPTIONS),
    sessions,
    isolation,
    isolations,
    microvm,
  });
}
