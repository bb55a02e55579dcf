// The runtime registry: the built-in languages plus an operator's additions and overrides,
// looked up by id or alias, and resolved on the host (where is the toolchain, which version,
// which trees must be bound into the sandbox). Resolution runs trusted host binaries only.
import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { CyloError } from '../errors.js';
import type { HostMount } from '../backend/backend.js';
import { BUILTIN_RUNTIMES } from './builtin.js';
import { fieldPath, zodIssueToCyloError } from '../api/zod-errors.js';
import { runtimeDefinitionSchema, type RuntimeDefinition, type RuntimeDefinitionInput } from './definition.js';
import { NODE_MODULES_IN_SANDBOX } from './tokens.js';
import { PROBE_CACHE_FILE, probeKey, readProbe, writeProbe, type ProbeFacts } from '../util/probe-cache.js';

const execFileAsync = promisify(execFile);

export interface ResolvedRuntime {
  definition: RuntimeDefinition;
  available: boolean;
  /** Real absolute path of the toolchain binary. */
  binary: string | undefined;
  version: string | undefined;
  /** Host trees outside the system tree (/usr) that must be bound read-only. */
  roots: string[];
  /** Trees bound at another place inside the sandbox (nodePackages at {nodeModules}/<name>). */
  mounts: HostMount[];
  /** Everything about the toolchain that changes what it compiles (binary, version, package
   *  versions): part of the compile cache key. */
  fingerprint: string;
  /** Why the runtime is unavailable, with the fix. */
  problem: string | undefined;
  /** Python modules a pre-started runtime of this runtime imports before it waits (set by the
   *  request's environment: src/environments/catalog.ts apply). */
  preimport?: readonly string[] | undefined;
}

/** Trees every sandbox gets anyway; roots under them need no extra bind. */
export const SYSTEM_TREES = ['/usr'];

function underSystem(path: string): boolean {
  return SYSTEM_TREES.some((t) => path === t || path.startsWith(`${t}/`));
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findOnPath(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const d of [...dirs, '/usr/local/bin', '/usr/bin', '/bin']) {
    const p = join(d, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

/** Host-side expansion of probe argv: {bin}, and {nodeModules}/<name> for the runtime's own
 *  nodePackages (their directories in cylo's installation). */
function substituteBin(argv: readonly string[], bin: string, packages: ReadonlyMap<string, string> = new Map()): string[] {
  return argv.map((a) => {
    let out = a.replaceAll('{bin}', bin);
    for (const [name, dir] of packages) out = out.replaceAll(`{nodeModules}/${name}`, dir);
    return out;
  });
}

/** A candidate as an absolute path: `~/x` is under the home directory of the user running cylo. */
function candidatePath(c: string): string | undefined {
  const path = c.startsWith('~/') ? join(homedir(), c.slice(2)) : c;
  if (isAbsolute(path)) return isExecutable(path) ? path : undefined;
  return findOnPath(path);
}

const requireFromCylo = createRequire(import.meta.url);

/** Resolves an npm package of cylo's own installation: its directory and version. */
export function nodePackage(name: string): { dir: string; version: string } {
  const manifest = requireFromCylo.resolve(`${name}/package.json`);
  const version = (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: unknown }).version;
  return { dir: realpathSync(dirname(manifest)), version: typeof version === 'string' ? version : 'unknown' };
}

/** Runs the definition's resolve and version commands on `found` (or takes their answer from the
 *  probe cache, probe-cache.ts, when nothing they depend on changed): the real binary, its
 *  version, the extra roots the resolve command named. Rejects when a command fails. */
async function probeFacts(definition: RuntimeDefinition, found: string, packageDirs: Map<string, string>, packageVersions: string[], cacheFile: string | false): Promise<ProbeFacts> {
  let key: string | undefined;
  if (cacheFile !== false) {
    try {
      key = probeKey(definition, found, packageVersions);
    } catch {
      key = undefined; // cannot stat it: probe it, the probe reports why
    }
    const cached = key === undefined ? undefined : readProbe(key, cacheFile);
    if (cached !== undefined) return cached;
  }
  let binary = realpathSync(found);
  const resolvedRoots: string[] = [];
  if (definition.binary.resolve !== undefined) {
    const [cmd, ...args] = substituteBin(definition.binary.resolve, found, packageDirs);
    const { stdout } = await execFileAsync(cmd ?? found, args, { timeout: 15_000, encoding: 'utf8' });
    const lines = stdout.split('\n').map((l) => l.trim()).filter(Boolean);
    if (lines[0] !== undefined && isAbsolute(lines[0])) binary = realpathSync(lines[0]);
    for (const extra of lines.slice(1)) if (isAbsolute(extra)) resolvedRoots.push(realpathSync(extra));
  }
  const [vcmd, ...vargs] = substituteBin(definition.version.argv, binary, packageDirs);
  const out = await execFileAsync(vcmd ?? binary, vargs, { timeout: 15_000, encoding: 'utf8' });
  const match = new RegExp(definition.version.pattern).exec(`${out.stdout}\n${out.stderr}`);
  const facts = { binary, version: match?.[1] ?? 'unknown', resolvedRoots };
  if (key !== undefined && cacheFile !== false) writeProbe(key, facts, cacheFile);
  return facts;
}

async function probe(definition: RuntimeDefinition, cacheFile: string | false): Promise<ResolvedRuntime> {
  const unavailable = (problem: string): ResolvedRuntime => ({ definition, available: false, binary: undefined, version: undefined, roots: [], mounts: [], fingerprint: '', problem });
  let found: string | undefined;
  for (const c of definition.binary.candidates) {
    found = candidatePath(c);
    if (found !== undefined) break;
  }
  if (found === undefined) {
    return unavailable(`${definition.id}: toolchain not found (looked for ${definition.binary.candidates.join(', ')}); install it with: apt-get install -y ${definition.package}`);
  }
  const roots = new Set<string>();
  const mounts: HostMount[] = [];
  const packageVersions: string[] = [];
  const packageDirs = new Map<string, string>();
  for (const name of definition.nodePackages) {
    try {
      const pkg = nodePackage(name);
      packageDirs.set(name, pkg.dir);
      mounts.push({ source: pkg.dir, dest: `${NODE_MODULES_IN_SANDBOX}/${name}` });
      packageVersions.push(`${name}@${pkg.version}`);
    } catch {
      return unavailable(`${definition.id}: the npm package ${name} is missing from cylo's installation; reinstall cylo's dependencies with: npm ci`);
    }
  }
  try {
    const { binary, version, resolvedRoots } = await probeFacts(definition, found, packageDirs, packageVersions, cacheFile);
    for (const r of resolvedRoots) roots.add(r);
    // A binary outside /usr lives in a prefix tree (bin/ under it): bind the whole prefix.
    if (!underSystem(binary)) roots.add(dirname(dirname(binary)));
    for (const p of definition.readOnlyPaths) roots.add(p);
    const extra = [...roots].filter((r) => !underSystem(r));
    // The binary's size and mtime too: an in-place upgrade that keeps the version string (or a
    // version the pattern cannot read) still changes the compile cache key.
    const st = statSync(binary);
    const fingerprint = [binary, version, `${st.size}:${st.mtimeMs}`, ...packageVersions].join('\n');
    return { definition, available: true, binary, version, roots: minimalRoots(extra), mounts, fingerprint, problem: undefined };
  } catch (error) {
    const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return unavailable(`${definition.id}: ${found} did not run on the host (${why}); reinstall it with: apt-get install --reinstall -y ${definition.package}`);
  }
}

/** Drops roots that lie inside another root. */
function minimalRoots(roots: string[]): string[] {
  const sorted = [...new Set(roots)].sort();
  return sorted.filter((r) => !sorted.some((o) => o !== r && r.startsWith(`${o}/`)));
}

export class RuntimeRegistry {
  private readonly definitions = new Map<string, RuntimeDefinition>();
  private readonly aliases = new Map<string, string>();
  private readonly resolved = new Map<string, Promise<ResolvedRuntime>>();

  /** `probeCache`: the file of probe results shared across cylo processes (probe-cache.ts;
   *  PROBE_CACHE_FILE by default), or false for none. */
  constructor(
    extra: readonly RuntimeDefinitionInput[] = [],
    private readonly probeCache: string | false = PROBE_CACHE_FILE,
  ) {
    for (const d of [...BUILTIN_RUNTIMES, ...extra]) this.add(d);
  }

  /** Adds a language, or replaces the one with the same id. */
  add(input: RuntimeDefinitionInput): void {
    const parsed = runtimeDefinitionSchema.safeParse(input);
    if (!parsed.success) {
      const id = typeof (input as { id?: unknown }).id === 'string' ? (input as { id: string }).id : '?';
      throw zodIssueToCyloError(parsed.error, input, { code: 'CYLO_E_CONFIG', fieldName: (path) => `runtimes[${JSON.stringify(id)}]${path.length === 0 ? '' : `.${fieldPath(path)}`}`, schemaHint: 'docs/runtimes.md' });
    }
    const def = parsed.data;
    const previous = this.definitions.get(def.id);
    if (previous !== undefined) for (const a of previous.aliases) this.aliases.delete(a);
    this.definitions.set(def.id, def);
    this.resolved.delete(def.id);
    for (const a of def.aliases) this.aliases.set(a.toLowerCase(), def.id);
  }

  ids(): string[] {
    return [...this.definitions.keys()];
  }

  /** The definition for an id or alias, or undefined. */
  find(language: string): RuntimeDefinition | undefined {
    const key = language.toLowerCase();
    const id = this.definitions.has(key) ? key : this.aliases.get(key);
    return id === undefined ? undefined : this.definitions.get(id);
  }

  /** The definition for an id or alias; throws CYLO_E_UNKNOWN_LANGUAGE naming it otherwise. */
  get(language: string): RuntimeDefinition {
    const def = this.find(language);
    if (def === undefined) {
      throw new CyloError('CYLO_E_UNKNOWN_LANGUAGE', `language: unknown language ${JSON.stringify(language)}; known: ${this.ids().join(', ')}`, { field: 'language' });
    }
    return def;
  }

  /** Resolves (once, then cached) where the toolchain lives and its version. */
  resolve(language: string): Promise<ResolvedRuntime> {
    const def = this.get(language);
    let p = this.resolved.get(def.id);
    if (p === undefined) {
      p = probe(def, this.probeCache);
      this.resolved.set(def.id, p);
    }
    return p;
  }

  /** Resolves every language (in parallel). */
  async resolveAll(): Promise<ResolvedRuntime[]> {
    return Promise.all(this.ids().map((id) => this.resolve(id)));
  }
}
