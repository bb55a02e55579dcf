// The host's own package directories: where an interpreter looks for third-party packages by
// default (Debian's /usr/lib/python3/dist-packages, pip's /usr/local/lib/python3.X/...,
// a pyenv prefix's site-packages, node's global folders). The sandbox binds /usr and the
// runtimes' trees read-only, so without masking them every program could import whatever the
// host happens to have installed (apt, dbus, yaml, cryptography...): packages nobody declared,
// whose versions change under the programs with every host upgrade. Each is covered by an empty
// read-only tmpfs (bwrap-argv.ts); an environment (src/environments/) binds back exactly what
// it declares. Attack it stops: a program reaching host libraries (and their bugs, or data
// files such as the sandbox host's CA bundle .pth) that no operator chose to expose.
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Directories always masked when they exist (the system interpreters' package folders). */
const FIXED = ['/usr/lib/python3/dist-packages', '/usr/share/nodejs', '/usr/lib/node', '/usr/local/lib/node'];
/** Under these, every pythonX.Y/{dist,site}-packages is masked. */
const PYTHON_LIB_DIRS = ['/usr/lib', '/usr/local/lib'];

function isRealDirectory(path: string): boolean {
  try {
    const st = lstatSync(path);
    return st.isDirectory() && !st.isSymbolicLink();
  } catch {
    return false;
  }
}

/** pythonX.Y/dist-packages and pythonX.Y/site-packages directories under `lib`. */
function pythonPackageDirs(lib: string): string[] {
  let names: string[];
  try {
    names = readdirSync(lib);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^python3(\.\d+)?$/.test(n))
    .sort()
    .flatMap((n) => ['dist-packages', 'site-packages'].map((p) => join(lib, n, p)))
    .filter(isRealDirectory);
}

let systemTrees: string[] | undefined;

/** The system's package directories (under /usr), looked up once per process: /usr is the
 *  operator's, and a package directory created later is masked after a restart. */
export function systemPackageTrees(): string[] {
  systemTrees ??= [...new Set([...FIXED.filter(isRealDirectory), ...PYTHON_LIB_DIRS.flatMap(pythonPackageDirs)])];
  return systemTrees;
}

/** Every package directory to mask for a stage whose runtime trees are `roots` (absolute
 *  paths, bound at the same place): the system's, then each root's own lib/pythonX.Y/
 *  site-packages and lib/node (a pyenv or nvm prefix). */
export function hostPackageTrees(roots: readonly string[]): string[] {
  const own = roots.flatMap((r) => [...pythonPackageDirs(join(r, 'lib')), ...[join(r, 'lib', 'node')].filter(isRealDirectory)]);
  return [...new Set([...systemPackageTrees(), ...own])];
}
