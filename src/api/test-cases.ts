// Test cases in one request (judges: "compile once, run N test cases"): the request fields
// `tests`, `comparison`, `checker` and `stopOnFailure`, their schema, and their normalisation.
// The judging itself is src/judge/; the verdicts and the summary are in src/api/verdict.ts.
import { z } from 'zod';
import { CyloError } from '../errors.js';
import type { Limits } from './limits.js';

/** The limits a test case may set for its own run (the run stage's; compile limits are the
 *  request's, since the program is compiled once). */
export const TEST_LIMIT_NAMES = ['timeoutMs', 'cpuTimeMs', 'memoryBytes', 'pids', 'outputBytes', 'workspaceBytes'] as const;
export type TestLimitName = (typeof TEST_LIMIT_NAMES)[number];

const limitInt = z.number().int().positive();

export const testCaseSchema = z.strictObject({
  name: z.string().min(1).max(128).optional().describe('A name for the case (e.g. "01" or "large-input"), echoed in its result.'),
  stdin: z.string().optional().describe("The case's standard input, in the request's stdinEncoding (default: the request's stdin, or empty)."),
  args: z.array(z.string()).optional().describe("The case's command-line arguments (default: the request's args)."),
  expectedOutput: z.string().optional().describe('The expected stdout (utf8), compared by `comparison` or judged by `checker`; without it a case that ends ok is accepted.'),
  limits: z
    .strictObject(Object.fromEntries(TEST_LIMIT_NAMES.map((n) => [n, limitInt.optional()])) as Record<TestLimitName, z.ZodOptional<typeof limitInt>>)
    .optional()
    .describe("This case's run limits, over the request's (each within the server's maxima)."),
});

export const COMPARISON_MODES = ['exact', 'lines', 'tokens', 'numeric'] as const;
export type ComparisonMode = (typeof COMPARISON_MODES)[number];

export const comparisonSchema = z
  .strictObject({
    mode: z
      .enum(COMPARISON_MODES)
      .describe('exact: byte for byte; lines (default, as Judge0): trailing whitespace of every line and trailing blank lines ignored; tokens: whitespace-separated tokens equal; numeric: tokens equal, numbers within a tolerance.'),
    absoluteTolerance: z.number().nonnegative().optional().describe('numeric only: |actual - expected| <= absoluteTolerance accepts (default 1e-6).'),
    relativeTolerance: z.number().nonnegative().optional().describe('numeric only: |actual - expected| <= relativeTolerance * |expected| accepts (default 1e-6).'),
  })
  .describe('How stdout is compared with expectedOutput.');

export const checkerSchema = z
  .strictObject({
    language: z.string().min(1).max(64).describe('The checker\'s language.'),
    version: z.string().max(64).optional(),
    code: z.string().optional().describe('The checker, as one file (or use files).'),
    files: z
      .array(z.strictObject({ name: z.string(), content: z.string(), encoding: z.enum(['utf8', 'base64', 'hex']).optional() }))
      .optional()
      .describe('The checker as files; the first one is the entry point.'),
  })
  .describe('A checker program (testlib style), compiled once and run in its own sandbox for every case that ends ok, with the arguments input.txt output.txt answer.txt (the input, the program\'s stdout, the expected output). Exit 0: accepted; 1 or 2 (wrong answer, presentation error): wrong_answer; anything else: internal_error (the checker failed). Its stderr is the verdict message.');

/** The request fields of a test-case run, as the execute request schema adds them. */
export const testRunFields = {
  tests: z.array(testCaseSchema).optional().describe('Test cases: the program is compiled once, then every case runs in its own fresh sandbox (in parallel up to the pool\'s concurrency) and gets a verdict; the result carries `tests` and `summary`.'),
  comparison: comparisonSchema.optional(),
  checker: checkerSchema.optional(),
  stopOnFailure: z.boolean().optional().describe('With tests: after the first case (in order) that is not accepted, cases not yet started are skipped.'),
};

export type Comparison = { mode: 'exact' | 'lines' | 'tokens' } | { mode: 'numeric'; absoluteTolerance: number; relativeTolerance: number };

/** One test case after validation. */
export interface NormalizedTestCase {
  index: number;
  name: string | null;
  stdin: Buffer;
  args: string[];
  expectedOutput: Buffer | undefined;
  /** The request's limits with the case's over them (each checked against the maxima). */
  limits: Limits;
}

/** The checker as a program to compile and run (validated like a request's program). */
export interface CheckerRequest {
  language: string;
  version?: string | undefined;
  code?: string | undefined;
  files?: Array<{ name: string; content: string; encoding?: 'utf8' | 'base64' | 'hex' | undefined }> | undefined;
}

/** The test-case part of a normalised request; present only when the request has `tests`. */
export interface NormalizedTestRun {
  cases: NormalizedTestCase[];
  comparison: Comparison;
  checker: CheckerRequest | undefined;
  stopOnFailure: boolean;
}

export const DEFAULT_TOLERANCE = 1e-6;

type TestFields = {
  tests?: z.output<typeof testCaseSchema>[] | undefined;
  comparison?: z.output<typeof comparisonSchema> | undefined;
  checker?: z.output<typeof checkerSchema> | undefined;
  stopOnFailure?: boolean | undefined;
};

/** How a case's own values are checked: the request's own validators, applied to the case's
 *  fields (field names given as `tests[i].stdin`...). */
export interface CaseCheckers {
  stdin: (value: string | undefined, field: string) => Buffer | undefined;
  args: (value: string[] | undefined, field: string) => string[] | undefined;
  limits: (value: Partial<Record<TestLimitName, number>> | undefined, field: string) => Limits;
  maxTests: number;
  maxExpectedBytes: number;
}

/** The test-case fields normalised: undefined without `tests`; refuses `comparison`, `checker`
 *  or `stopOnFailure` without `tests`, tolerances outside numeric mode, and more than
 *  `maxTests` cases (CYLO_E_VALIDATION naming the field). */
export function normalizeTestRun(req: TestFields, defaults: { stdin: Buffer; args: string[] }, check: CaseCheckers): NormalizedTestRun | undefined {
  if (req.tests === undefined) {
    for (const field of ['comparison', 'checker', 'stopOnFailure'] as const) {
      if (req[field] !== undefined) throw new CyloError('CYLO_E_VALIDATION', `${field}: only applies with tests (give the test cases in tests)`, { field });
    }
    return undefined;
  }
  if (req.tests.length === 0) throw new CyloError('CYLO_E_VALIDATION', 'tests: give at least one test case, or leave tests out', { field: 'tests' });
  if (req.tests.length > check.maxTests) {
    throw new CyloError('CYLO_E_VALIDATION', `tests: at most ${check.maxTests} test cases per request (got ${req.tests.length}); split them over several requests`, { field: 'tests' });
  }
  const cases = req.tests.map((t, index): NormalizedTestCase => {
    const field = `tests[${index}]`;
    const expectedOutput = t.expectedOutput === undefined ? undefined : Buffer.from(t.expectedOutput, 'utf8');
    if (expectedOutput !== undefined && expectedOutput.length > check.maxExpectedBytes) {
      throw new CyloError('CYLO_E_VALIDATION', `${field}.expectedOutput: ${expectedOutput.length} bytes, above the maximum of ${check.maxExpectedBytes}`, { field: `${field}.expectedOutput` });
    }
    return {
      index,
      name: t.name ?? null,
      stdin: check.stdin(t.stdin, `${field}.stdin`) ?? defaults.stdin,
      args: check.args(t.args, `${field}.args`) ?? defaults.args,
      expectedOutput,
      limits: check.limits(t.limits, `${field}.limits`),
    };
  });
  return { cases, comparison: normalizeComparison(req.comparison), checker: req.checker, stopOnFailure: req.stopOnFailure === true };
}

function normalizeComparison(c: TestFields['comparison']): Comparison {
  if (c === undefined) return { mode: 'lines' };
  if (c.mode !== 'numeric') {
    for (const field of ['absoluteTolerance', 'relativeTolerance'] as const) {
      if (c[field] !== undefined) throw new CyloError('CYLO_E_VALIDATION', `comparison.${field}: only applies to mode "numeric" (got mode "${c.mode}")`, { field: `comparison.${field}` });
    }
    return { mode: c.mode };
  }
  return { mode: 'numeric', absoluteTolerance: c.absoluteTolerance ?? DEFAULT_TOLERANCE, relativeTolerance: c.relativeTolerance ?? DEFAULT_TOLERANCE };
}
