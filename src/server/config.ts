// Configuration of `cylo serve`: the shared configuration (src/config/load.ts: the config file,
// CYLO_* variables and flags, flags > environment > file, one schema for every command) plus
// what only the HTTP service reads — where it listens, its token, its grace period, body and
// connection bounds, its logs — with their defaults, validated once at start.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import type { Limits } from '../api/limits.js';
import type { CyloOptions } from '../cylo.js';
import { CyloError } from '../errors.js';
import { cyloOptionsFromConfig, loadConfig, type ConfigSource, type LoadedConfig } from '../config/load.js';
import type { ConfigKey, LogFormat, LogLevel } from '../config/schema.js';
import type { RelaxableLayer } from '../sandbox/host-check.js';
import { DEFAULT_BODY_LIMIT, DEFAULT_MAX_CONNECTIONS } from './app.js';
import { checkCorsWithToken, normalizeCorsOrigins, type CorsPolicy } from './cors.js';
import { DEFAULT_DATA_DIR } from '../submissions/data-dir.js';
import { DEFAULT_RETENTION_MS } from '../submissions/service.js';
import { DEFAULT_WEBHOOK_ALLOW } from '../submissions/webhook-allow.js';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 2000;
export const DEFAULT_GRACE_MS = 10_000;

/** The configuration `cylo serve` runs with, every default resolved. */
export interface ServerConfig {
  host: string;
  port: number;
  /** The bearer token, or undefined (no authentication); the first of `tokens`. */
  token: string | undefined;
  /** Every accepted API key (a token file may list several, one per line); each key sees only
   *  its own submissions. Undefined without authentication. */
  tokens: string[] | undefined;
  /** Where the token came from (for the log), never the token itself. */
  tokenSource: string | undefined;
  insecureNoAuth: boolean;
  concurrency: number;
  queueLimit: number;
  graceMs: number;
  bodyLimit: number;
  maxConnections: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  relax: RelaxableLayer[];
  /** Origins allowed at /mcp besides loopback ones; undefined: the MCP module's own default. */
  mcpAllowedOrigins: string[] | undefined;
  /** The environments MCP clients may use; undefined: all. */
  mcpEnvironments: string[] | undefined;
  maxLimits: Partial<Limits> | undefined;
  defaultLimits: Partial<Limits> | undefined;
  uidBase: number | undefined;
  uidCount: number | undefined;
  /** The web playground at / (default true). */
  playground: boolean;
  /** The interactive API page at /docs (default true). */
  docs: boolean;
  /** CORS for the API: exact origins or '*', validated (src/server/cors.ts); undefined: off. */
  corsOrigins: CorsPolicy | undefined;
  /** The Judge0 API: mounted (default true), at this prefix (default /judge0), and at / too. */
  judge0: { enabled: boolean; prefix: string; root: boolean };
  /** The library options the shared keys give (limits, bounds, languages, relax, uid range). */
  cyloOptions: CyloOptions;
  /** The config file read, if any. */
  configPath: string | undefined;
  /** Submissions (docs/submissions.md): the database directory, retention (ms), webhooks. */
  dataDir: string;
  retentionMs: number;
  webhookAllow: string[];
  webhookSecret: string | undefined;
  webhookAttempts: number;
  webhookBackoffMs: number;
  webhookTimeoutMs: number;
  /** Stateful sessions open at once (unset: the library's default, fitted to the uid range). */
  maxSessions: number | undefined;
  /** Queue mode: the Redis URL of the job queue (docs/scaling.md); undefined: executions run in
   *  this process. */
  queue: string | undefined;
}

/** Command-line flags of `cylo serve` and the key each sets. */
export const FLAGS: Readonly<Partial<Record<ConfigKey, string>>> = {
  host: '--host',
  port: '--port',
  tokenFile: '--token-file',
  insecureNoAuth: '--insecure-no-auth',
  concurrency: '--concurrency',
  queueLimit: '--queue-limit',
  grace: '--grace',
  bodyLimit: '--body-limit',
  maxConnections: '--max-connections',
  logLevel: '--log-level',
  logFormat: '--log-format',
  judge0Prefix: '--judge0-prefix',
  judge0Root: '--judge0-root',
  dataDir: '--data-dir',
  retention: '--retention',
  webhookAllow: '--webhook-allow',
  webhookAttempts: '--webhook-attempts',
  webhookBackoff: '--webhook-backoff',
  webhookTimeout: '--webhook-timeout',
  maxSessions: '--max-sessions',
  queue: '--queue',
};

export interface LoadConfigOptions {
  /** Flag values as given on the command line (strings, or true for switches). */
  flags?: Partial<Record<ConfigKey, string | boolean | undefined>>;
  /** The config file (--config); CYLO_CONFIG, then /etc/cylo/config.json otherwise. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  /** The default config file (tests); false: none. */
  defaultPath?: string | false;
}

/** The keys of a token file: one per line (blank lines and lines starting with # ignored). */
function readTokenFile(path: string, where: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CyloError('CYLO_E_CONFIG', `${where}: cannot read the token file ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { field: where });
  }
  const tokens = text.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  if (tokens.length === 0) throw new CyloError('CYLO_E_CONFIG', `${where}: the token file ${path} is empty`, { field: where });
  if (tokens.some((t) => /\s/.test(t))) throw new CyloError('CYLO_E_CONFIG', `${where}: a token in ${path} contains whitespace; a bearer token is one word (one token per line)`, { field: where });
  return tokens;
}

/** The token: the first source (in precedence order) that gives one, as text or as a file (a
 *  config file's token file is already relative to the config file). */
function resolveToken(sources: ConfigSource[]): Pick<ServerConfig, 'token' | 'tokens' | 'tokenSource'> {
  for (const { values, name } of sources) {
    if (values.token !== undefined && values.tokenFile !== undefined) {
      throw new CyloError('CYLO_E_CONFIG', `${name('token')}: give either a token or a token file, not both`, { field: name('token') });
    }
    if (values.token !== undefined) {
      const token = values.token.trim();
      const tokenSource = name('token');
      if (token === '' || /\s/.test(token)) throw new CyloError('CYLO_E_CONFIG', `${tokenSource}: must be one word (no whitespace) and not empty`, { field: tokenSource });
      return { token, tokens: [token], tokenSource };
    }
    if (values.tokenFile !== undefined) {
      const tokens = readTokenFile(values.tokenFile, name('tokenFile'));
      return { token: tokens[0], tokens, tokenSource: `${name('tokenFile')} (${values.tokenFile})` };
    }
  }
  return { token: undefined, tokens: undefined, tokenSource: undefined };
}

/** The CORS origins from the first source that gives them, validated, naming that source's
 *  spelling in errors (an empty list is off). */
function corsPolicy(sources: ConfigSource[], token: string | undefined): CorsPolicy | undefined {
  for (const { values, name } of sources) {
    if (values.corsOrigins === undefined) continue;
    const policy = normalizeCorsOrigins(values.corsOrigins, name('corsOrigins'));
    if (policy !== '*' && policy.length === 0) return undefined;
    checkCorsWithToken(policy, token, name('corsOrigins'));
    return policy;
  }
  return undefined;
}

/** Every HTTP setting from the merged sources, else its default. */
function withDefaults(loaded: LoadedConfig, token: Pick<ServerConfig, 'token' | 'tokens' | 'tokenSource'>): ServerConfig {
  const v = loaded.values;
  const concurrency = v.concurrency ?? availableParallelism();
  return {
    host: v.host ?? DEFAULT_HOST,
    port: v.port ?? DEFAULT_PORT,
    ...token,
    insecureNoAuth: v.insecureNoAuth ?? false,
    concurrency,
    queueLimit: v.queueLimit ?? concurrency * 16,
    graceMs: v.grace ?? DEFAULT_GRACE_MS,
    bodyLimit: v.bodyLimit ?? DEFAULT_BODY_LIMIT,
    maxConnections: v.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    logLevel: v.logLevel ?? 'info',
    logFormat: v.logFormat ?? 'auto',
    relax: v.relax ?? [],
    mcpAllowedOrigins: v.mcpAllowedOrigins,
    mcpEnvironments: v.mcpEnvironments,
    maxLimits: v.maxLimits,
    defaultLimits: v.defaultLimits,
    uidBase: v.uidBase,
    uidCount: v.uidCount,
    playground: v.playground ?? true,
    docs: v.docs ?? true,
    corsOrigins: corsPolicy(loaded.sources, token.token),
    judge0: { enabled: v.judge0 ?? true, prefix: v.judge0Prefix ?? '/judge0', root: v.judge0Root ?? false },
    cyloOptions: cyloOptionsFromConfig(loaded),
    configPath: loaded.configPath,
    dataDir: v.dataDir ?? DEFAULT_DATA_DIR,
    retentionMs: v.retention ?? DEFAULT_RETENTION_MS,
    webhookAllow: v.webhookAllow ?? [...DEFAULT_WEBHOOK_ALLOW],
    webhookSecret: v.webhookSecret,
    webhookAttempts: v.webhookAttempts ?? 5,
    webhookBackoffMs: v.webhookBackoff ?? 2000,
    webhookTimeoutMs: v.webhookTimeout ?? 5000,
    maxSessions: v.maxSessions,
    queue: v.queue,
  };
}

/** Reads and validates every source; throws CYLO_E_CONFIG naming the field and its source. */
export function loadServerConfig(options: LoadConfigOptions = {}): ServerConfig {
  const loaded = loadConfig({
    flags: options.flags,
    flagNames: FLAGS,
    ...(options.configPath === undefined ? {} : { configPath: options.configPath }),
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.defaultPath === undefined ? {} : { defaultPath: options.defaultPath }),
  });
  return withDefaults(loaded, resolveToken(loaded.sources));
}

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h) || h === '0:0:0:0:0:0:0:1';
  return false;
}

/** Refuses to expose code execution without a token, unless explicitly told to. */
export function checkExposure(config: Pick<ServerConfig, 'host' | 'token' | 'insecureNoAuth'>): void {
  if (config.token !== undefined || config.insecureNoAuth || isLoopbackHost(config.host)) return;
  throw new CyloError(
    'CYLO_E_CONFIG',
    `refusing to listen on ${config.host} without a token: anyone who can reach it could run code on this machine. Set CYLO_TOKEN or --token-file (or "token"/"tokenFile" in the config file), bind 127.0.0.1, or pass --insecure-no-auth if something in front of cylo authenticates`,
    { field: 'host' },
  );
}
