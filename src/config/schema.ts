// The ONE schema of cylo's configuration (docs/configuration.md): every key the config file may
// hold, for every command. `cylo exec`, `watch`, `mcp`, `doctor` and `runtimes` use the shared
// keys (limits, maxima, request bounds, languages, relaxations, concurrency, uid range);
// `cylo serve` also the HTTP keys (listening, token, logs), which it resolves in
// src/server/config.ts. An unknown key is refused by its name, whatever the command, so a typo
// in a file shared by several commands is never silently ignored by one of them.
// Light on purpose: `cylo exec` loads this, so nothing here may import the server or the MCP SDK.
import { z } from 'zod';
import { DEFAULT_REQUEST_BOUNDS, LIMIT_NAMES, type RequestBounds } from '../api/limits.js';
import { ISOLATIONS } from '../api/isolation.js';
import { duration, flag, originList, path, relaxList, size, wholeNumber } from './fields.js';
import { preimportField } from '../environments/preimport.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const positive = (t: typeof duration | typeof size) => t.pipe(z.number().min(1, 'expected more than 0'));

/** A limits object: `*Ms` keys are durations, `*Bytes` keys sizes (JSON numbers: ms, bytes; or
 *  text with a unit: "5m", "512M"), `pids` a whole number. */
const limitsSchema = z.strictObject(
  Object.fromEntries(LIMIT_NAMES.map((n) => [n, (n.endsWith('Ms') ? positive(duration) : n.endsWith('Bytes') ? positive(size) : wholeNumber(1, 1_000_000)).optional()])) as unknown as Record<
    (typeof LIMIT_NAMES)[number],
    z.ZodOptional<z.ZodType<number, unknown>>
  >,
);

/** Request bounds (files, stdin, args): `*Bytes` keys are sizes, the others counts. */
const boundsSchema = z.strictObject(
  Object.fromEntries(Object.keys(DEFAULT_REQUEST_BOUNDS).map((n) => [n, (n.endsWith('Bytes') ? size : wholeNumber(1, 1_000_000_000)).optional()])) as unknown as Record<
    keyof RequestBounds,
    z.ZodOptional<z.ZodType<number, unknown>>
  >,
);

/** The keys every command reads. */
export const sharedKeys = {
  concurrency: wholeNumber(1, 4096).optional(),
  queueLimit: wholeNumber(0, 1_000_000).optional(),
  /** CPUs per execution per wall second (cgroup v2 cpu.max), e.g. 0.5; docs/configuration.md. */
  cpuShare: z
    .union([z.number(), z.string().trim().regex(/^\d+(\.\d+)?$/, 'expected a number of CPUs such as 0.5 or 2').transform(Number)])
    .pipe(z.number().min(0.01, 'expected at least 0.01').max(1024, 'expected at most 1024'))
    .optional(),
  relax: relaxList.optional(),
  maxLimits: limitsSchema.optional(),
  defaultLimits: limitsSchema.optional(),
  requestBounds: boundsSchema.optional(),
  /** A runtimes file (docs/runtimes.md); in a config file, relative to the config file. */
  runtimesFile: path.optional(),
  /** The environments directory (docs/environments.md); in a config file, relative to it. */
  environmentsDir: path.optional(),
  uidBase: wholeNumber(1000, 4_000_000_000).optional(),
  uidCount: wholeNumber(1, 1_000_000).optional(),
  /** The compiler options requests may give (docs/api.md "Compiler options"): regular
   *  expressions, each matched against a whole flag; text: space-separated. */
  allowedCompilerOptions: z.union([z.array(z.string().min(1)), z.string().transform((s) => s.split(/\s+/).filter(Boolean))]).optional(),
  /** The isolation of requests that name none, and the ones requests may ask for
   *  (docs/isolation.md); microvmAllowTcg: software emulation where the host has no KVM. */
  isolation: z.enum(ISOLATIONS).optional(),
  isolations: z.union([z.array(z.enum(ISOLATIONS)).min(1), z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean)).pipe(z.array(z.enum(ISOLATIONS)).min(1))]).optional(),
  microvmAllowTcg: flag.optional(),
  microvmMemoryMiB: wholeNumber(128, 65536).optional(),
  microvmPool: wholeNumber(1, 256).optional(),
  microvmSnapshot: flag.optional(),
  /** Restores one template snapshot serves before a new template is booted (a new guest KASLR
   *  layout); and the virtual machine monitor (docs/isolation.md). */
  microvmSnapshotRestores: wholeNumber(1, 1_000_000).optional(),
  microvmMonitor: z.enum(['qemu', 'firecracker']).optional(),
  /** Pre-started runtimes (docs/security.md "Pre-started runtimes"); false: every runtime cold. */
  prestart: flag.optional(),
  /** Sandboxes started by the spawner process (no fork on the event loop); false: Node's spawn. */
  spawner: flag.optional(),
  /** Pre-started Python runtimes forked from a zygote (docs/security.md "The Python zygote"). */
  zygote: flag.optional(),
  /** Pre-imports of named environments (docs/environments.md "Pre-imports"). */
  preimport: preimportField.optional(),
};

/** The keys only `cylo serve` reads (HTTP). */
export const httpKeys = {
  host: z.string().trim().min(1, 'expected a host name or address').optional(),
  port: wholeNumber(0, 65535).optional(),
  token: z.string().optional(),
  tokenFile: path.optional(),
  insecureNoAuth: flag.optional(),
  grace: duration.optional(),
  bodyLimit: size.optional(),
  maxConnections: wholeNumber(1, 1_000_000).optional(),
  logLevel: z.enum(LOG_LEVELS).optional(),
  logFormat: z.enum(LOG_FORMATS).optional(),
  /** Browser origins allowed at /mcp besides loopback ones (docs/mcp.md). */
  mcpAllowedOrigins: originList.optional(),
  /** The environments MCP clients may use (docs/mcp.md); unset: all; [] or "": none. */
  mcpEnvironments: z.union([z.array(z.string().min(1).max(64)), z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))]).optional(),
  /** The web playground at / (docs/playground.md); default on. */
  playground: flag.optional(),
  /** The interactive API page at /docs (docs/http.md#api-page); default on. */
  docs: flag.optional(),
  /** CORS for the API: exact origins, or "*" (only with a token); validated by
   *  src/server/cors.ts, which names the source (docs/http.md#cors). */
  corsOrigins: z.union([z.array(z.string()), z.string().transform((s) => s.split(','))]).optional(),
  /** The Judge0-compatible API (docs/judge0.md): mounted, where, and also at the root. */
  judge0: flag.optional(),
  judge0Prefix: z.string().trim().regex(/^\/?[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*\/?$/, 'expected a URL path such as /judge0').optional(),
  judge0Root: flag.optional(),
  // Submissions (docs/submissions.md): the database directory, retention, webhooks.
  dataDir: path.optional(),
  retention: duration.optional(),
  webhookAllow: z.union([z.array(z.string().trim().min(1)), z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))]).optional(),
  webhookSecret: z.string().trim().min(32, 'expected at least 32 characters (e.g. openssl rand -hex 32)').optional(),
  webhookAttempts: wholeNumber(1, 20).optional(),
  webhookBackoff: duration.optional(),
  webhookTimeout: duration.optional(),
  // Stateful sessions (docs/sessions.md): how many may be open at once.
  maxSessions: wholeNumber(0, 10_000).optional(),
  /** Queue mode (docs/scaling.md): the Redis URL of the job queue, read by `cylo serve` (an API
   *  node) and `cylo worker`; checked in full by src/queue/connection.ts. */
  queue: z.string().trim().regex(/^rediss?:\/\/[^/\s]+/, 'expected redis://[:PASSWORD@]HOST[:PORT][/DB] or rediss://... (TLS)').optional(),
};

/** One source of settings (a config file, the environment or the flags), every key optional. */
export const configSchema = z.strictObject({ ...sharedKeys, ...httpKeys });

export type ConfigValues = z.output<typeof configSchema>;
export type ConfigKey = keyof ConfigValues;

/** Environment variables and the key each sets (the same for every command). */
export const ENV_VARS: Readonly<Record<string, ConfigKey>> = {
  CYLO_HOST: 'host',
  CYLO_PORT: 'port',
  CYLO_TOKEN: 'token',
  CYLO_TOKEN_FILE: 'tokenFile',
  CYLO_INSECURE_NO_AUTH: 'insecureNoAuth',
  CYLO_CONCURRENCY: 'concurrency',
  CYLO_QUEUE_LIMIT: 'queueLimit',
  CYLO_CPU_SHARE: 'cpuShare',
  CYLO_GRACE: 'grace',
  CYLO_BODY_LIMIT: 'bodyLimit',
  CYLO_MAX_CONNECTIONS: 'maxConnections',
  CYLO_LOG_LEVEL: 'logLevel',
  CYLO_LOG_FORMAT: 'logFormat',
  CYLO_MCP_ALLOWED_ORIGINS: 'mcpAllowedOrigins',
  CYLO_MCP_ENVIRONMENTS: 'mcpEnvironments',
  CYLO_PLAYGROUND: 'playground',
  CYLO_DOCS: 'docs',
  CYLO_CORS_ORIGINS: 'corsOrigins',
  CYLO_DATA_DIR: 'dataDir',
  CYLO_RETENTION: 'retention',
  CYLO_WEBHOOK_ALLOW: 'webhookAllow',
  CYLO_WEBHOOK_SECRET: 'webhookSecret',
  CYLO_WEBHOOK_ATTEMPTS: 'webhookAttempts',
  CYLO_WEBHOOK_BACKOFF: 'webhookBackoff',
  CYLO_WEBHOOK_TIMEOUT: 'webhookTimeout',
  CYLO_MAX_SESSIONS: 'maxSessions',
  CYLO_RELAX: 'relax',
  CYLO_PRESTART: 'prestart',
  CYLO_SPAWNER: 'spawner',
  CYLO_ZYGOTE: 'zygote',
  CYLO_PREIMPORT: 'preimport',
  CYLO_RUNTIMES_FILE: 'runtimesFile',
  CYLO_ENVIRONMENTS_DIR: 'environmentsDir',
  CYLO_UID_BASE: 'uidBase',
  CYLO_UID_COUNT: 'uidCount',
  CYLO_ALLOWED_COMPILER_OPTIONS: 'allowedCompilerOptions',
  CYLO_JUDGE0: 'judge0',
  CYLO_JUDGE0_PREFIX: 'judge0Prefix',
  CYLO_JUDGE0_ROOT: 'judge0Root',
  CYLO_QUEUE: 'queue',
  CYLO_ISOLATION: 'isolation',
  CYLO_ISOLATIONS: 'isolations',
  CYLO_MICROVM_ALLOW_TCG: 'microvmAllowTcg',
  CYLO_MICROVM_MEMORY_MIB: 'microvmMemoryMiB',
  CYLO_MICROVM_POOL: 'microvmPool',
  CYLO_MICROVM_SNAPSHOT: 'microvmSnapshot',
  CYLO_MICROVM_SNAPSHOT_RESTORES: 'microvmSnapshotRestores',
  CYLO_MICROVM_MONITOR: 'microvmMonitor',
};
