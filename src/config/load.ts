// Reads cylo's configuration for any command: the config file (--config FILE, else $CYLO_CONFIG,
// else /etc/cylo/config.json when it exists), the CYLO_* environment variables and the command's
// flags, each validated against the one schema (./schema.ts), merged with flags > environment >
// config file. Every error is CYLO_E_CONFIG, one line, naming the file (or variable, or flag),
// the key and the fix. Light: no server, no MCP SDK (cylo exec loads it).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { CyloOptions } from '../cylo.js';
import { CyloError } from '../errors.js';
import { fieldPath, zodIssueToCyloError } from '../api/zod-errors.js';
import { configSchema, ENV_VARS, type ConfigKey, type ConfigValues } from './schema.js';

/** Read when neither --config nor CYLO_CONFIG names a file; its absence is fine. */
export const DEFAULT_CONFIG_FILE = '/etc/cylo/config.json';

/** Where every error message sends the user. */
export const CONFIG_DOC = 'docs/configuration.md';

export interface ConfigLoadOptions {
  /** --config: a file that must exist. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag values as typed (strings; true for switches), by key. */
  flags?: Partial<Record<ConfigKey, string | boolean | undefined>>;
  /** How each flag is spelled (`concurrency` -> `--concurrency`), for messages. */
  flagNames?: Partial<Record<ConfigKey, string>>;
  /** The default file (tests point it elsewhere); false: none. Default DEFAULT_CONFIG_FILE. */
  defaultPath?: string | false;
}

/** One source of settings: its label, its values, and how the user spells a key in it. */
export interface ConfigSource {
  label: 'flags' | 'environment' | 'config file';
  values: ConfigValues;
  name: (key: ConfigKey) => string;
}

export interface LoadedConfig {
  /** The config file read, if any. */
  configPath: string | undefined;
  /** Every source, in precedence order (flags, environment, config file). */
  sources: ConfigSource[];
  /** Each key from the first source that gives it (paths in the file made absolute). */
  values: ConfigValues;
  /** Where a key's value came from, as the user spells it (`config file /etc/cylo/config.json:
   *  maxLimits`, `CYLO_RELAX`, `--concurrency`); undefined when no source gives it. */
  origin: (key: ConfigKey) => string | undefined;
}

const configError = (message: string, field: string): CyloError => new CyloError('CYLO_E_CONFIG', message, { field });

/** The config file to read and whether it must exist: --config, CYLO_CONFIG, else the default. */
function configFile(options: ConfigLoadOptions, env: NodeJS.ProcessEnv): { path: string; explicit: string } | undefined {
  if (options.configPath !== undefined) return { path: options.configPath, explicit: '--config' };
  if (env.CYLO_CONFIG !== undefined && env.CYLO_CONFIG !== '') return { path: env.CYLO_CONFIG, explicit: 'CYLO_CONFIG' };
  const fallback = options.defaultPath ?? DEFAULT_CONFIG_FILE;
  return fallback !== false && existsSync(fallback) ? { path: fallback, explicit: '' } : undefined;
}

/** The file's JSON object; throws naming the file and the fix. */
export function readConfigFile(path: string, givenBy = ''): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw configError(`config file ${path}: cannot read it (${code})${givenBy === '' ? '' : `; fix the path given by ${givenBy}`}`, 'config');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw configError(`config file ${path}: not valid JSON (${(error as Error).message.replace(/\s+/g, ' ')}); fix its syntax (see ${CONFIG_DOC})`, 'config');
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw configError(`config file ${path}: expected a JSON object such as {"maxLimits": {"timeoutMs": "5m"}} (see ${CONFIG_DOC})`, 'config');
  return json as Record<string, unknown>;
}

/** Validates one source; `name(path)` says how the user spells a key in that source. */
function parseSource(raw: Record<string, unknown>, name: (path: PropertyKey[]) => string): ConfigValues {
  const parsed = configSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw zodIssueToCyloError(parsed.error, raw, { code: 'CYLO_E_CONFIG', fieldName: name, unknownKey: 'unknown setting', schemaHint: CONFIG_DOC });
}

/** The file's settings; its file paths (runtimesFile, tokenFile) made relative to the file. */
function fileValues(path: string, givenBy: string): ConfigValues {
  const values = parseSource(readConfigFile(path, givenBy), (p) => `config file ${path}: ${fieldPath(p)}`);
  const base = dirname(resolve(path));
  if (values.runtimesFile !== undefined) values.runtimesFile = resolve(base, values.runtimesFile);
  if (values.environmentsDir !== undefined) values.environmentsDir = resolve(base, values.environmentsDir);
  if (values.tokenFile !== undefined) values.tokenFile = resolve(base, values.tokenFile);
  return values;
}

/** The CYLO_* variables that are set and not empty, validated, with the variable of each key. */
function envSource(env: NodeJS.ProcessEnv): ConfigSource {
  const raw: Record<string, unknown> = {};
  const envName = new Map<string, string>();
  for (const [name, key] of Object.entries(ENV_VARS)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    raw[key] = v;
    envName.set(key, name);
  }
  const values = parseSource(raw, (p) => envName.get(String(p[0])) ?? fieldPath(p));
  return { label: 'environment', values, name: (k) => envName.get(k) ?? k };
}

/** The settings given as flags, validated. */
function flagSource(options: ConfigLoadOptions): ConfigSource {
  const raw: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(options.flags ?? {})) if (v !== undefined) raw[key] = v;
  const name = (k: ConfigKey): string => options.flagNames?.[k] ?? k;
  return { label: 'flags', values: parseSource(raw, (p) => name(p[0] as ConfigKey)), name };
}

/** Reads and validates every source (the file first, then the environment, then the flags) and
 *  merges them: flags > environment > config file. Throws CYLO_E_CONFIG. */
export function loadConfig(options: ConfigLoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const file = configFile(options, env);
  const fromFile: ConfigSource = {
    label: 'config file',
    values: file === undefined ? {} : fileValues(file.path, file.explicit),
    name: (k) => `config file ${file?.path ?? ''}: ${k}`,
  };
  const fromEnv = envSource(env);
  const sources = [flagSource(options), fromEnv, fromFile];
  const from = (key: ConfigKey): ConfigSource | undefined => sources.find((s) => s.values[key] !== undefined);
  const values: Record<string, unknown> = {};
  for (const key of Object.keys(configSchema.shape) as ConfigKey[]) {
    const source = from(key);
    if (source !== undefined) values[key] = source.values[key];
  }
  return { configPath: file?.path, sources, values: values as ConfigValues, origin: (key) => from(key)?.name(key) };
}

/** The library options the shared keys give (for createCylo); the HTTP keys are not among them. */
export function cyloOptionsFromConfig(config: LoadedConfig): CyloOptions {
  const v = config.values;
  const options: CyloOptions = {};
  if (v.concurrency !== undefined) options.concurrency = v.concurrency;
  if (v.queueLimit !== undefined) options.queueLimit = v.queueLimit;
  if (v.cpuShare !== undefined) options.cpuShare = v.cpuShare;
  if (v.relax !== undefined && v.relax.length > 0) options.relax = v.relax;
  if (v.maxLimits !== undefined) options.maxLimits = v.maxLimits;
  if (v.defaultLimits !== undefined) options.defaultLimits = v.defaultLimits;
  if (v.requestBounds !== undefined) options.requestBounds = v.requestBounds;
  if (v.runtimesFile !== undefined) options.runtimesFile = v.runtimesFile;
  if (v.environmentsDir !== undefined) options.environmentsDir = v.environmentsDir;
  if (v.uidBase !== undefined) options.uidBase = v.uidBase;
  if (v.uidCount !== undefined) options.uidCount = v.uidCount;
  if (v.allowedCompilerOptions !== undefined) options.allowedCompilerOptions = v.allowedCompilerOptions;
  if (v.isolation !== undefined) options.isolation = v.isolation;
  if (v.isolations !== undefined) options.isolations = v.isolations;
  if (v.microvmAllowTcg !== undefined) options.microvmAllowTcg = v.microvmAllowTcg;
  if (v.microvmMemoryMiB !== undefined) options.microvmMemoryMiB = v.microvmMemoryMiB;
  if (v.microvmPool !== undefined) options.microvmPool = v.microvmPool;
  if (v.microvmSnapshot !== undefined) options.microvmSnapshot = v.microvmSnapshot;
  if (v.microvmSnapshotRestores !== undefined) options.microvmSnapshotRestores = v.microvmSnapshotRestores;
  if (v.microvmMonitor !== undefined) options.microvmMonitor = v.microvmMonitor;
  if (v.prestart !== undefined) options.prestart = v.prestart;
  if (v.spawner !== undefined) options.spawner = v.spawner;
  if (v.zygote !== undefined) options.zygote = v.zygote;
  if (v.preimport !== undefined) options.preimport = v.preimport;
  return options;
}
