// Fast start: what the toolchain probes found (the real binary, its version, the roots its
// resolve command named), kept across cylo processes so a one-shot `cylo exec` does not start
// the interpreter twice before running anything (two Python start-ups: 20 ms idle, far more on
// a loaded host). The probe is made cheaper, not skipped: an entry is used only when everything
// it was derived from is unchanged:
//  - the key: the definition's binary, version and read-only path settings, the candidate found
//    (its path, and the lstat and stat identity of it and of its real path: device, inode, size,
//    mtime and ctime in ns, so a replaced binary or a retargeted symlink misses), the npm package
//    versions, and the environment the probe commands run with (PYTHONHOME, GOROOT, ... change
//    what they print; a few per-shell variables such as PWD are left out);
//  - at use: the cached real binary still has the identity it had when probed.
// Trust: the probes' results decide what host paths are bound into sandboxes, so the file is
// only read when it is a regular root-owned file, not writable by group or others, in a
// root-owned directory only root can write (/run/cylo, made 0700 by range-lock.ts; a tmpfs, so
// nothing survives a reboot), opened without following a symlink. Anything else (not root, a
// doubtful file, a malformed entry) means no cache: the full probe runs, which is the safe way.
// Writes are whole-file replacements (a new 0600 file, then rename), so a reader never sees half.
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, realpathSync, renameSync, statSync, writeSync, type BigIntStats, type Stats } from 'node:fs';
import { dirname, isAbsolute } from 'node:path';

/** The default cache file (see above for why there). */
export const PROBE_CACHE_FILE = '/run/cylo/runtime-probes.json';
/** At most this many entries are kept (the oldest written are dropped). */
const MAX_ENTRIES = 64;
/** Variables that change with every shell or directory and never with a toolchain's answer. */
const VOLATILE_ENV = new Set(['PWD', 'OLDPWD', 'SHLVL', '_', 'TERM', 'COLUMNS', 'LINES', 'CYLO_UID_BASE', 'CYLO_UID_COUNT']);

/** What a probe found: the real binary, its version, the extra roots its resolve command named. */
export interface ProbeFacts {
  binary: string;
  version: string;
  resolvedRoots: string[];
}

interface Entry extends ProbeFacts {
  key: string;
  /** The identity of `binary` when probed. */
  stamp: string;
}

/** Device, inode, size, mtime and ctime (ns) of a file: any replacement or edit changes it. */
function identity(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}
const stampOf = (path: string): string => identity(statSync(path, { bigint: true }));

/** The cache key of a probe (a sha256 hex), from what it depends on; throws when `found` cannot
 *  be stat'ed (the caller then probes without the cache). */
export function probeKey(definition: { id: string; binary: unknown; version: unknown; readOnlyPaths: unknown }, found: string, packageVersions: readonly string[], env: NodeJS.ProcessEnv = process.env): string {
  const real = realpathSync(found);
  const envPart = Object.entries(env)
    .filter(([k]) => !VOLATILE_ENV.has(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const parts = [definition.id, definition.binary, definition.version, definition.readOnlyPaths, packageVersions, found, identity(lstatSync(found, { bigint: true })), real, stampOf(real), envPart];
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

/** True for a directory only root can write, or a root-owned regular file nobody else can write. */
function rootOnly(st: Stats, kind: 'dir' | 'file'): boolean {
  return (kind === 'dir' ? st.isDirectory() : st.isFile()) && st.uid === 0 && (st.mode & 0o022) === 0;
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/** Every valid entry of the file; [] when there is none or it is not to be trusted. */
function readEntries(file: string): Entry[] {
  if (!isRoot()) return [];
  let fd: number;
  try {
    if (!rootOnly(lstatSync(dirname(file)), 'dir')) return [];
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return [];
  }
  try {
    if (!rootOnly(fstatSync(fd), 'file')) return [];
    const parsed = JSON.parse(readFileSync(fd, 'utf8')) as unknown;
    return Array.isArray(parsed) ? parsed.filter(isEntry) : [];
  } catch {
    return [];
  } finally {
    closeSync(fd);
  }
}

const isAbsPath = (v: unknown): v is string => typeof v === 'string' && isAbsolute(v);
function isEntry(v: unknown): v is Entry {
  const e = v as Partial<Entry> | null;
  return typeof e === 'object' && e !== null && typeof e.key === 'string' && typeof e.stamp === 'string' && typeof e.version === 'string' && isAbsPath(e.binary) && Array.isArray(e.resolvedRoots) && e.resolvedRoots.every(isAbsPath);
}

/** The cached facts for `key`, when its binary is unchanged; undefined otherwise. */
export function readProbe(key: string, file = PROBE_CACHE_FILE): ProbeFacts | undefined {
  const entry = readEntries(file).find((e) => e.key === key);
  if (entry === undefined) return undefined;
  try {
    if (stampOf(entry.binary) !== entry.stamp) return undefined;
  } catch {
    return undefined;
  }
  return { binary: entry.binary, version: entry.version, resolvedRoots: entry.resolvedRoots };
}

/** Records a probe's facts (best effort: a failure only means the next start probes again). */
export function writeProbe(key: string, facts: ProbeFacts, file = PROBE_CACHE_FILE): void {
  if (!isRoot()) return;
  try {
    if (!rootOnly(lstatSync(dirname(file)), 'dir')) return;
    const entries = [...readEntries(file).filter((e) => e.key !== key), { key, stamp: stampOf(facts.binary), ...facts }].slice(-MAX_ENTRIES);
    const tmp = `${file}.${process.pid}.tmp`;
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, JSON.stringify(entries));
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch {
    // not cached this time
  }
}

/**
 * A host probe's one-line answer (`compute`, which runs `binary`), cached under the same rules:
 * the key is `kind`, the binary's real path and identity and `extraKey`; the entry is used only
 * while the binary keeps that identity. For checkHost's probes (bubblewrap's version; the
 * Landlock ABI, keyed by the boot id and kernel release too: the kernel, not the helper, decides
 * it, and it cannot change without a reboot). Throws what `compute` throws.
 */
export function cachedAnswer(kind: string, binary: string, extraKey: readonly unknown[], compute: () => string, file = PROBE_CACHE_FILE): string {
  let key: string | undefined;
  let real = binary;
  try {
    real = realpathSync(binary);
    key = createHash('sha256').update(JSON.stringify([kind, real, stampOf(real), extraKey])).digest('hex');
  } catch {
    key = undefined;
  }
  const cached = key === undefined ? undefined : readProbe(key, file);
  if (cached !== undefined) return cached.version;
  const answer = compute();
  if (key !== undefined) writeProbe(key, { binary: real, version: answer, resolvedRoots: [] }, file);
  return answer;
}

/** This boot's id and the kernel release (the Landlock ABI's key); '' parts when unreadable. */
export function kernelIdentity(): string[] {
  const read = (p: string): string => {
    try {
      return readFileSync(p, 'utf8').trim();
    } catch {
      return '';
    }
  };
  return [read('/proc/sys/kernel/random/boot_id'), read('/proc/sys/kernel/osrelease')];
}
