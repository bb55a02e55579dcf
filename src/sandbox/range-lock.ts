// Locks on sandbox uid ranges, one file per range under a root-owned directory
// (/run/cylo/ranges/<base>-<count>.lock), so that cylo processes on one host never hand out the
// same uid (two executions sharing a uid could signal, ptrace and read each other). A claim
// locks its own file, then checks that no overlapping range's file is locked.
//
// Mechanism: flock(2) on a file this process keeps open for its life. The kernel releases the
// lock when the last descriptor closes, so a crashed (SIGKILLed) instance frees its range with
// no stale-lock guessing, and the lock is the same inode in every PID namespace: it is also the
// proof of liveness orphan cleanup uses across PID namespaces (orphans.ts). Node has no flock in
// core and the npm bindings are native addons; util-linux's flock(1) is given our descriptor as
// its fd 3 and locks the shared open file description, which stays locked after it exits
// (libuv opens every file O_CLOEXEC, so no other child inherits the lock).
//
// Removal: a lock file is unlinked only by a process holding its exclusive lock (its holder at
// release, or a sweep of a dead holder's file), and a claim that got its lock checks that the
// path still names the inode it locked (else it locked a file someone just unlinked, and tries
// again): without that check two claimers could hold one range, one on the unlinked inode and
// one on its replacement.
import { closeSync, constants, fstatSync, ftruncateSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { CyloError } from '../errors.js';
import { processStartTime } from './cgroup-name.js';

export const LOCK_DIR = '/run/cylo/ranges';
const FLOCK = '/usr/bin/flock';
/** flock(1)'s exit code when the lock is held elsewhere (-E), told apart from its errors (1). */
const BUSY = 75;

/** A uid range [base, base + count), the unit of locking: one file per range. */
export interface Range {
  base: number;
  count: number;
}
const fileOf = (r: Range): string => `${r.base}-${r.count}.lock`;

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

const lockPath = (r: Range): string => `${LOCK_DIR}/${fileOf(r)}`;

/** Opens a range's lock file without following a symlink; refuses one not owned by root. */
function openLock(r: Range, flags: number): number | undefined {
  let fd: number;
  try {
    fd = openSync(lockPath(r), flags | constants.O_NOFOLLOW, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw unavailable(`cannot open ${lockPath(r)}: ${(error as Error).message}`, `remove ${lockPath(r)}`);
  }
  const st = fstatSync(fd);
  if (!st.isFile() || st.uid !== 0) {
    closeSync(fd);
    throw unavailable(`${lockPath(r)} is not a root-owned regular file`, `remove ${lockPath(r)}`);
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

/** The ranges that have a lock file. */
function lockFiles(): Range[] {
  return readdirSync(LOCK_DIR)
    .map((name) => /^(\d+)-(\d+)\.lock$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ base: Number(m[1]), count: Number(m[2]) }));
}

/** The ranges of lock files that overlap `r` (not `r` itself). */
function overlapping(r: Range): Range[] {
  return lockFiles()
    .filter((o) => !(o.base === r.base && o.count === r.count) && o.base < r.base + r.count && r.base < o.base + o.count);
}

/** Whether the path still names the file open as `fd` (not unlinked or replaced since). */
function stillLinked(r: Range, fd: number): boolean {
  const open = fstatSync(fd);
  try {
    const now = lstatSync(lockPath(r));
    return now.ino === open.ino && now.dev === open.dev;
  } catch {
    return false;
  }
}

/** Opens and exclusively locks the range's file, retrying when the file was unlinked between
 *  the open and the lock (a sweep or a release): the descriptor, or undefined when a live
 *  process holds it. */
function lockFile(r: Range): number | undefined {
  for (let attempt = 0; ; attempt += 1) {
    const fd = openLock(r, constants.O_RDWR | constants.O_CREAT) as number;
    if (!flock(fd, '-x')) {
      closeSync(fd);
      return undefined;
    }
    if (stillLinked(r, fd)) return fd;
    closeSync(fd);
    if (attempt === 5) throw unavailable(`${lockPath(r)} keeps being removed while it is locked`, 'check for another process removing files in /run/cylo/ranges');
  }
}

/**
 * Locks a range for this process's life: its open descriptor (release it with releaseRange),
 * or the range in the way when a live process holds this range or one overlapping it. Safe
 * against concurrent claims: each claimer locks its own file before looking at the others, so
 * of two overlapping claims at most one succeeds (both may fail; an automatic claim then moves
 * on).
 */
export function lockRange(r: Range): { fd: number } | { busy: Range } {
  const fd = lockFile(r);
  if (fd === undefined) return { busy: r };
  const busy = overlapping(r).find((o) => rangeHeld(o));
  if (busy !== undefined) {
    releaseRange(r, fd);
    return { busy };
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `pid ${process.pid} start ${processStartTime('self') ?? '?'} argv ${process.argv.slice(1).join(' ').slice(0, 200)}\n`, 0);
  return { fd };
}

/** Releases a range lockRange gave: unlinks its file while still holding the lock (so the
 *  directory does not grow with every instance ever started), then closes the descriptor. */
export function releaseRange(r: Range, fd: number): void {
  try {
    if (stillLinked(r, fd)) unlinkSync(lockPath(r));
  } finally {
    closeSync(fd);
  }
}

/** Removes the lock files no live process holds (left by instances that died without
 *  releasing): how many were removed. Each is locked first and unlinked only while locked. */
export function sweepStaleLocks(): number {
  ensureLockDir();
  let removed = 0;
  for (const r of lockFiles()) {
    const fd = openLock(r, constants.O_RDWR);
    if (fd === undefined) continue;
    try {
      if (flock(fd, '-x') && stillLinked(r, fd)) {
        unlinkSync(lockPath(r));
        removed += 1;
      }
    } finally {
      closeSync(fd);
    }
  }
  return removed;
}

/** Whether some live process holds the range's lock (probed with a shared lock, dropped at
 *  once). A missing lock file: never claimed since boot, so nobody holds it. */
export function rangeHeld(r: Range): boolean {
  const fd = openLock(r, constants.O_RDONLY);
  if (fd === undefined) return false;
  try {
    return !flock(fd, '-s');
  } finally {
    closeSync(fd);
  }
}

/** What the range's lock file says about its owner ("pid N start T argv ..."; the pid is in the
 *  owner's PID namespace), for messages. */
export function rangeOwner(r: Range): string {
  try {
    return readFileSync(lockPath(r), 'utf8').trim() || 'unknown';
  } catch {
    return 'unknown';
  }
}
