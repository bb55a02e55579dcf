// What the build sandbox needs besides the runtime: the installer itself. pip, setuptools and
// wheel live in the interpreter's package directory, which every sandbox masks
// (src/sandbox/host-packages.ts); the build binds back just those, read-only at their own
// paths. npm's CLI is bound at its own path when it lies outside the trees already visible.
// Their locations are asked of the host's own toolchain (trusted binaries, as the registry's
// probes are).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import type { HostMount } from '../backend/backend.js';
import type { ResolvedRuntime } from '../runtimes/registry.js';
import { hostPackageTrees } from '../sandbox/host-packages.js';
import { CyloError } from '../errors.js';
import type { EnvironmentLanguage } from './types.js';

/** The modules pip needs to install wheels and build sdists offline. */
const PIP_MODULES = ['pip', 'setuptools', 'pkg_resources', 'wheel', '_distutils_hack'];

const FIND_MODULES = 'import importlib.util, sys\nfor m in sys.argv[1:]:\n    s = importlib.util.find_spec(m)\n    print(\'\' if s is None else (s.submodule_search_locations[0] if s.submodule_search_locations else s.origin))';

function inside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

/** Binds for `paths` that lie inside a masked package directory (others are visible anyway). */
function reveal(paths: readonly string[], runtime: ResolvedRuntime): HostMount[] {
  const masks = hostPackageTrees(runtime.roots);
  return paths.filter((p) => masks.some((m) => inside(p, m) && p !== m)).map((p) => ({ source: p, dest: p }));
}

function pipTools(runtime: ResolvedRuntime): HostMount[] {
  const r = spawnSync(runtime.binary ?? '', ['-c', FIND_MODULES, ...PIP_MODULES], { encoding: 'utf8', timeout: 20_000, env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' } });
  const found = (r.stdout ?? '').split('\n').slice(0, PIP_MODULES.length);
  if (found[0] === undefined || found[0] === '') {
    throw new CyloError('CYLO_E_RUNTIME_UNAVAILABLE', `--lang python: ${runtime.binary ?? 'python'} has no pip; install it (Debian: apt-get install python3-pip)`, { field: 'language' });
  }
  const modules = found.filter((p) => p !== '' && existsSync(p));
  return reveal([...modules, ...modules.flatMap(metadataOf)], runtime);
}

/** A module's distribution metadata next to it (NAME-VERSION.dist-info / .egg-info): setuptools
 *  registers its commands (egg_info, bdist_wheel) through the entry points kept there. */
function metadataOf(modulePath: string): string[] {
  const dir = dirname(modulePath);
  const name = modulePath.slice(dir.length + 1).replace(/\.py$/, '').toLowerCase();
  try {
    return readdirSync(dir)
      .filter((e) => /\.(dist|egg)-info$/.test(e) && e.toLowerCase().replace(/-/g, '_').startsWith(`${name}_`))
      .map((e) => join(dir, e));
  } catch {
    return [];
  }
}

function npmCli(runtime: ResolvedRuntime): { cli: string; mounts: HostMount[] } {
  const dirs = [dirname(runtime.binary ?? '/usr/bin/node'), ...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/local/bin'];
  const npm = dirs.map((d) => join(d, 'npm')).find((p) => existsSync(p));
  if (npm === undefined) throw new CyloError('CYLO_E_RUNTIME_UNAVAILABLE', '--lang javascript: npm is not installed next to node; install it (Debian: apt-get install npm)', { field: 'language' });
  const cli = realpathSync(npm);
  const pkg = dirname(dirname(cli)); // .../npm/bin/npm-cli.js -> .../npm
  const visible = inside(pkg, '/usr') || runtime.roots.some((r) => inside(pkg, r));
  return { cli, mounts: visible ? reveal([pkg], runtime) : [{ source: pkg, dest: pkg }] };
}

/** The installer of `language` and the binds it needs in the build sandbox. */
export function buildTools(language: EnvironmentLanguage, runtime: ResolvedRuntime): { npmCli: string | undefined; mounts: HostMount[] } {
  if (language === 'python') return { npmCli: undefined, mounts: pipTools(runtime) };
  const npm = npmCli(runtime);
  return { npmCli: npm.cli, mounts: npm.mounts };
}
