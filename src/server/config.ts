// Configuration of `cylo serve`, from command-line flags, environment variables and an optional
// JSON config file, validated once at start (zod) with messages that name the flag, the variable
// or the file field. Precedence: flags > environment > config file > defaults.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { limitsSchema } from '../api/request.js';
import type { Limits } from '../api/limits.js';
import { CyloError } from '../errors.js';
import { fieldPath, zodIssueToCyloError } from '../api/zod-errors.js';
import { RELAXABLE_LAYERS, type RelaxableLayer } from '../sandbox/host-check.js';
import { parseDuration, parseSize } from '../util/units.js';
import { DEFAULT_BODY_LIMIT, DEFAULT_MAX_CONNECTIONS } from './app.js';
import { checkCorsWithToken, normalizeCorsOrigins, type CorsPolicy } from './cors.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from './logging.js';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 2000;
export const DEFAULT_GRACE_MS = 10_000;

const wholeNumber = (min: number, max: number) =>
  z
    .union([z.number(), z.string().trim().regex(/^\d+$/, 'expected a whole number').transform(Number)])
    .pipe(z.number().int(`expected a whole number`).min(min, `expected at least ${min}`).max(max, `expected at most ${max}`));

const duration = z.union([
  z.number().int().min(0, 'expected 0 or more milliseconds'),
  z.string().transform((text, ctx) => {
    if (/^\s*0+\s*(ms|s|m)?\s*$/i.test(text)) return 0;
    try {
      return parseDuration(text, '');
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected a duration such as 500ms, 10s or 2m (a bare number is seconds)' });
      return z.NEVER;
    }
  }),
]);

const size = z.union([
  z.number().int().positive('expected a positive number of bytes'),
  z.string().transform((text, ctx) => {
    try {
      return parseSize(text, '');
    } catch (error) {
      // parseSize's own text: a bare number gets its hint ("16 has no unit; did you mean 16M?")
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : 'expected a size such as 512k, 16M or 1G' });
      return z.NEVER;
    }
  }),
]);

const flag = z.union([
  z.boolean(),
  z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'], 'expected true or false (1/0)'))
    .transform((v) => ['1', 'true', 'yes', 'on'].includes(v)),
]);

const relaxList = z.union([
  z.array(z.enum(RELAXABLE_LAYERS as [RelaxableLayer, ...RelaxableLayer[]])),
  z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(z.enum(RELAXABLE_LAYERS as [RelaxableLayer, ...RelaxableLayer[]], `only ${RELAXABLE_LAYERS.join(', ')} can be relaxed`))),
]);

/** One source of settings (a config file, the environment or the flags), every field optional. */
export const serverConfigSchema = z.strictObject({
  host: z.string().trim().min(1, 'expected a host name or address').optional(),
  port: wholeNumber(0, 65535).optional(),
  token: z.string().optional(),
  tokenFile: z.string().min(1).optional(),
  insecureNoAuth: flag.optional(),
  concurrency: wholeNumber(1, 4096).optional(),
  queueLimit: wholeNumber(0, 1_000_000).optional(),
  grace: duration.optional(),
  bodyLimit: size.optional(),
  maxConnections: wholeNumber(1, 1_000_000).optional(),
  logLevel: z.enum(LOG_LEVELS).optional(),
  logFormat: z.enum(LOG_FORMATS).optional(),
  relax: relaxList.optional(),
  maxLimits: limitsSchema.optional(),
  defaultLimits: limitsSchema.optional(),
  uidBase: wholeNumber(1000, 4_000_000_000).optional(),
  uidCount: wholeNumber(1, 1_000_000).optional(),
  playground: flag.optional(),
  corsOrigins: z.union([z.array(z.string()), z.string().transform((s) => s.split(','))]).optional(),
});

export type ServerConfigInput = z.input<typeof serverConfigSchema>;
type ServerConfigSource = z.output<typeof serverConfigSchema>;
type Key = keyof ServerConfigSource;

/** The configuration `cylo serve` runs with, every default resolved. */
export interface ServerConfig {
  host: string;
  port: number;
  /** The bearer token, or undefined (no authentication). */
  token: string | undefined;
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
  maxLimits: Partial<Limits> | undefined;
  defaultLimits: Partial<Limits> | undefined;
  uidBase: number | undefined;
  uidCount: number | undefined;
  /** The web playground at / (default true). */
  playground: boolean;
  /** CORS for the API: exact origins or '*', validated (src/server/cors.ts); undefined: off. */
  corsOrigins: CorsPolicy | undefined;
  /** The config file read, if any. */
  configPath: string | undefined;
}

/** Environment variables and the field each sets. */
export const ENV_VARS: Readonly<Record<string, Key>> = {
  CYLO_HOST: 'host',
  CYLO_PORT: 'port',
  CYLO_TOKEN: 'token',
  CYLO_TOKEN_FILE: 'tokenFile',
  CYLO_INSECURE_NO_AUTH: 'insecureNoAuth',
  CYLO_CONCURRENCY: 'concurrency',
  CYLO_QUEUE_LIMIT: 'queueLimit',
  CYLO_GRACE: 'grace',
  CYLO_BODY_LIMIT: 'bodyLimit',
  CYLO_MAX_CONNECTIONS: 'maxConnections',
  CYLO_LOG_LEVEL: 'logLevel',
  CYLO_LOG_FORMAT: 'logFormat',
  CYLO_RELAX: 'relax',
  CYLO_UID_BASE: 'uidBase',
  CYLO_UID_COUNT: 'uidCount',
  CYLO_PLAYGROUND: 'playground',
  CYLO_CORS_ORIGINS: 'corsOrigins',
};

/** Command-line flags and the field each sets. */
export const FLAGS: Readonly<Partial<Record<Key, string>>> = {
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
};

/** Validates one source; `name(path)` says how the user spells a field in that source. */
function parseSource(raw: Record<string, unknown>, name: (path: PropertyKey[]) => string): ServerConfigSource {
  const parsed = serverConfigSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw zodIssueToCyloError(parsed.error, raw, { code: 'CYLO_E_CONFIG', fieldName: name, unknownKey: 'unknown setting', schemaHint: 'docs/http.md' });
}


export interface LoadConfigOptions {
  /** Flag values as given on the command line (strings, or true for switches). */
  flags?: Partial<Record<Key, string | boolean>>;
  /** The config file (--config); CYLO_CONFIG otherwise. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CyloError('CYLO_E_CONFIG', `config file ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { field: 'config' });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CyloError('CYLO_E_CONFIG', `config file ${path}: not valid JSON (${(error as Error).message})`, { field: 'config' });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new CyloError('CYLO_E_CONFIG', `config file ${path}: expected a JSON object`, { field: 'config' });
  return json as Record<string, unknown>;
}

function readTokenFile(path: string, where: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CyloError('CYLO_E_CONFIG', `${where}: cannot read the token file ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { field: where });
  }
  const token = text.trim();
  if (token === '') throw new CyloError('CYLO_E_CONFIG', `${where}: the token file ${path} is empty`, { field: where });
  if (/\s/.test(token)) throw new CyloError('CYLO_E_CONFIG', `${where}: the token in ${path} contains whitespace; a bearer token is one word`, { field: where });
  return token;
}

/** The config file's settings, validated (none without a config file). */
function fileSource(configPath: string | undefined): ServerConfigSource {
  return configPath === undefined ? {} : parseSource(readConfigFile(configPath), (p) => `config file ${configPath}: ${fieldPath(p)}`);
}

/** The settings of the CYLO_* variables that are set and not empty, validated, and the variable
 *  that set each field (for messages). */
function envSource(env: NodeJS.ProcessEnv): { values: ServerConfigSource; envName: Map<string, string> } {
  const rawEnv: Record<string, unknown> = {};
  const envName = new Map<string, string>();
  for (const [name, key] of Object.entries(ENV_VARS)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    rawEnv[key] = v;
    envName.set(key, name);
  }
  return { values: parseSource(rawEnv, (p) => envName.get(String(p[0])) ?? fieldPath(p)), envName };
}

/** The settings given as flags, validated. */
function flagSource(flags: LoadConfigOptions['flags']): ServerConfigSource {
  const rawFlags: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(flags ?? {})) if (v !== undefined) rawFlags[key] = v;
  return parseSource(rawFlags, (p) => FLAGS[p[0] as Key] ?? fieldPath(p));
}

/** One source of settings: its label, its values, and how the user spells a field in it. */
type Source = [label: string, values: ServerConfigSource, name: (key: Key) => string];

/** Every source, validated (the file first, then the environment, then the flags), listed in
 *  precedence order: flags, environment, config file. */
function readSources(options: LoadConfigOptions, env: NodeJS.ProcessEnv, configPath: string | undefined): Source[] {
  const fromFile = fileSource(configPath);
  const { values: fromEnv, envName } = envSource(env);
  const fromFlags = flagSource(options.flags);
  return [
    ['flags', fromFlags, (k) => FLAGS[k] ?? k],
    ['environment', fromEnv, (k) => envName.get(k) ?? k],
    ['config file', fromFile, (k) => `config file ${configPath ?? ''}: ${k}`],
  ];
}

/** The token: the first source (in precedence order) that gives one, as text or as a file (a
 *  config file's token file is relative to the config file). */
function resolveToken(sources: Source[], configPath: string | undefined): Pick<ServerConfig, 'token' | 'tokenSource'> {
  for (const [label, source, name] of sources) {
    if (source.token !== undefined && source.tokenFile !== undefined) {
      throw new CyloError('CYLO_E_CONFIG', `${name('token')}: give either a token or a token file, not both`, { field: name('token') });
    }
    if (source.token !== undefined) {
      const token = source.token.trim();
      const tokenSource = name('token');
      if (token === '' || /\s/.test(token)) throw new CyloError('CYLO_E_CONFIG', `${tokenSource}: must be one word (no whitespace) and not empty`, { field: tokenSource });
      return { token, tokenSource };
    }
    if (source.tokenFile !== undefined) {
      const file = label === 'config file' && configPath !== undefined ? resolve(dirname(configPath), source.tokenFile) : source.tokenFile;
      const tokenSource = `${name('tokenFile')} (${file})`;
      return { token: readTokenFile(file, name('tokenFile')), tokenSource };
    }
  }
  return { token: undefined, tokenSource: undefined };
}

/** Each setting from the first source (in precedence order) that gives it, else its default. */
function mergeSources(sources: Source[], { token, tokenSource }: Pick<ServerConfig, 'token' | 'tokenSource'>, configPath: string | undefined): ServerConfig {
  const pick = <K extends Key>(key: K): ServerConfigSource[K] | undefined => {
    for (const [, source] of sources) if (source[key] !== undefined) return source[key];
    return undefined;
  };
  const concurrency = pick('concurrency') ?? availableParallelism();
  return {
    host: pick('host') ?? DEFAULT_HOST,
    port: pick('port') ?? DEFAULT_PORT,
    token,
    tokenSource,
    insecureNoAuth: pick('insecureNoAuth') ?? false,
    concurrency,
    queueLimit: pick('queueLimit') ?? concurrency * 16,
    graceMs: pick('grace') ?? DEFAULT_GRACE_MS,
    bodyLimit: pick('bodyLimit') ?? DEFAULT_BODY_LIMIT,
    maxConnections: pick('maxConnections') ?? DEFAULT_MAX_CONNECTIONS,
    logLevel: pick('logLevel') ?? 'info',
    logFormat: pick('logFormat') ?? 'auto',
    relax: pick('relax') ?? [],
    maxLimits: pick('maxLimits'),
    defaultLimits: pick('defaultLimits'),
    uidBase: pick('uidBase'),
    uidCount: pick('uidCount'),
    playground: pick('playground') ?? true,
    corsOrigins: corsPolicy(sources, token),
    configPath,
  };
}

/** The CORS origins from the first source that gives them, validated, naming that source's
 *  spelling in errors (an empty list is off). */
function corsPolicy(sources: Source[], token: string | undefined): CorsPolicy | undefined {
  for (const [, source, name] of sources) {
    if (source.corsOrigins === undefined) continue;
    const policy = normalizeCorsOrigins(source.corsOrigins, name('corsOrigins'));
    if (policy !== '*' && policy.length === 0) return undefined;
    checkCorsWithToken(policy, token, name('corsOrigins'));
    return policy;
  }
  return undefined;
}

/** Reads and validates every source; throws CYLO_E_CONFIG naming the field and its source. */
export function loadServerConfig(options: LoadConfigOptions = {}): ServerConfig {
  const env = options.env ?? process.env;
  const configPath = options.configPath ?? (env.CYLO_CONFIG !== undefined && env.CYLO_CONFIG !== '' ? env.CYLO_CONFIG : undefined);
  const sources = readSources(options, env, configPath);
  return mergeSources(sources, resolveToken(sources, configPath), configPath);
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
