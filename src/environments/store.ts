// The environments directory (default /var/lib/cylo/environments): one directory per built
// environment, `<name>/manifest.json` and `<name>/tree/` (a site-packages tree, or a directory
// holding node_modules). Root-owned, 0755 directories and 0644 files (0755 for executables):
// readable by the sandbox uids, writable by none of them. A directory that is a symlink, owned
// by another user or writable by group/others is refused (attack it stops: a local user swaps an
// environment, or its parent, for a tree of their own that every program then imports).
import { chmodSync, closeSync, constants, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { CyloError } from '../errors.js';
import type { BundleFile } from '../backend/file-bundle.js';
import { ENVIRONMENT_NAME, manifestSchema, type EnvironmentManifest } from './types.js';

export const DEFAULT_ENVIRONMENTS_DIR = '/var/lib/cylo/environments';
const MANIFEST = 'manifest.json';
export const TREE = 'tree';

function storeError(message: string, cause?: unknown): CyloError {
  return new CyloError('CYLO_E_ENVIRONMENT_STORE', message, { field: 'environmentsDir', ...(cause === undefined ? {} : { cause }) });
}

const myUid = (): number => (typeof process.getuid === 'function' ? process.getuid() : 0);

/** Refuses `path` unless it is a real directory (or file, with `file`) owned by root or this
 *  user and not writable by group or others. */
export function checkOwned(path: string, file = false): void {
  let st;
  try {
    st = lstatSync(path);
  } catch (error) {
    throw storeError(`environmentsDir: cannot inspect ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, error);
  }
  const kindOk = file ? st.isFile() : st.isDirectory();
  if (!kindOk || (st.uid !== 0 && st.uid !== myUid()) || (st.mode & 0o022) !== 0) {
    throw storeError(`environmentsDir: ${path} must be a ${file ? 'regular file' : 'directory'} (not a symlink) owned by root, writable by nobody else (it is owner uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}); rebuild it with cylo env build, or fix its owner and mode`);
  }
}

export class EnvironmentStore {
  constructor(readonly dir: string) {}

  /** The stored environments' manifests (checked); a broken one is refused, naming it. */
  list(): EnvironmentManifest[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw storeError(`environmentsDir: cannot read ${this.dir} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, error);
    }
    checkOwned(this.dir);
    return names.filter((n) => ENVIRONMENT_NAME.test(n)).sort().map((n) => this.read(n));
  }

  /** The manifest of `name`, after checking its directory, tree and manifest file. */
  read(name: string): EnvironmentManifest {
    const dir = join(this.dir, name);
    checkOwned(dir);
    checkOwned(join(dir, TREE));
    checkOwned(join(dir, MANIFEST), true);
    let parsed;
    try {
      parsed = manifestSchema.safeParse(JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')));
    } catch (error) {
      throw storeError(`environmentsDir: ${join(dir, MANIFEST)} is not JSON; rebuild the environment with cylo env build`, error);
    }
    if (!parsed.success || parsed.data.name !== name) throw storeError(`environmentsDir: ${join(dir, MANIFEST)} is not a valid manifest for ${name}; rebuild the environment with cylo env build`);
    return parsed.data;
  }

  /** The host path of `name`'s tree. */
  treeOf(name: string): string {
    return join(this.dir, name, TREE);
  }

  exists(name: string): boolean {
    try {
      lstatSync(join(this.dir, name));
      return true;
    } catch {
      return false;
    }
  }

  /** Writes `files` (decoded from the build sandbox's bundle: names already checked as plain
   *  workspace paths, no links) under a fresh root-only staging directory, then the manifest,
   *  then renames it into place (replacing an environment of the same name). The host writes
   *  only into directories no sandbox uid can reach. `strip`: the bundle prefix to drop. */
  install(manifest: EnvironmentManifest, files: readonly BundleFile[], strip: string): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    checkOwned(this.dir);
    const staging = join(this.dir, `.staging-${manifest.name}-${randomBytes(6).toString('hex')}`);
    mkdirSync(staging, { mode: 0o700 });
    try {
      const tree = join(staging, TREE);
      mkdirSync(tree, { mode: 0o755 });
      for (const f of files) {
        if (!f.name.startsWith(`${strip}/`)) continue;
        const target = join(tree, f.name.slice(strip.length + 1));
        mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
        writeNew(target, f.content, f.executable === true ? 0o755 : 0o644);
      }
      writeNew(join(staging, MANIFEST), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), 0o644);
      chmodSync(staging, 0o755);
      this.remove(manifest.name, true);
      renameSync(staging, join(this.dir, manifest.name));
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      throw error;
    }
  }

  /** Removes `name` (its directory and everything in it). */
  remove(name: string, missingOk = false): void {
    const dir = join(this.dir, name);
    if (!this.exists(name)) {
      if (missingOk) return;
      throw new CyloError('CYLO_E_UNKNOWN_ENVIRONMENT', `environment: no environment named ${name} in ${this.dir} (cylo env list shows them)`, { field: 'environment' });
    }
    // Renamed out of the way first: a running lookup sees it whole or not at all.
    const doomed = join(this.dir, `.removing-${name}-${randomBytes(6).toString('hex')}`);
    renameSync(dir, doomed);
    rmSync(doomed, { recursive: true, force: true });
  }
}

/** Creates `path` (never following or reusing anything there) with `mode`, and writes it. */
function writeNew(path: string, content: Buffer, mode: number): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    let at = 0;
    while (at < content.length) at += writeSync(fd, content, at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(path, mode); // the umask may have removed bits
}
