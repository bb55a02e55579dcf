// The compile cache: content-addressed compiled artifacts, so a repeated program skips its
// compile stage entirely.
//
// - Entry: the compile's diagnostics (exit code, stdout, stderr, truncation) and its artifact
//   (compile-cache-entry.ts), so a hit answers with the same compiler output. An entry of an
//   older format (other magic, other payload) is a miss, removed like a corrupt one.
// - Key: sha256 over the language, the toolchain fingerprint (binary, version, package
//   versions), the compile templates (argv, env, artifact paths) and every request file's name and
//   bytes, each length-prefixed so no two inputs share a key by concatenation.
// - Storage: one file per entry in a directory owned by cylo's user, mode 0700, that no sandbox
//   ever sees. Entries are written by this process only (never by a sandbox): to a fresh
//   temporary name opened with O_CREAT|O_EXCL ('wx'), then renamed into place. They are read with
//   O_NOFOLLOW and checked (regular file, our uid, one link, size, sha256 of the payload), so a
//   corrupt or planted entry is a miss, never trusted (see REFERENCE.md section 2).
// - Bounded: an in-memory LRU index (rebuilt at start-up from the directory, most recently used
//   last by mtime; a hit refreshes the mtime through the open fd) evicts the least recently used
//   entries when the total size goes above maxBytes.
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, lstatSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { CyloError } from '../errors.js';
import { decodeEntry, encodeEntry, type CompileEntry } from './compile-cache-entry.js';

/** Bumped whenever the entry format or the key derivation changes. */
const FORMAT = 'cylo-compile-cache-v2';
/** Format 1 ('CYLOCC01') held the artifact alone; format 2 adds the compile's diagnostics. */
const MAGIC = Buffer.from('CYLOCC02', 'ascii');
const HEADER_BYTES = MAGIC.length + 32;
const ENTRY_SUFFIX = '.artifact';
const TEMP_SUFFIX = '.tmp';
const KEY_PATTERN = /^[0-9a-f]{64}$/;

export const DEFAULT_CACHE_DIR = '/var/cache/cylo/compile';
export const DEFAULT_CACHE_MAX_BYTES = 512 * 1024 * 1024;

export interface CompileKeyInput {
  language: string;
  /** Binary, version and anything else that changes the toolchain's output. */
  toolchain: string;
  /** The compile templates (argv, env, artifacts) exactly as the definition gives them. */
  compile: unknown;
  files: ReadonlyArray<{ name: string; content: Buffer }>;
}

function frame(hash: ReturnType<typeof createHash>, data: Buffer | string): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(bytes.length));
  hash.update(len);
  hash.update(bytes);
}

/** The cache key of a compile: hex sha256 over length-prefixed inputs. */
export function compileCacheKey(input: CompileKeyInput): string {
  const hash = createHash('sha256');
  frame(hash, FORMAT);
  frame(hash, input.language);
  frame(hash, input.toolchain);
  frame(hash, JSON.stringify(input.compile));
  frame(hash, String(input.files.length));
  for (const f of input.files) {
    frame(hash, f.name);
    frame(hash, f.content);
  }
  return hash.digest('hex');
}

export interface CompileCacheOptions {
  dir: string;
  maxBytes: number;
}

export interface CompileCacheStats {
  entries: number;
  bytes: number;
  maxBytes: number;
  hits: number;
  misses: number;
  evictions: number;
  /** Entries found corrupt or unsafe and dropped. */
  rejected: number;
  /** Writes that failed (the execution went on without caching). */
  writeErrors: number;
}

interface IndexEntry {
  size: number;
}

const uid = (): number => (typeof process.getuid === 'function' ? process.getuid() : -1);

/**
 * Checks that DIR and every ancestor can only be changed by us or root: owned by one of them and
 * not writable by group/others (a sticky world-writable parent such as /tmp is fine, since only
 * its owner can rename our directory away).
 */
function checkDirectorySafety(dir: string): void {
  const me = uid();
  const bad = (why: string): never => {
    throw new CyloError('CYLO_E_CONFIG', `cacheDir ${dir}: ${why}`, { field: 'cacheDir' });
  };
  const st = lstatSync(dir);
  if (st.isSymbolicLink()) bad('is a symbolic link; give the real directory');
  if (!st.isDirectory()) bad('is not a directory');
  if (st.uid !== me) bad(`is owned by uid ${st.uid}, not by cylo's uid ${me}`);
  if ((st.mode & 0o077) !== 0) bad(`has mode ${(st.mode & 0o777).toString(8)}; it must be 700 (chmod 700 ${dir})`);
  let parent = dirname(dir);
  for (;;) {
    const p = lstatSync(parent);
    if (p.isSymbolicLink()) bad(`its parent ${parent} is a symbolic link`);
    if (p.uid !== 0 && p.uid !== me) bad(`its parent ${parent} is owned by uid ${p.uid}`);
    if ((p.mode & 0o022) !== 0 && (p.mode & 0o1000) === 0) bad(`its parent ${parent} is writable by group or others and not sticky`);
    if (parent === '/') break;
    parent = dirname(parent);
  }
}

export class CompileCache {
  /** LRU order: least recently used first (Map keeps insertion order). */
  private readonly index = new Map<string, IndexEntry>();
  private total = 0;
  private readonly counters = { hits: 0, misses: 0, evictions: 0, rejected: 0, writeErrors: 0 };

  private constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  /** Creates (0700) or opens the cache directory, checks it is safe, and rebuilds the index. */
  static open(options: CompileCacheOptions): CompileCache {
    if (!isAbsolute(options.dir)) throw new CyloError('CYLO_E_CONFIG', `cacheDir: must be an absolute path (got ${JSON.stringify(options.dir)})`, { field: 'cacheDir' });
    if (!Number.isInteger(options.maxBytes) || options.maxBytes <= 0) throw new CyloError('CYLO_E_CONFIG', `cacheMaxBytes: expected a positive integer (got ${String(options.maxBytes)})`, { field: 'cacheMaxBytes' });
    const dir = resolve(options.dir);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new CyloError('CYLO_E_CONFIG', `cacheDir ${dir}: cannot create it (${(error as Error).message})`, { field: 'cacheDir', cause: error });
    }
    checkDirectorySafety(dir);
    const cache = new CompileCache(dir, options.maxBytes);
    cache.scan();
    return cache;
  }

  private path(key: string): string {
    return join(this.dir, `${key}${ENTRY_SUFFIX}`);
  }

  /** Rebuilds the index from the directory: oldest mtime first; leftovers and strays removed. */
  private scan(): void {
    const found: Array<{ key: string; size: number; mtimeMs: number }> = [];
    for (const name of readdirSync(this.dir)) {
      const path = join(this.dir, name);
      const key = name.endsWith(ENTRY_SUFFIX) ? name.slice(0, -ENTRY_SUFFIX.length) : '';
      let st;
      try {
        st = lstatSync(path);
      } catch {
        continue;
      }
      // Only regular files with a key name are entries; an interrupted write (.tmp) is removed.
      if (KEY_PATTERN.test(key) && st.isFile() && st.nlink === 1) {
        found.push({ key, size: st.size, mtimeMs: st.mtimeMs });
      } else if (name.endsWith(TEMP_SUFFIX) && st.isFile()) {
        try {
          unlinkSync(path);
        } catch {
          // gone already
        }
      }
    }
    found.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const f of found) {
      this.index.set(f.key, { size: f.size });
      this.total += f.size;
    }
    this.evict();
  }

  private forget(key: string): void {
    const e = this.index.get(key);
    if (e === undefined) return;
    this.index.delete(key);
    this.total -= e.size;
  }

  /** The entry (diagnostics and artifact bundle) stored under KEY, or undefined (a miss: none,
   *  or one that is corrupt, unsafe or of an older format, which is then removed). Never throws. */
  async get(key: string): Promise<CompileEntry | undefined> {
    if (!KEY_PATTERN.test(key) || !this.index.has(key)) {
      this.counters.misses += 1;
      return undefined;
    }
    const path = this.path(key);
    let handle;
    try {
      handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    } catch {
      this.forget(key);
      this.counters.misses += 1;
      return undefined;
    }
    try {
      const st = await handle.stat();
      if (!st.isFile() || st.uid !== uid() || st.nlink !== 1 || st.size < HEADER_BYTES || st.size > this.maxBytes) throw new Error('not a cache entry');
      const data = Buffer.alloc(st.size);
      const { bytesRead } = await handle.read(data, 0, st.size, 0);
      if (bytesRead !== st.size || !data.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('bad entry');
      const payload = data.subarray(HEADER_BYTES);
      const digest = createHash('sha256').update(payload).digest();
      if (!digest.equals(data.subarray(MAGIC.length, HEADER_BYTES))) throw new Error('checksum mismatch');
      const entry = decodeEntry(payload);
      // Most recently used: last in the index, and a fresh mtime for the next start-up's scan.
      const now = new Date();
      await handle.utimes(now, now).catch(() => {});
      const indexed = this.index.get(key);
      if (indexed !== undefined) {
        this.index.delete(key);
        this.index.set(key, indexed);
      }
      this.counters.hits += 1;
      return entry;
    } catch {
      this.counters.rejected += 1;
      this.counters.misses += 1;
      this.forget(key);
      await unlink(path).catch(() => {});
      return undefined;
    } finally {
      await handle.close().catch(() => {});
    }
  }

  /** Stores ENTRY under KEY (atomically). A failure is counted, never thrown. */
  async put(key: string, entry: CompileEntry): Promise<void> {
    if (!KEY_PATTERN.test(key)) return;
    const payload = encodeEntry(entry);
    const size = HEADER_BYTES + payload.length;
    if (size > this.maxBytes) return; // larger than the whole cache: not worth evicting everything
    const temp = join(this.dir, `${key}.${randomBytes(8).toString('hex')}${TEMP_SUFFIX}`);
    try {
      const handle = await open(temp, 'wx', 0o600);
      try {
        const digest = createHash('sha256').update(payload).digest();
        await handle.writeFile(Buffer.concat([MAGIC, digest, payload]));
      } finally {
        await handle.close();
      }
      await rename(temp, this.path(key));
    } catch {
      this.counters.writeErrors += 1;
      await unlink(temp).catch(() => {});
      return;
    }
    this.forget(key);
    this.index.set(key, { size });
    this.total += size;
    this.evict();
  }

  /** Removes least recently used entries until the total fits. */
  private evict(): void {
    while (this.total > this.maxBytes) {
      const oldest = this.index.keys().next();
      if (oldest.done === true) break;
      const key = oldest.value;
      this.forget(key);
      this.counters.evictions += 1;
      try {
        unlinkSync(this.path(key)); // unlink never follows a link
      } catch {
        // already gone
      }
    }
  }

  /** Keys, least recently used first (for tests and diagnostics). */
  keys(): string[] {
    return [...this.index.keys()];
  }

  stats(): CompileCacheStats {
    return { entries: this.index.size, bytes: this.total, maxBytes: this.maxBytes, ...this.counters };
  }
}
