// What a test-case run answers: a verdict per case and a summary (the judge's vocabulary, as
// Judge0, Codeforces and DOMjudge use it). Produced by src/judge/; carried by every interface.
import type { ExecutionStatus, Stage, StageLimit } from './result.js';

/** A case's verdict. accepted: ended ok and its output matched (or no expected output and no
 *  checker); wrong_answer: ended ok, output did not match (or the checker said so);
 *  time_limit: wall or CPU time limit; memory_limit; output_limit; runtime_error: non-zero exit
 *  or a signal; compile_error: the program did not compile (no case ran); internal_error:
 *  cylo or the checker failed; skipped: not run (stopOnFailure, after an earlier failure). */
export const VERDICTS = ['accepted', 'wrong_answer', 'time_limit', 'memory_limit', 'output_limit', 'runtime_error', 'compile_error', 'internal_error', 'skipped'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** One case's result: its verdict and its run stage's fields (spread; for a case that did not
 *  run, `status` is null, times and sizes are 0, output empty). */
export interface TestCaseResult extends Omit<Stage, 'status' | 'cached'> {
  /** The case's position in the request's `tests`. */
  index: number;
  name: string | null;
  verdict: Verdict;
  /** Why the verdict, for people: the first difference from the expected output, the
   *  checker's message, the limit; null for accepted. */
  verdictMessage: string | null;
  /** The run stage's status, or null when the case did not run. */
  status: ExecutionStatus | null;
  limit: StageLimit | null;
  /** The checker's own run, when a checker judged this case: its exit code and time. */
  checker: { exitCode: number | null; signal: string | null; wallMs: number; cpuMs: number } | null;
}

export interface TestSummary {
  total: number;
  /** Cases accepted. */
  passed: number;
  /** accepted when every case is; else the verdict of the first case (in order) that is not. */
  verdict: Verdict;
  /** How many cases got each verdict (verdicts no case got are left out). */
  verdicts: Partial<Record<Verdict, number>>;
  /** The largest wallMs, cpuMs and memoryBytes over the cases that ran (0 when none did). */
  maxWallMs: number;
  maxCpuMs: number;
  maxMemoryBytes: number;
}
