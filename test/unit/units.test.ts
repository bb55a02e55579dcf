// The command line's units (src/util/units.ts): a bare duration is seconds (timeout(1)); a bare
// size is refused with a "did you mean" hint; the formatters print what the parsers read back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CyloError } from '../../src/errors.js';
import { formatDuration, formatSize, parseDuration, parseSize } from '../../src/util/units.js';

function usage(fn: () => unknown, pattern: RegExp, field?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CyloError);
    assert.equal(e.code, 'CYLO_E_USAGE');
    assert.match(e.message, pattern);
    assert.equal(e.field, field);
    return true;
  });
}

test('durations: a bare number is seconds; ms, s, m, h; zero and junk refused naming the flag', () => {
  assert.equal(parseDuration('5', '--timeout'), 5000);
  assert.equal(parseDuration('0.5', '--timeout'), 500);
  assert.equal(parseDuration('500ms', '--timeout'), 500);
  assert.equal(parseDuration('5s', '--timeout'), 5000);
  assert.equal(parseDuration('2m', '--timeout'), 120_000);
  assert.equal(parseDuration('1h', '--timeout'), 3_600_000);
  usage(() => parseDuration('0', '--timeout'), /^--timeout: must be more than zero/, '--timeout');
  usage(() => parseDuration('soon', '--cpu-time'), /^--cpu-time: expected a duration .*a bare number is seconds/, '--cpu-time');
  usage(() => parseDuration('soon', ''), /^expected a duration/);
});

test('sizes: a unit is required ("128" -> did you mean 128M?), B for bytes, binary K/M/G/T', () => {
  usage(() => parseSize('128', '--memory'), /^--memory: 128 has no unit; did you mean 128M\?/, '--memory');
  assert.equal(parseSize('4096B', '--memory'), 4096);
  assert.equal(parseSize('64k', '--memory'), 65_536);
  assert.equal(parseSize('128M', '--memory'), 128 * 1024 ** 2);
  assert.equal(parseSize('1GiB', '--memory'), 1024 ** 3);
  assert.equal(parseSize('1.5K', '--memory'), 1536);
  usage(() => parseSize('0M', '--memory'), /^--memory: must be more than zero/, '--memory');
  usage(() => parseSize('lots', '--output-limit'), /^--output-limit: expected a size/, '--output-limit');
});

test('formatDuration and formatSize print the largest exact unit, which the parsers read back', () => {
  for (const ms of [1, 1500, 5000, 60_000, 90_000, 3_600_000]) assert.equal(parseDuration(formatDuration(ms), 'x'), ms);
  assert.equal(formatDuration(60_000), '1m');
  assert.equal(formatDuration(1500), '1500ms');
  for (const bytes of [1, 1536, 4 * 1024 ** 2, 2 * 1024 ** 3]) assert.equal(parseSize(formatSize(bytes), 'x'), bytes);
  assert.equal(formatSize(4 * 1024 ** 2), '4M');
  assert.equal(formatSize(1536), '1536B');
});
