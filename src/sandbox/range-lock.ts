// Locks on blocks of sandbox uids, one file per block under a root-owned directory
// (/run/cylo/ranges/<first uid of the block>.lock), so that cylo processes on one host never
// hand out the same uid (two executions sharing a uid could signal, ptrace and read each other).
//
// Mechanism: flock(2) on a file this process keeps open for its life. The kernel releases the
// lock when the last descriptor closes, so a crashed (SIGKILLed) instance frees its range with
// no stale-lock guessing, and the lock is the same inode in every PID namespace: it is also the
// proof of liveness orphan cleanup uses across PID namespaces (orphans.ts). Node has no flock in
// core and the npm bindings are native addons; util-linux's flock(1) is given our descriptor as
// its fd 3 and locks the shared open file description, which stays locked after it exits
// (libuv opens every file O_CLOEXEC, so no other child inherits the lock).
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, writeSync, ftruncateSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { CyloError } from '../errors.js';
import { processStartTime } from './cgroup-name.js';

/** Uids per lock block; explicit ranges claim every block they touch. */
export const UID_BLOCK = 256;
export const LOCK_DIR = '/run/cylo/ranges';
const FLOCK = '/usr/bin/flock';
/** flock(1)'s exit code when the lock is held elsewhere (-E), told apart from its errors (1). */
const BUSY = 75;

/** The first uid of the block holding `uid`. */
export const blockOf = (uid: number): number => uid - (uid % UID_BLOCK);

function unavailable(detail: string, fix: string): CyloError {
  return new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', `sandbox unavailable: uid range lock: ${detail}. Fix: ${fix}`, { layer: 'uid-range' });
}

/** A directory only root can write, never a symlink: another user could otherwise remove or
 *  replace the lock files and make two instances share a uid range. */
function checkRootDir(path: string): void {
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw unavailable(`cannot create ${path}: ${(error as Error).message}`, 'run cylo as root');
  }
  const st = lstatSync(path);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw unavailable(`${path} is not a root-owned directory writable only by root (a symlink, another owner or group/world-writable)`, `remove ${path} and let cylo create it`);
  }
}

/** Checks (creating them 0700) /run/cylo and the lock directory, and flock(1). */
export function ensureLockDir(): void {
  checkRootDir('/run/cylo');
  checkRootDir(LOCK_DIR);
  let st;
  try {
    st = lstatSync(FLOCK);
  } catch {
    throw unavailable(`${FLOCK} is missing`, 'install util-linux (apt-get install util-linux)');
  }
  // A flock(1) another user could replace would run as root.
  if (!st.isFile() || st.uid !== 0 || (st.mode & 0o022) !== 0) throw unavailable(`${FLOCK} is not a root-owned file writable only by root`, 'reinstall util-linux');
}

const lockPath = (block: number): string => `${LOCK_DIR}/${block}.lock`;

/** Opens a block's lock file without following a symlink; refuses one not owned by root. */
function openLock(block: number, flags: number): number | undefined {
  let fd: number;
  try {
    fd = openSync(lockPath(block), flags | constants.O_NOFOLLOW, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw unavailable(`cannot open ${lockPath(block)}: ${(error as Error).message}`, `remove ${lockPath(block)}`);
  }
  const st = fstatSync(fd);
  if (!st.isFile() || st.uid !== 0) {
    closeSync(fd);
    throw unavailable(`${lockPath(block)} is not a root-owned regular file`, `remove ${lockPath(block)}`);
  }
  return fd;
}

/** Runs flock(1) on `fd` (shared or exclusive, never waiting): true when locked, false when
 *  another open file description holds a conflicting lock. */
function flock(fd: number, mode: '-x' | '-s'): boolean {
  const r = spawnSync(FLOCK, [mode, '-n', '-E', String(BUSY), '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
  if (r.status === 0) return true;
  if (r.status === BUSY) return false;
  throw unavailable(`flock(1) failed (${r.status ?? r.signal}): ${r.stderr?.toString().trim() ?? r.error?.message}`, 'check util-linux');
}

/** Locks a block for this process's life: the open descriptor (close it to release), or
 *  undefined when another live process holds it. The file then names its owner. */
export function lockBlock(block: number): number | undefined {
  const fd = openLock(block, constants.O_RDWR | constants.O_CREAT) as number;
  if (!flock(fd, '-x')) {
    closeSync(fd);
    return undefined;
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `pid ${process.pid} start ${processStartTime('self') ?? '?'} argv ${process.argv.slice(1).join(' ').slice(0, 200)}\n`, 0);
  return fd;
}

/** Whether some live process holds the block's lock (probed with a shared lock, dropped at
 *  once). A missing lock file: never claimed since boot, so nobody holds it. */
export function blockHeld(block: number): boolean {
  const fd = openLock(block, constants.O_RDONLY);
  if (fd === undefined) return false;
  try {
    return !flock(fd, '-s');
  } finally {
    closeSync(fd);
  }
}

/** What the block's lock file says about its owner ("pid N start T argv ..."; the pid is in the
 *  owner's PID namespace), for messages. */
export function blockOwner(block: number): string {
  try {
    return readFileSync(lockPath(block), 'utf8').trim() || 'unknown';
  } catch {
    return 'unknown';
  }
}
