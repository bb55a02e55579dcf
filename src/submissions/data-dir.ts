// The data directory of `cylo serve` (the submission database, the webhook secret): created at
// first use with mode 0700, and refused unless it is a real directory (not a symlink) owned by
// the running user and writable by nobody else, inside a parent nobody else can rename it in.
// Attack it stops: a local user who can write the directory (or its parent) swaps the database
// or the secret for a symlink or a file of their own, and reads or forges results and webhook
// signatures, or makes the root service write through the link.
import { constants, lstatSync, mkdirSync, openSync, closeSync, fstatSync, readFileSync, writeSync, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { CyloError } from '../errors.js';

export const DEFAULT_DATA_DIR = '/var/lib/cylo';

function storageError(message: string, cause?: unknown): CyloError {
  return new CyloError('CYLO_E_STORAGE', message, { field: 'dataDir', ...(cause === undefined ? {} : { cause }) });
}

function uid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : 0;
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw storageError(`dataDir: cannot inspect ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); set --data-dir or CYLO_DATA_DIR to a directory this user owns`, error);
  }
}

/** The parent must not let another user rename or replace our directory: owned by root or us,
 *  and not group/world-writable unless sticky (as /tmp is: others cannot rename our entries). */
function checkParent(dir: string): void {
  const parent = dirname(dir);
  const st = lstatSync(parent);
  const ownerOk = st.uid === 0 || st.uid === uid();
  const sticky = (st.mode & 0o1000) !== 0; // S_ISVTX
  if (!ownerOk || ((st.mode & 0o022) !== 0 && !sticky)) {
    throw storageError(`dataDir: the parent directory ${parent} can be written by another user (owner uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}), who could swap ${dir} for a symlink; put the data directory under a root-owned parent (default ${DEFAULT_DATA_DIR})`);
  }
}

/**
 * Creates `dir` (mode 0700, parents as needed) or checks the existing one; returns its absolute
 * path. Throws CYLO_E_STORAGE naming the problem and the fix: not a directory (a file or a
 * symlink in its place), owned by another user, group/world-writable, or a parent others can
 * write without the sticky bit.
 */
export function prepareDataDir(path: string): string {
  const dir = resolve(path);
  let st = lstatOrUndefined(dir);
  if (st === undefined) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw storageError(`dataDir: cannot create ${dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); create it (mode 0700) or set --data-dir or CYLO_DATA_DIR`, error);
    }
    st = lstatSync(dir);
  }
  if (st.isSymbolicLink()) throw storageError(`dataDir: ${dir} is a symbolic link; cylo uses only a real directory (a link could be swapped to point elsewhere); point --data-dir at the target itself`);
  if (!st.isDirectory()) throw storageError(`dataDir: ${dir} exists and is not a directory; remove it or set --data-dir or CYLO_DATA_DIR to another path`);
  if (st.uid !== uid()) throw storageError(`dataDir: ${dir} is owned by uid ${st.uid}, not by this user (uid ${uid()}); another user could replace the database; chown it or use another directory`);
  if ((st.mode & 0o022) !== 0) throw storageError(`dataDir: ${dir} is writable by group or others (mode ${(st.mode & 0o777).toString(8)}); run chmod 700 ${dir}`);
  checkParent(dir);
  return dir;
}

/** A file in the data directory must be a regular file owned by us (not a planted link). */
export function checkDataFile(path: string): void {
  const st = lstatOrUndefined(path);
  if (st === undefined) return;
  if (!st.isFile() || st.uid !== uid()) throw storageError(`dataDir: ${path} is not a regular file owned by this user (a symlink or a planted file); remove it`);
}

/**
 * The webhook signing secret kept in the data directory (`webhook-secret`, mode 0600): read, or
 * created with 32 random bytes (hex) at first use. Opened without following links (O_NOFOLLOW)
 * and refused when another user owns it or can read it.
 */
export function loadOrCreateSecret(dir: string): string {
  const path = join(dir, 'webhook-secret');
  try {
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, randomBytes(32).toString('hex'));
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw storageError(`dataDir: cannot create the webhook secret ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, error);
  }
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    throw storageError(`dataDir: cannot open the webhook secret ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)}); it must be a regular file, not a link`, error);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== uid() || (st.mode & 0o077) !== 0) throw storageError(`dataDir: the webhook secret ${path} must be a regular file owned by this user with mode 0600 (is ${(st.mode & 0o777).toString(8)}, uid ${st.uid})`);
    const secret = readFileSync(fd, 'utf8').trim();
    if (secret.length < 32) throw storageError(`dataDir: the webhook secret ${path} is shorter than 32 characters; delete it to have a new one generated`);
    return secret;
  } finally {
    closeSync(fd);
  }
}
