// Unit tests (no sandbox) of the output-file pieces on the host: the request's patterns
// (workspace path rule, bounds, duplicates), image types by magic bytes, the decoder of the
// stream PID 1 sends (every length checked; unsafe names never become files), the inner
// helper's argv for a run stage with outputs, and the MCP content blocks. Each test says what
// it proves.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkOutputPatterns, imageMimeType, MAX_OUTPUT_PATTERNS } from '../../src/api/outputs.js';
import { normalizeRequest } from '../../src/api/request.js';
import { decodeOutputBundle, OutputBundleError } from '../../src/backend/output-bundle.js';
import { buildInnerArgv, FD_EMIT, type SandboxPlan } from '../../src/sandbox/bwrap-argv.js';
import { fileBlocks, outputUri } from '../../src/mcp/output-content.js';
import type { ExecutionResult } from '../../src/api/result.js';
import { CyloError } from '../../src/errors.js';

const CAPS = { fileMaxBytes: 100, totalMaxBytes: 150, maxFiles: 3 };

/** One record of the stream (see src/backend/output-bundle.ts). */
function record(name: string | Buffer, kind: number, size: number, content: Buffer = Buffer.alloc(0)): Buffer {
  const raw = typeof name === 'string' ? Buffer.from(name) : name;
  const head = Buffer.alloc(24);
  head.writeUInt32LE(raw.length, 0);
  head.writeUInt32LE(kind, 4);
  head.writeBigUInt64LE(BigInt(size), 8);
  head.writeBigUInt64LE(BigInt(content.length), 16);
  return Buffer.concat([head, raw, content]);
}
const END = Buffer.alloc(24);

describe('outputs patterns', () => {
  it('accepts workspace-relative patterns and drops duplicates', () => {
    assert.deepEqual(checkOutputPatterns(['*.png', 'out/**', 'result.csv', '*.png']), ['*.png', 'out/**', 'result.csv']);
    assert.deepEqual(checkOutputPatterns(undefined), []);
    assert.deepEqual(normalizeRequest({ language: 'python', code: 'x', outputs: ['a/*.txt'] }).outputs, ['a/*.txt']);
  });

  it('refuses patterns that leave the workspace or are malformed, naming outputs[i]', () => {
    // proves: the workspace path rule applies to patterns before any sandbox sees them
    for (const bad of ['../x', 'a/../b', '/etc/*', '', 'a//b', './a', 'a\\b', 'a\nb', 'x'.repeat(513)]) {
      assert.throws(() => checkOutputPatterns(['ok', bad]), (e: CyloError) => e.code === 'CYLO_E_VALIDATION' && e.field === 'outputs[1]', JSON.stringify(bad));
    }
    assert.throws(() => checkOutputPatterns(Array.from({ length: MAX_OUTPUT_PATTERNS + 1 }, (_v, i) => `f${i}`)), (e: CyloError) => e.field === 'outputs');
    assert.throws(() => normalizeRequest({ language: 'python', code: 'x', outputs: 'a.txt' }), (e: CyloError) => e.field === 'outputs');
    // with test cases (each case its own sandbox) there is no single run to return files from
    assert.throws(() => normalizeRequest({ language: 'python', code: 'x', outputs: ['a.txt'], tests: [{ stdin: '' }] }), (e: CyloError) => e.field === 'outputs' && /not with tests/.test(e.message));
  });
});

describe('imageMimeType', () => {
  it('recognises PNG, JPEG, GIF, WebP and SVG by their bytes, nothing else', () => {
    assert.equal(imageMimeType(Buffer.from('89504e470d0a1a0a0000', 'hex')), 'image/png');
    assert.equal(imageMimeType(Buffer.from('ffd8ffe000104a464946', 'hex')), 'image/jpeg');
    assert.equal(imageMimeType(Buffer.from('GIF89a....')), 'image/gif');
    assert.equal(imageMimeType(Buffer.from('RIFF\x10\x00\x00\x00WEBPVP8 ', 'latin1')), 'image/webp');
    assert.equal(imageMimeType(Buffer.from('<?xml version="1.0"?>\n<!-- made by hand -->\n<svg xmlns="http://www.w3.org/2000/svg"/>')), 'image/svg+xml');
    assert.equal(imageMimeType(Buffer.from('\uFEFF<svg width="1"></svg>')), 'image/svg+xml');
    for (const other of ['', 'hello', '<html><svg/></html>', 'RIFF\x00\x00\x00\x00WAVE', '\x89PNG']) assert.equal(imageMimeType(Buffer.from(other, 'latin1')), undefined, other);
  });
});

describe('decodeOutputBundle', () => {
  it('decodes files (whole and cut), skipped entries and the cut listing, sorted by name', () => {
    const data = Buffer.concat([record('b.txt', 1, 5, Buffer.from('bbbbb')), record('a.bin', 1, 500, Buffer.alloc(100, 1)), record('l', 2, 0), record('f', 3, 0), record('big', 6, 9999), Buffer.concat([Buffer.alloc(8), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), Buffer.alloc(8)])]);
    const out = decodeOutputBundle(data, { ...CAPS, totalMaxBytes: 200 });
    assert.deepEqual(out.files.map((f) => [f.name, f.size, f.content.length, f.truncated]), [['a.bin', 500, 100, true], ['b.txt', 5, 5, false]]);
    assert.deepEqual(out.skipped, [{ name: 'l', reason: 'symlink' }, { name: 'f', reason: 'fifo' }, { name: 'big', reason: 'total_limit' }]);
    assert.equal(out.listingCut, true);
  });

  it('lists unsafe or non-UTF-8 names as bad_name, never as files', () => {
    // proves: a name the host would write outside a directory (the CLI) cannot come back as a file
    const out = decodeOutputBundle(Buffer.concat([record('../x', 1, 1, Buffer.from('x')), record(Buffer.from([0x66, 0xff]), 1, 1, Buffer.from('y')), END]), CAPS);
    assert.deepEqual(out.files, []);
    assert.deepEqual(out.skipped.map((s) => s.reason), ['bad_name', 'bad_name']);
  });

  it('refuses streams that break the format or the caps', () => {
    // proves: nothing PID 1 sends is trusted: lengths, kinds and caps are all checked
    const bad: Array<[string, Buffer]> = [
      ['no end', record('a', 1, 1, Buffer.from('a'))],
      ['trailing bytes', Buffer.concat([END, Buffer.from('x')])],
      ['content past the per-file cap', Buffer.concat([record('a', 1, 200, Buffer.alloc(101)), END])],
      ['content longer than the size', Buffer.concat([record('a', 1, 1, Buffer.from('ab')), END])],
      ['past the total cap', Buffer.concat([record('a', 1, 100, Buffer.alloc(100)), record('b', 1, 100, Buffer.alloc(100)), END])],
      ['too many files', Buffer.concat([...['a', 'b', 'c', 'd'].map((n) => record(n, 1, 1, Buffer.from('x'))), END])],
      ['unknown kind', Buffer.concat([record('a', 42, 0), END])],
      ['content after a skipped entry', Buffer.concat([record('a', 2, 1, Buffer.from('x')), END])],
      ['truncated record', record('a', 1, 50, Buffer.alloc(50)).subarray(0, 40)],
    ];
    for (const [what, data] of bad) assert.throws(() => decodeOutputBundle(data, CAPS), OutputBundleError, what);
  });
});

describe('the inner helper argv of a run stage with outputs', () => {
  it('passes the patterns and caps with the emit fd, after "--"-free option pairs', () => {
    const plan = { landlock: { mode: 'on', readOnly: [], readExec: [], readWrite: [], devices: [] }, outputs: { patterns: ['*.png', 'out/**'], fileMaxBytes: 10, totalMaxBytes: 20, maxFiles: 3 } } as unknown as SandboxPlan;
    const argv = buildInnerArgv(plan).join(' ');
    assert.match(argv, new RegExp(`--emit-fd ${FD_EMIT} --output-file-max 10 --output-max 20 --output-max-files 3 --output \\*\\.png --output out/\\*\\*`));
    assert.doesNotMatch(argv, /--emit /);
  });
});

describe('MCP content of output files', () => {
  const file = (name: string, content: Buffer, extra: object = {}) => ({ name, size: content.length, encoding: 'base64' as const, content: content.toString('base64'), truncated: false, ...extra });
  const result = (files: ReturnType<typeof file>[]): ExecutionResult =>
    ({ id: 'e-1', run: { files } }) as unknown as ExecutionResult;

  it('a whole raster image is an image block; SVG, text, binary and a cut image are resources', () => {
    const png = Buffer.from('89504e470d0a1a0a', 'hex');
    const blocks = fileBlocks(result([file('p.png', png, { mimeType: 'image/png' }), file('cut.png', png, { mimeType: 'image/png', truncated: true }), file('d.svg', Buffer.from('<svg/>'), { mimeType: 'image/svg+xml' }), file('t.txt', Buffer.from('hi')), file('b.bin', Buffer.from([0, 1, 2]))]));
    assert.deepEqual(blocks[0], { type: 'image', data: png.toString('base64'), mimeType: 'image/png' });
    assert.deepEqual(blocks[1], { type: 'resource', resource: { uri: 'cylo://execution/e-1/work/cut.png', mimeType: 'image/png', blob: png.toString('base64') } });
    assert.deepEqual(blocks[2], { type: 'resource', resource: { uri: 'cylo://execution/e-1/work/d.svg', mimeType: 'image/svg+xml', text: '<svg/>' } });
    assert.deepEqual(blocks[3], { type: 'resource', resource: { uri: 'cylo://execution/e-1/work/t.txt', mimeType: 'text/plain', text: 'hi' } });
    assert.deepEqual(blocks[4], { type: 'resource', resource: { uri: 'cylo://execution/e-1/work/b.bin', mimeType: 'application/octet-stream', blob: 'AAEC' } });
    assert.equal(outputUri('x', 'a b/c#d.txt'), 'cylo://execution/x/work/a%20b/c%23d.txt');
  });
});
