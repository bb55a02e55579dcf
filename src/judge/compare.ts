// Comparing a program's output with the expected output (pure). The modes, as judges name them:
//   exact    byte for byte
//   lines    (the default, Judge0's rule) trailing whitespace of every line and trailing blank
//            lines ignored; "\r\n" is a line end too
//   tokens   the whitespace-separated tokens equal (DOMjudge's "space change" tolerance,
//            testlib's wcmp)
//   numeric  tokens equal, and where both are numbers, within an absolute OR a relative
//            tolerance (ICPC's "absolute or relative error at most 1e-6"; testlib's rcmp)
import type { Comparison } from '../api/test-cases.js';

export interface ComparisonOutcome {
  equal: boolean;
  /** Where they first differ, for people (e.g. `line 3: expected "5", got "6"`); null when equal. */
  detail: string | null;
}

const SAME: ComparisonOutcome = { equal: true, detail: null };

/** Compares `actual` (the program's stdout) with `expected` under `comparison`. */
export function compareOutput(actual: Buffer, expected: Buffer, comparison: Comparison): ComparisonOutcome {
  switch (comparison.mode) {
    case 'exact':
      return compareExact(actual, expected);
    case 'lines':
      return compareLines(actual.toString('utf8'), expected.toString('utf8'));
    case 'tokens':
      return compareTokens(tokens(actual), tokens(expected), () => false);
    case 'numeric':
      return compareTokens(tokens(actual), tokens(expected), (a, e) => withinTolerance(a, e, comparison.absoluteTolerance, comparison.relativeTolerance));
  }
}

function compareExact(actual: Buffer, expected: Buffer): ComparisonOutcome {
  if (actual.equals(expected)) return SAME;
  const n = Math.min(actual.length, expected.length);
  let i = 0;
  while (i < n && actual[i] === expected[i]) i += 1;
  if (i === n) return { equal: false, detail: actual.length < expected.length ? `the output ends after ${actual.length} bytes; ${expected.length} expected` : `${actual.length - n} bytes more than the ${expected.length} expected` };
  return { equal: false, detail: `byte ${i} differs: expected ${show(expected.subarray(i, i + 16).toString('utf8'))}, got ${show(actual.subarray(i, i + 16).toString('utf8'))}` };
}

/** Lines without their trailing whitespace, trailing empty lines dropped. */
function significantLines(text: string): string[] {
  const lines = text.split(/\r?\n/).map((l) => l.replace(/[ \t\r\f\v]+$/, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function compareLines(actual: string, expected: string): ComparisonOutcome {
  const a = significantLines(actual);
  const e = significantLines(expected);
  for (let i = 0; i < Math.max(a.length, e.length); i++) {
    if (a[i] === e[i]) continue;
    if (a[i] === undefined) return { equal: false, detail: `line ${i + 1}: expected ${show(e[i] ?? '')}, got the end of the output` };
    if (e[i] === undefined) return { equal: false, detail: `line ${i + 1}: expected the end of the output, got ${show(a[i] ?? '')}` };
    return { equal: false, detail: `line ${i + 1}: expected ${show(e[i] ?? '')}, got ${show(a[i] ?? '')}` };
  }
  return SAME;
}

function tokens(output: Buffer): string[] {
  return output.toString('utf8').split(/\s+/).filter((t) => t !== '');
}

/** Token by token: equal strings, or `close(actual, expected)` (numbers within tolerance). */
function compareTokens(a: string[], e: string[], close: (actual: number, expected: number) => boolean): ComparisonOutcome {
  for (let i = 0; i < Math.max(a.length, e.length); i++) {
    const at = a[i];
    const et = e[i];
    if (at === et) continue;
    if (at === undefined) return { equal: false, detail: `token ${i + 1}: expected ${show(et ?? '')}, got the end of the output` };
    if (et === undefined) return { equal: false, detail: `token ${i + 1}: expected the end of the output, got ${show(at)}` };
    const an = number(at);
    const en = number(et);
    if (an !== undefined && en !== undefined && close(an, en)) continue;
    return { equal: false, detail: `token ${i + 1}: expected ${show(et)}, got ${show(at)}` };
  }
  return SAME;
}

/** A decimal number as judges write them (no hex, no "Infinity"; "nan" is not a number). */
function number(token: string): number | undefined {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(token)) return undefined;
  const value = Number(token);
  return Number.isFinite(value) ? value : undefined;
}

function withinTolerance(actual: number, expected: number, absolute: number, relative: number): boolean {
  const diff = Math.abs(actual - expected);
  // A tiny slack for the binary representation of the tolerance itself (1e-6 is not exact).
  const slack = 1e-15 * Math.max(1, Math.abs(expected));
  return diff <= absolute + slack || diff <= relative * Math.abs(expected) + slack;
}

function show(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text);
}
