// Unit tests for the compile cache: the key (what changes it, what cannot collide), storage
// (atomic, checked on read), the LRU bound, the index rebuilt at start-up, and the refusal of an
// unsafe directory or planted entries.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompileCache, compileCacheKey, type CompileKeyInput } from '../../src/engine/compile-cache.js';
import { decodeEntry, encodeEntry, type CompileEntry } from '../../src/engine/compile-cache-entry.js';
import { CyloError } from '../../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'cylo-cache-unit-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => join(root, `c${++n}`);

const base: CompileKeyInput = {
  language: 'c',
  toolchain: '/usr/bin/gcc-12\n12.2.0',
  compile: { argv: ['{bin}', '-O2', '-o', '.build/main', '{files}'], artifact: ['.build/main'], env: {} },
  files: [
    { name: 'main.c', content: Buffer.from('int main(void){return 0;}') },
    { name: 'util.h', content: Buffer.from('#pragma once') },
  ],
};

test('the key is a stable sha256 hex of the inputs', () => {
  const k = compileCacheKey(base);
  assert.match(k, /^[0-9a-f]{64}$/);
  assert.equal(compileCacheKey(structuredClone({ ...base, files: base.files.map((f) => ({ name: f.name, content: Buffer.from(f.content) })) })), k);
});

test('every input changes the key: language, toolchain, flags, file names, file bytes, file set', () => {
  const k = compileCacheKey(base);
  const variants: CompileKeyInput[] = [
    { ...base, language: 'cpp' },
    { ...base, toolchain: '/usr/bin/gcc-12\n12.3.0' },
    { ...base, compile: { ...(base.compile as object), argv: ['{bin}', '-O0', '-o', '.build/main', '{files}'] } },
    { ...base, files: [{ name: 'main2.c', content: base.files[0]!.content }, base.files[1]!] },
    { ...base, files: [{ name: 'main.c', content: Buffer.from('int main(void){return 1;}') }, base.files[1]!] },
    { ...base, files: [base.files[0]!] },
    { ...base, files: [base.files[1]!, base.files[0]!] },
  ];
  const keys = new Set([k, ...variants.map(compileCacheKey)]);
  assert.equal(keys.size, variants.length + 1);
});

test('length framing: moving bytes between a name and its content gives another key', () => {
  const a = compileCacheKey({ ...base, files: [{ name: 'ab', content: Buffer.from('c') }] });
  const b = compileCacheKey({ ...base, files: [{ name: 'a', content: Buffer.from('bc') }] });
  const c = compileCacheKey({ ...base, files: [{ name: 'a', content: Buffer.from('b') }, { name: 'c', content: Buffer.alloc(0) }] });
  assert.equal(new Set([a, b, c]).size, 3);
});

/** An entry with this artifact and no compiler output. */
const entry = (artifact: Buffer): CompileEntry => ({ diagnostics: { exitCode: 0, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), stdoutTruncated: false, stderrTruncated: false }, artifact });
/** Bytes an entry takes on disk: magic (8) + sha256 (32) + its payload. */
const onDisk = (artifact: Buffer): number => 40 + encodeEntry(entry(artifact)).length;

const key = (i: number): string => compileCacheKey({ ...base, files: [{ name: 'main.c', content: Buffer.from(String(i)) }] });

test('put then get returns the bytes; an unknown key is a miss', async () => {
  const dir = freshDir();
  const cache = CompileCache.open({ dir, maxBytes: 1 << 20 });
  assert.equal((statSync(dir).mode & 0o777).toString(8), '700');
  const payload = Buffer.from('artifact bytes \u0000\u00ff');
  await cache.put(key(1), entry(payload));
  assert.deepEqual(await cache.get(key(1)), entry(payload));
  assert.equal(await cache.get(key(2)), undefined);
  assert.equal(await cache.get('not-a-key'), undefined);
  const files = readdirSync(dir);
  assert.deepEqual(files, [`${key(1)}.artifact`]);
  assert.equal((statSync(join(dir, files[0]!)).mode & 0o777).toString(8), '600');
  assert.deepEqual({ ...cache.stats(), bytes: 0 }, { entries: 1, bytes: 0, maxBytes: 1 << 20, hits: 1, misses: 2, evictions: 0, rejected: 0, writeErrors: 0 });
});

test('LRU: over the size bound the least recently used entries go first; a hit refreshes', async () => {
  const dir = freshDir();
  const bytes = 1000; // artifact bytes; each entry also has its headers
  const cache = CompileCache.open({ dir, maxBytes: 3 * onDisk(Buffer.alloc(bytes)) });
  for (const i of [1, 2, 3]) await cache.put(key(i), entry(Buffer.alloc(bytes, i)));
  assert.ok(await cache.get(key(1))); // 1 is now the most recently used
  await cache.put(key(4), entry(Buffer.alloc(bytes, 4))); // evicts 2, the least recently used
  assert.deepEqual(cache.keys(), [key(3), key(1), key(4)]);
  assert.equal(await cache.get(key(2)), undefined);
  assert.equal(cache.stats().evictions, 1);
  assert.equal(readdirSync(dir).length, 3);
  assert.ok(cache.stats().bytes <= cache.maxBytes);
});

test('an entry larger than the whole cache is not stored (and evicts nothing)', async () => {
  const cache = CompileCache.open({ dir: freshDir(), maxBytes: onDisk(Buffer.alloc(100)) + 100 });
  await cache.put(key(1), entry(Buffer.alloc(100)));
  await cache.put(key(2), entry(Buffer.alloc(1000)));
  assert.deepEqual(cache.keys(), [key(1)]);
});

test('the index is rebuilt at start-up, oldest mtime first, and leftover temp files are removed', async () => {
  const dir = freshDir();
  const first = CompileCache.open({ dir, maxBytes: 1 << 20 });
  for (const i of [1, 2, 3]) await first.put(key(i), entry(Buffer.alloc(10, i)));
  // Recency on disk: 2 oldest, then 3, then 1.
  utimesSync(join(dir, `${key(2)}.artifact`), 1000, 1000);
  utimesSync(join(dir, `${key(3)}.artifact`), 2000, 2000);
  utimesSync(join(dir, `${key(1)}.artifact`), 3000, 3000);
  writeFileSync(join(dir, `${key(9)}.0123456789abcdef.tmp`), 'interrupted write');
  writeFileSync(join(dir, 'README'), 'not an entry');
  const second = CompileCache.open({ dir, maxBytes: 1 << 20 });
  assert.deepEqual(second.keys(), [key(2), key(3), key(1)]);
  assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')));
  assert.deepEqual(await second.get(key(3)), entry(Buffer.alloc(10, 3)));
  // The hit refreshed 3's mtime; a smaller bound at start-up evicts down to it, oldest first.
  const size = onDisk(Buffer.alloc(10));
  const third = CompileCache.open({ dir, maxBytes: 2 * size + 1 });
  assert.deepEqual(third.keys(), [key(1), key(3)]);
  assert.equal(third.stats().bytes, 2 * size);
});

test('a corrupted entry is a miss and is removed', async () => {
  const dir = freshDir();
  const cache = CompileCache.open({ dir, maxBytes: 1 << 20 });
  await cache.put(key(1), entry(Buffer.from('good artifact')));
  const path = join(dir, `${key(1)}.artifact`);
  const bytes = readFileSync(path);
  bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
  writeFileSync(path, bytes);
  assert.equal(await cache.get(key(1)), undefined);
  assert.equal(cache.stats().rejected, 1);
  assert.deepEqual(readdirSync(dir), []);
});

test('a symlink or a hard link planted as an entry is never followed or trusted', async () => {
  const dir = freshDir();
  const outside = join(root, `outside-${n}`);
  writeFileSync(outside, 'secret');
  const cache = CompileCache.open({ dir, maxBytes: 1 << 20 });
  await cache.put(key(1), entry(Buffer.from('a')));
  await cache.put(key(2), entry(Buffer.from('b')));
  rmSync(join(dir, `${key(1)}.artifact`));
  symlinkSync(outside, join(dir, `${key(1)}.artifact`));
  assert.equal(await cache.get(key(1)), undefined);
  rmSync(join(dir, `${key(2)}.artifact`));
  linkSync(outside, join(dir, `${key(2)}.artifact`));
  assert.equal(await cache.get(key(2)), undefined);
  assert.equal(readFileSync(outside, 'utf8'), 'secret', 'the target is untouched');
  // A restart does not index links either.
  symlinkSync(outside, join(dir, `${key(3)}.artifact`));
  assert.deepEqual(CompileCache.open({ dir, maxBytes: 1 << 20 }).keys(), []);
});

test('an unsafe cache directory is refused with CYLO_E_CONFIG', () => {
  const open = (dir: string): CompileCache => CompileCache.open({ dir, maxBytes: 1 << 20 });
  const wide = freshDir();
  mkdirSync(wide, { mode: 0o700 });
  chmodSync(wide, 0o777);
  assert.throws(() => open(wide), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_CONFIG' && /mode 777; it must be 700/.test(e.message));
  const real = freshDir();
  mkdirSync(real, { mode: 0o700 });
  const link = freshDir();
  symlinkSync(real, link);
  assert.throws(() => open(link), /symbolic link/);
  const file = freshDir();
  writeFileSync(file, '');
  assert.throws(() => open(file), /cannot create it|not a directory/);
  assert.throws(() => open('relative/dir'), /absolute path/);
  const parent = freshDir();
  mkdirSync(parent, { mode: 0o777 });
  chmodSync(parent, 0o777); // world-writable, not sticky: anyone could swap the cache dir
  assert.throws(() => open(join(parent, 'cache')), /writable by group or others and not sticky/);
});

// ------------------------------------------------------------------------------------------
// the entry format (2): diagnostics stored with the artifact
// ------------------------------------------------------------------------------------------

test('an entry keeps the compile diagnostics byte for byte: exit code, stdout, stderr, truncation', async () => {
  // Proves a hit can answer with the compiler's own output (issue 12, item 5): without the
  // diagnostics in the entry, get() would return an artifact only.
  const cache = CompileCache.open({ dir: freshDir(), maxBytes: 1 << 20 });
  const stored: CompileEntry = {
    diagnostics: { exitCode: 0, stdout: Buffer.from('note: x\n'), stderr: Buffer.from([0x77, 0x61, 0x72, 0x6e, 0xff, 0x0a]), stdoutTruncated: true, stderrTruncated: false },
    artifact: Buffer.from('artifact \u0000 bytes'),
  };
  await cache.put(key(1), stored);
  // A fresh instance reads it from disk (not from anything kept in memory).
  const again = await CompileCache.open({ dir: cache.dir, maxBytes: 1 << 20 }).get(key(1));
  assert.deepEqual(again, stored);
});

test('an entry of the older format (artifact only, CYLOCC01) is a miss, removed, never a crash', async () => {
  // Proves old caches survive the upgrade: a format-1 entry with a valid checksum is refused.
  const dir = freshDir();
  const cache = CompileCache.open({ dir, maxBytes: 1 << 20 });
  await cache.put(key(1), entry(Buffer.from('x')));
  const artifact = Buffer.from('an old artifact bundle');
  const old = Buffer.concat([Buffer.from('CYLOCC01', 'ascii'), createHash('sha256').update(artifact).digest(), artifact]);
  writeFileSync(join(dir, `${key(1)}.artifact`), old);
  writeFileSync(join(dir, `${key(2)}.artifact`), old, { mode: 0o600 });
  const reopened = CompileCache.open({ dir, maxBytes: 1 << 20 });
  assert.equal(await reopened.get(key(1)), undefined);
  assert.equal(await reopened.get(key(2)), undefined);
  assert.equal(reopened.stats().rejected, 2);
  assert.deepEqual(readdirSync(dir), []);
});

test('a format-2 entry whose payload does not parse is a miss (checksum valid, contents not)', async () => {
  // Proves the payload is parsed strictly even when the checksum matches (a bug or an older
  // writer of the same magic): lengths beyond the entry, a non-JSON header, a wrong version.
  const dir = freshDir();
  const header = (h: object): Buffer => {
    const json = Buffer.from(JSON.stringify(h));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(json.length);
    return Buffer.concat([len, json]);
  };
  const good = { v: 2, exitCode: 0, stdoutBytes: 0, stderrBytes: 0, stdoutTruncated: false, stderrTruncated: false };
  const payloads = [
    header({ ...good, stdoutBytes: 1000 }),
    header({ ...good, v: 1 }),
    header({ ...good, exitCode: 'zero' }),
    Buffer.from([0xff, 0xff, 0xff, 0x7f, 1, 2, 3]),
    Buffer.concat([Buffer.from([3, 0, 0, 0]), Buffer.from('{x}')]),
    Buffer.alloc(2),
  ];
  payloads.forEach((p, i) => {
    const bytes = Buffer.concat([Buffer.from('CYLOCC02', 'ascii'), createHash('sha256').update(p).digest(), p]);
    writeFileSync(join(mkdirOnce(dir), `${key(i)}.artifact`), bytes, { mode: 0o600 });
  });
  const cache = CompileCache.open({ dir, maxBytes: 1 << 20 });
  for (let i = 0; i < payloads.length; i++) assert.equal(await cache.get(key(i)), undefined, `payload ${i}`);
  assert.equal(cache.stats().rejected, payloads.length);
  // And the well-formed one of the same shape is a hit.
  const ok = Buffer.concat([header(good), Buffer.from('bundle')]);
  assert.deepEqual(decodeEntry(ok).artifact, Buffer.from('bundle'));
});

function mkdirOnce(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
