// A program prepared on the host for the two baselines: (a) spawned bare from Node and (b) in a
// minimal bubblewrap sandbox. Both run the binary cylo's registry resolved (the same
// interpreter, or for compiled languages the artifact that the runtime's own compile command
// made on the host), with the environment cylo gives programs, in a directory that plays /work.
// Templates are expanded by cylo's own token code (src/runtimes/tokens.ts), so the argv is
// cylo's, only with the workspace at another path.
import { lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULT_LIMITS } from '../../src/api/limits.js';
import type { ResolvedRuntime } from '../../src/runtimes/registry.js';
import { expandArgv, expandEnv, type TokenValues } from '../../src/runtimes/tokens.js';
import type { ReadOnlyBind } from '../../src/sandbox/bwrap-argv.js';
import { sandboxEnvironment } from '../../src/engine/environment.js';
import { expectOk, timedSpawn, type SpawnOutcome, type SpawnOptions } from './proc.js';

export const WORK = '/work';

export interface BenchFile {
  name: string;
  content: string | Buffer;
}

export interface HostProgram {
  /** The host directory that plays the workspace. */
  dir: string;
  /** argv of the run, for the bare spawn (the workspace mapped to dir). */
  bareArgv: string[];
  /** The same with the program's arguments. */
  bareArgvFor(args: readonly string[]): string[];
  /** argv of the minimal bubblewrap sandbox around the same run. */
  bwrapArgv: string[];
  bareEnv: Record<string, string>;
  bwrapEnv: Record<string, string>;
  /** Wall time of the host compile (compiled languages), for information. */
  compileMs: number | undefined;
  runBare(args: readonly string[], options?: SpawnOptions): Promise<SpawnOutcome>;
  runBwrap(args: readonly string[], options?: SpawnOptions): Promise<SpawnOutcome>;
  cleanup(): void;
}

/** Top-level directories that merged-/usr hosts have as symlinks (recreated as such). */
function rootLinks(): string[] {
  const out: string[] = [];
  for (const top of ['/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32']) {
    try {
      const st = lstatSync(top);
      if (st.isSymbolicLink()) out.push('--symlink', readlinkSync(top), top);
      else if (st.isDirectory()) out.push('--ro-bind', top, top);
    } catch {
      // absent
    }
  }
  return out;
}

/** The minimal sandbox: fresh namespaces, /usr read-only, /proc, /dev, the runtime's own trees,
 *  the workspace, nothing else (no seccomp, no Landlock, no cgroup, no uid switch, no helper). */
export function minimalBwrap(bwrapPath: string, roots: readonly string[], workDir: string, argv: readonly string[], mounts: readonly ReadOnlyBind[] = []): string[] {
  const a = [bwrapPath, '--unshare-all', '--die-with-parent', '--ro-bind', '/usr', '/usr', ...rootLinks()];
  for (const r of roots) a.push('--ro-bind', r, r);
  for (const m of mounts) a.push('--ro-bind', m.source, m.dest);
  a.push('--ro-bind-try', '/etc/ld.so.cache', '/etc/ld.so.cache', '--ro-bind-try', '/etc/alternatives', '/etc/alternatives');
  a.push('--bind', workDir, WORK, '--chdir', WORK, '--proc', '/proc', '--dev', '/dev', '--', ...argv);
  return a;
}

function mapWork(value: string, dir: string): string {
  return value === WORK ? dir : value.replaceAll(`${WORK}/`, `${dir}/`);
}

/** Trees the runtime mounts elsewhere inside the sandbox (npm packages at {nodeModules}/x),
 *  mapped back to where they are on the host, for the bare run. */
function mapMounts(value: string, mounts: readonly ReadOnlyBind[]): string {
  let v = value;
  for (const m of mounts) v = v.replaceAll(m.dest, m.source);
  return v;
}

let bwrapBinary = '/usr/bin/bwrap';
export function setBwrapPath(p: string): void {
  bwrapBinary = p;
}

/** Writes the files into a fresh directory, compiles them on the host when the runtime has a
 *  compile stage (with the runtime's own compile argv and environment), and returns runners. */
export async function prepareHostProgram(runtime: ResolvedRuntime, files: readonly BenchFile[], label = 'program'): Promise<HostProgram> {
  const def = runtime.definition;
  const binary = runtime.binary;
  if (binary === undefined) throw new Error(`${def.id}: no resolved binary`);
  const dir = mkdtempSync(join(tmpdir(), `cylo-bench-${def.id}-`));
  try {
    mkdirSync(join(dir, '.tmp'), { recursive: true });
    for (const f of files) {
      mkdirSync(dirname(join(dir, f.name)), { recursive: true });
      writeFileSync(join(dir, f.name), f.content);
    }
    const entry = files[0]?.name ?? def.entry;
    const sources = files.filter((f) => f.name.endsWith(def.extension)).map((f) => f.name);
    const runMemory = def.limits?.memoryBytes ?? DEFAULT_LIMITS.memoryBytes;
    const tokensFor = (workspace: string, args: readonly string[], memoryBytes: number): TokenValues => ({ bin: binary, entry, files: sources, args, memoryBytes, out: def.compile?.artifact[0], workspace });
    // The environment cylo gives the stage; for bare runs /work is mapped to the host directory.
    const stageEnv = (workspace: string, extra: Record<string, string>, memoryBytes: number): Record<string, string> => {
      const env = sandboxEnvironment(binary, expandEnv(extra, tokensFor(workspace, [], memoryBytes)), {});
      if (workspace === WORK) return env;
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(env)) out[k] = mapMounts(mapWork(v, dir), runtime.mounts);
      return out;
    };
    const bareEnv = stageEnv(dir, def.env, runMemory);
    const bwrapEnv = stageEnv(WORK, def.env, runMemory);
    let compileMs: number | undefined;
    const compile = def.compile;
    if (compile !== undefined) {
      const memory = DEFAULT_LIMITS.compileMemoryBytes;
      for (const a of compile.artifact) {
        const parts = a.split('/');
        if (parts.length > 1) mkdirSync(join(dir, ...parts.slice(0, -1)), { recursive: true });
      }
      const argv = expandArgv(compile.argv, tokensFor(dir, [], memory)).map((a) => mapMounts(a, runtime.mounts));
      const outcome = await timedSpawn(argv, { cwd: dir, env: stageEnv(dir, { ...def.env, ...compile.env }, memory), timeoutMs: 120_000 });
      expectOk(outcome, `${def.id} host compile of the ${label}`);
      compileMs = outcome.ms;
    }
    const bareRun = (args: readonly string[]): string[] => expandArgv(def.run.argv, tokensFor(dir, args, runMemory)).map((a) => mapMounts(a, runtime.mounts));
    const bwrapRun = (args: readonly string[]): string[] => minimalBwrap(bwrapBinary, runtime.roots, dir, expandArgv(def.run.argv, tokensFor(WORK, args, runMemory)), runtime.mounts);
    return {
      dir,
      bareArgv: bareRun([]),
      bareArgvFor: bareRun,
      bwrapArgv: bwrapRun([]),
      bareEnv,
      bwrapEnv,
      compileMs,
      runBare: (args, options = {}) => timedSpawn(bareRun(args), { cwd: dir, env: bareEnv, ...options }),
      runBwrap: (args, options = {}) => timedSpawn(bwrapRun(args), { env: bwrapEnv, ...options }),
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
