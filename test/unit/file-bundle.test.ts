// Unit tests for the bundle format: encodeBundle/decodeBundle round-trip, and the decoder's
// refusals (the artifact bundle comes out of a sandbox, so every length and name is checked).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BundleError, decodeBundle, encodeBundle, encodeJob, type BundleFile } from '../../src/backend/file-bundle.js';

const LIMITS = { maxBytes: 1 << 20, maxFiles: 100 };
const bundle = (files: BundleFile[]): Buffer => Buffer.concat(encodeBundle(files));

/** One raw record, for building malformed bundles by hand. */
function record(name: string | Buffer, content: Buffer, mode = 0o644, declaredSize?: bigint): Buffer {
  const n = typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
  const h = Buffer.alloc(16);
  h.writeUInt32LE(n.length, 0);
  h.writeUInt32LE(mode, 4);
  h.writeBigUInt64LE(declaredSize ?? BigInt(content.length), 8);
  return Buffer.concat([h, n, content]);
}
const END = Buffer.alloc(16);

test('round trip: names, contents, executable bits, empty and binary files', () => {
  const files: BundleFile[] = [
    { name: 'main', content: Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 255]), executable: true },
    { name: '.build/classes/Main.class', content: Buffer.from('cafebabe', 'hex'), executable: false },
    { name: 'empty.txt', content: Buffer.alloc(0), executable: false },
    { name: 'ünï/日本.txt', content: Buffer.from('✓\n'), executable: false },
  ];
  assert.deepEqual(decodeBundle(bundle(files), LIMITS), files);
});

test('an empty bundle (just the end record) decodes to no files', () => {
  assert.deepEqual(decodeBundle(END, LIMITS), []);
});

test('any execute bit in the mode makes the file executable', () => {
  const files = decodeBundle(Buffer.concat([record('a', Buffer.from('x'), 0o700), record('b', Buffer.from('y'), 0o601), record('c', Buffer.from('z'), 0o644), END]), LIMITS);
  assert.deepEqual(
    files.map((f) => [f.name, f.executable]),
    [
      ['a', true],
      ['b', true],
      ['c', false],
    ],
  );
});

test('truncated input is refused at every position', () => {
  const full = bundle([{ name: 'dir/file', content: Buffer.from('hello world') }]);
  for (let cut = 0; cut < full.length; cut++) {
    assert.throws(() => decodeBundle(full.subarray(0, cut), LIMITS), BundleError, `cut at ${cut}`);
  }
  assert.equal(decodeBundle(full, LIMITS).length, 1);
});

test('a size larger than what follows (including 2^64-1) is refused without allocating it', () => {
  assert.throws(() => decodeBundle(Buffer.concat([record('a', Buffer.from('abc'), 0o644, 1000n), END]), LIMITS), /truncated file/);
  assert.throws(() => decodeBundle(Buffer.concat([record('a', Buffer.alloc(0), 0o644, 0xffffffffffffffffn), END]), LIMITS), /truncated file/);
});

test('trailing bytes after the end record and a malformed end record are refused', () => {
  assert.throws(() => decodeBundle(Buffer.concat([END, Buffer.from('x')]), LIMITS), /after the end record/);
  const badEnd = Buffer.alloc(16);
  badEnd.writeUInt32LE(0o755, 4);
  assert.throws(() => decodeBundle(badEnd, LIMITS), /malformed end record/);
});

test('unsafe names are refused: absolute, .., ., empty components, NUL and control characters, backslash', () => {
  for (const name of ['/etc/passwd', '../x', 'a/../../x', 'a/./b', 'a//b', 'a/', './a', '..', 'a\0b', 'a\nb', 'a\\b']) {
    assert.throws(() => decodeBundle(Buffer.concat([record(name, Buffer.from('x')), END]), LIMITS), BundleError, JSON.stringify(name));
  }
});

test('names that are not UTF-8 are refused', () => {
  assert.throws(() => decodeBundle(Buffer.concat([record(Buffer.from([0x61, 0xff, 0x62]), Buffer.from('x')), END]), LIMITS), /not valid UTF-8/);
});

test('overlong names, duplicates and file/directory clashes are refused', () => {
  assert.throws(() => decodeBundle(Buffer.concat([record('a'.repeat(5000), Buffer.from('x')), END]), LIMITS), /file name of 5000 bytes/);
  assert.throws(() => decodeBundle(Buffer.concat([record('a', Buffer.from('x')), record('a', Buffer.from('y')), END]), LIMITS), /duplicate/);
  assert.throws(() => decodeBundle(Buffer.concat([record('a', Buffer.from('x')), record('a/b', Buffer.from('y')), END]), LIMITS), /both a file and a directory/);
  assert.throws(() => decodeBundle(Buffer.concat([record('a/b/c', Buffer.from('x')), record('a/b', Buffer.from('y')), END]), LIMITS), /both a file and a directory/);
});

test('the byte and file-count limits hold', () => {
  const many = bundle(Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, content: Buffer.from('x') })));
  assert.equal(decodeBundle(many, { maxBytes: many.length, maxFiles: 5 }).length, 5);
  assert.throws(() => decodeBundle(many, { maxBytes: many.length, maxFiles: 4 }), /more than 4 files/);
  assert.throws(() => decodeBundle(many, { maxBytes: many.length - 1, maxFiles: 5 }), /above the limit/);
});

test('decoded contents are copies, not views of the input buffer', () => {
  const data = bundle([{ name: 'a', content: Buffer.from('abc') }]);
  const [file] = decodeBundle(data, LIMITS);
  data.fill(0);
  assert.equal(file?.content.toString(), 'abc');
});

test('the job, byte for byte: "CYJ2", the flags word, then argv, env and rlimits lists', () => {
  // proves: the exact version-2 layout read_job (native/job.c) reads; stderrToStdout sets flag
  // bit 0 and nothing else (a change of layout or of the bit breaks this test and the helper).
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n, 0);
    return b;
  };
  const item = (s: string): Buffer => Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s)]);
  const body = Buffer.concat([u32(2), item('/bin/echo'), item('é'), u32(1), item('A=b'), u32(1), item('core=0')]);
  const job = { argv: ['/bin/echo', 'é'], env: { A: 'b' }, rlimits: { core: 0 } };
  assert.deepEqual(encodeJob(job), Buffer.concat([Buffer.from('CYJ2'), u32(0), body]));
  assert.deepEqual(encodeJob({ ...job, stderrToStdout: true }), Buffer.concat([Buffer.from('CYJ2'), u32(1), body]));
  assert.deepEqual(encodeJob({ ...job, stderrToStdout: false }), Buffer.concat([Buffer.from('CYJ2'), u32(0), body]));
});
