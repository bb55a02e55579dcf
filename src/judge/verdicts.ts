// Verdicts (pure): what a test case's run stage means to a judge, and the summary of a run.
// The vocabulary is src/api/verdict.ts's.
import type { ExecutionStatus, Stage } from '../api/result.js';
import type { TestCaseResult, TestSummary, Verdict } from '../api/verdict.js';
import { VERDICTS } from '../api/verdict.js';

/** The verdict a stage's status gives by itself (before any comparison): undefined for `ok`,
 *  whose verdict depends on the output. */
export function statusVerdict(status: ExecutionStatus): Exclude<Verdict, 'accepted' | 'wrong_answer' | 'skipped'> | undefined {
  switch (status) {
    case 'ok':
      return undefined;
    case 'timeout':
      return 'time_limit';
    case 'memory_limit':
      return 'memory_limit';
    case 'output_limit':
      return 'output_limit';
    case 'runtime_error':
      return 'runtime_error';
    case 'compile_error':
      return 'compile_error';
    case 'internal_error':
      return 'internal_error';
  }
}

/** A case's result from its run stage (spread) and its verdict. */
export function caseResult(index: number, name: string | null, stage: Stage, verdict: Verdict, verdictMessage: string | null, checker: TestCaseResult['checker'] = null): TestCaseResult {
  const { cached: _cached, ...fields } = stage;
  return { index, name, ...fields, verdict, verdictMessage, checker };
}

/** A case that did not run (compile error, skipped, checker not compiled): no stage. */
export function notRunCase(index: number, name: string | null, verdict: Verdict, verdictMessage: string | null): TestCaseResult {
  return { index, name, status: null, exitCode: null, signal: null, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false, wallMs: 0, cpuMs: 0, memoryBytes: 0, message: null, limit: null, verdict, verdictMessage, checker: null };
}

/** Counts, the overall verdict (the first case in order that is not accepted, else
 *  accepted), and the largest time and memory of the cases that ran. */
export function summarize(cases: readonly TestCaseResult[]): TestSummary {
  const verdicts: Partial<Record<Verdict, number>> = {};
  for (const v of VERDICTS) {
    const n = cases.filter((c) => c.verdict === v).length;
    if (n > 0) verdicts[v] = n;
  }
  const ran = cases.filter((c) => c.status !== null);
  const max = (f: (c: TestCaseResult) => number): number => ran.reduce((m, c) => Math.max(m, f(c)), 0);
  return {
    total: cases.length,
    passed: verdicts.accepted ?? 0,
    verdict: cases.find((c) => c.verdict !== 'accepted')?.verdict ?? 'accepted',
    verdicts,
    maxWallMs: max((c) => c.wallMs),
    maxCpuMs: max((c) => c.cpuMs),
    maxMemoryBytes: max((c) => c.memoryBytes),
  };
}

/** What a testlib-style checker's exit says (testlib: 0 ok, 1 wrong answer, 2 presentation
 *  error, 3 fail — the checker's own failure; DOMjudge: 42 correct, 43 wrong, which we do not
 *  use). A signal or any other code is the checker failing: internal_error, never the
 *  contestant's fault. */
export function checkerVerdict(exitCode: number | null): 'accepted' | 'wrong_answer' | 'internal_error' {
  if (exitCode === 0) return 'accepted';
  if (exitCode === 1 || exitCode === 2) return 'wrong_answer';
  return 'internal_error';
}
