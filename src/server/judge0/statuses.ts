// Judge0's status ids (1-14, with its descriptions) and the one mapping from a cylo result (its
// status, or a test case's verdict, and the stage's signal and exit code) to them. Pure.
//
// Memory limit: Judge0 has no status for it (its users see NZEC or SIGKILL, judge0#298). cylo
// answers 12 "Runtime Error (Other)" with exit_signal 9, cylo's message ("memory limit of N
// bytes exceeded...") and the extension field `cylo_limit: "memory"`: old clients see a runtime
// error, as on Judge0; new ones can tell the memory limit for certain (docs/judge0.md).
import type { ExecutionResult, Stage, StageLimit } from '../../api/result.js';
import type { TestCaseResult, Verdict } from '../../api/verdict.js';
import { CANNOT_START_MESSAGE } from '../../engine/outcome.js';
import { statusVerdict } from '../../judge/verdicts.js';

export const JUDGE0_STATUSES = [
  { id: 1, description: 'In Queue' },
  { id: 2, description: 'Processing' },
  { id: 3, description: 'Accepted' },
  { id: 4, description: 'Wrong Answer' },
  { id: 5, description: 'Time Limit Exceeded' },
  { id: 6, description: 'Compilation Error' },
  { id: 7, description: 'Runtime Error (SIGSEGV)' },
  { id: 8, description: 'Runtime Error (SIGXFSZ)' },
  { id: 9, description: 'Runtime Error (SIGFPE)' },
  { id: 10, description: 'Runtime Error (SIGABRT)' },
  { id: 11, description: 'Runtime Error (NZEC)' },
  { id: 12, description: 'Runtime Error (Other)' },
  { id: 13, description: 'Internal Error' },
  { id: 14, description: 'Exec Format Error' },
] as const;

export type Judge0StatusId = (typeof JUDGE0_STATUSES)[number]['id'];
export interface Judge0Status {
  id: number;
  description: string;
}

export function judge0Status(id: Judge0StatusId): Judge0Status {
  const found = JUDGE0_STATUSES.find((s) => s.id === id);
  return { id, description: found?.description ?? 'Internal Error' };
}

/** The run facts a status is read from: a run stage, or one test case's result. */
export type RunFacts = Pick<Stage, 'exitCode' | 'signal' | 'message'> & { limit: StageLimit | null };

/** The Judge0 id of a run that ended in a runtime error: by its signal (SIGSEGV 7, SIGXFSZ 8,
 *  SIGFPE 9, SIGABRT 10, any other 12), a program that could not be started (14), else a
 *  non-zero exit (11, NZEC). */
export function runtimeErrorId(run: RunFacts): Judge0StatusId {
  if (run.limit === 'file_size') return 8;
  switch (run.signal) {
    case null:
      break;
    case 'SIGSEGV':
      return 7;
    case 'SIGXFSZ':
      return 8;
    case 'SIGFPE':
      return 9;
    case 'SIGABRT':
      return 10;
    default:
      return 12;
  }
  if (run.message?.startsWith(CANNOT_START_MESSAGE) === true) return 14;
  return 11;
}

/** The Judge0 id of a test case's verdict (`skipped` never reaches here: see representative). */
export function verdictId(verdict: Verdict, run: RunFacts): Judge0StatusId {
  switch (verdict) {
    case 'accepted':
      return 3;
    case 'wrong_answer':
      return 4;
    case 'time_limit':
      return 5;
    case 'compile_error':
      return 6;
    case 'output_limit':
      // Judge0's stdout is a file bounded by max_file_size: too much output is SIGXFSZ there.
      return 8;
    case 'memory_limit':
      return 12;
    case 'runtime_error':
      return runtimeErrorId(run);
    case 'internal_error':
    case 'skipped':
      return 13;
  }
}

/** The Judge0 id of a plain result (no test cases): its status read as a verdict
 *  (src/judge/verdicts.ts statusVerdict; ok is accepted), then verdictId. */
export function resultStatusId(result: ExecutionResult): Judge0StatusId {
  const run: RunFacts = result.run ?? { exitCode: null, signal: null, message: null, limit: null };
  return verdictId(statusVerdict(result.status) ?? 'accepted', run);
}

/** The case a test-case result is reported by (Judge0 has one result per submission): the
 *  first case, in order, that was not accepted and ran; else the first case. */
export function representativeCase(tests: readonly TestCaseResult[]): TestCaseResult | undefined {
  return tests.find((c) => c.verdict !== 'accepted' && c.verdict !== 'skipped') ?? tests[0];
}
