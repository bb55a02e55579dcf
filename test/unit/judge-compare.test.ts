// Unit tests of the judge's pure parts: the comparison modes (src/judge/compare.ts), the
// verdict of a checker's exit code and the summary (src/judge/verdicts.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareOutput } from '../../src/judge/compare.js';
import { checkerVerdict, notRunCase, statusVerdict, summarize } from '../../src/judge/verdicts.js';
import type { Comparison } from '../../src/api/test-cases.js';

const eq = (actual: string, expected: string, c: Comparison): boolean => compareOutput(Buffer.from(actual), Buffer.from(expected), c).equal;
const EXACT: Comparison = { mode: 'exact' };
const LINES: Comparison = { mode: 'lines' };
const TOKENS: Comparison = { mode: 'tokens' };
const NUMERIC: Comparison = { mode: 'numeric', absoluteTolerance: 1e-6, relativeTolerance: 1e-6 };

test('exact: byte for byte; the detail names the first differing byte or the length', () => {
  assert.equal(eq('3\n', '3\n', EXACT), true);
  assert.equal(eq('3', '3\n', EXACT), false);
  assert.equal(eq('3 \n', '3\n', EXACT), false);
  assert.match(compareOutput(Buffer.from('abc'), Buffer.from('abd'), EXACT).detail ?? '', /byte 2 differs: expected "d", got "c"/);
  assert.match(compareOutput(Buffer.from('ab'), Buffer.from('abc'), EXACT).detail ?? '', /ends after 2 bytes; 3 expected/);
});

test('lines (Judge0\'s rule): trailing whitespace per line and trailing blank lines ignored; leading and inner spaces count', () => {
  assert.equal(eq('1 2  \t\n3\n\n\n', '1 2\n3', LINES), true);
  assert.equal(eq('1 2\r\n3\r\n', '1 2\n3\n', LINES), true);
  assert.equal(eq(' 1 2\n', '1 2\n', LINES), false);
  assert.equal(eq('1  2\n', '1 2\n', LINES), false);
  assert.equal(eq('1\n\n2\n', '1\n2\n', LINES), false, 'a blank line inside the output counts');
  assert.equal(compareOutput(Buffer.from('1\n2\n'), Buffer.from('1\n3\n'), LINES).detail, 'line 2: expected "3", got "2"');
  assert.equal(compareOutput(Buffer.from('1\n'), Buffer.from('1\n3\n'), LINES).detail, 'line 2: expected "3", got the end of the output');
  assert.equal(compareOutput(Buffer.from('1\n4\n'), Buffer.from('1\n'), LINES).detail, 'line 2: expected the end of the output, got "4"');
  assert.equal(eq('', '', LINES), true);
  assert.equal(eq('\n\n', '', LINES), true);
});

test('tokens: any whitespace between tokens; the tokens themselves exact', () => {
  assert.equal(eq('1   2\n\n3', '1 2 3', TOKENS), true);
  assert.equal(eq('1 2 3 4', '1 2 3', TOKENS), false);
  assert.equal(eq('1.0', '1', TOKENS), false, 'tokens mode does not compare numbers');
  assert.equal(compareOutput(Buffer.from('a b'), Buffer.from('a c'), TOKENS).detail, 'token 2: expected "c", got "b"');
});

test('numeric: numbers within the absolute OR the relative tolerance; other tokens exact', () => {
  assert.equal(eq('0.3333333', '0.33333333333', NUMERIC), true);
  assert.equal(eq('1.000001', '1', NUMERIC), true, 'exactly at the absolute tolerance');
  assert.equal(eq('1.0000011', '1', NUMERIC), false);
  assert.equal(eq('1000000.5', '1000000', NUMERIC), true, 'within the relative tolerance (1e-6 * 1e6 = 1)');
  assert.equal(eq('1000002', '1000000', NUMERIC), false);
  assert.equal(eq('1e3 yes', '1000 yes', NUMERIC), true);
  assert.equal(eq('1 no', '1 yes', NUMERIC), false);
  assert.equal(eq('nan', 'nan', NUMERIC), true, 'equal strings are equal tokens');
  assert.equal(eq('nan', '0', NUMERIC), false, 'nan is not a number within any tolerance');
  assert.equal(eq('0x10', '16', NUMERIC), false, 'hex is not a judge number');
  assert.equal(eq('2.5', '2', { mode: 'numeric', absoluteTolerance: 0.5, relativeTolerance: 0 }), true);
});

test('verdicts: statuses map to verdicts; a checker\'s exit 0/1/2 decide, anything else is the checker failing', () => {
  assert.equal(statusVerdict('ok'), undefined);
  assert.equal(statusVerdict('timeout'), 'time_limit');
  assert.equal(statusVerdict('memory_limit'), 'memory_limit');
  assert.equal(statusVerdict('output_limit'), 'output_limit');
  assert.equal(statusVerdict('runtime_error'), 'runtime_error');
  assert.equal(statusVerdict('internal_error'), 'internal_error');
  assert.equal(checkerVerdict(0), 'accepted');
  assert.equal(checkerVerdict(1), 'wrong_answer');
  assert.equal(checkerVerdict(2), 'wrong_answer');
  assert.equal(checkerVerdict(3), 'internal_error');
  assert.equal(checkerVerdict(null), 'internal_error');
});

test('summary: counts, the first non-accepted verdict in order, maxima over the cases that ran', () => {
  const ran = (index: number, verdict: 'accepted' | 'wrong_answer', wallMs: number) => ({ ...notRunCase(index, null, verdict, null), status: 'ok' as const, wallMs, cpuMs: wallMs / 2, memoryBytes: wallMs * 1000 });
  const s = summarize([ran(0, 'accepted', 5), ran(1, 'wrong_answer', 9), notRunCase(2, null, 'skipped', 'x'), ran(3, 'accepted', 7)]);
  assert.deepEqual(s, { total: 4, passed: 2, verdict: 'wrong_answer', verdicts: { accepted: 2, wrong_answer: 1, skipped: 1 }, maxWallMs: 9, maxCpuMs: 4.5, maxMemoryBytes: 9000 });
  assert.equal(summarize([ran(0, 'accepted', 1)]).verdict, 'accepted');
});
