// A checker program (testlib style: `checker input output answer`): a program of the judge's
// own, compiled once with the submission, run in its own fresh sandbox for every case that
// ended ok. It sees the case's input, the program's stdout and the expected output as files in
// its workspace, never the submission's workspace; its exit code is the verdict
// (verdicts.ts checkerVerdict), its stderr (where testlib writes) the verdict message.
import type { NormalizedRequest } from '../api/request.js';
import type { Stage } from '../api/result.js';
import type { TestCaseResult } from '../api/verdict.js';
import type { PreparedProgram, ProgramRun } from '../engine/lifecycle.js';
import type { ResolvedRuntime } from '../runtimes/registry.js';
import { checkerVerdict } from './verdicts.js';

/** The checker as the gate admitted it (validated like any request: field names `checker.*`). */
export interface AdmittedChecker {
  request: NormalizedRequest;
  runtime: ResolvedRuntime;
}

/** The files a checker gets, and the arguments naming them (testlib's order). */
export const CHECKER_FILES = { input: 'input.txt', output: 'output.txt', answer: 'answer.txt' } as const;

export interface CheckerJudgement {
  verdict: 'accepted' | 'wrong_answer' | 'internal_error';
  message: string | null;
  checker: NonNullable<TestCaseResult['checker']>;
}

/** Runs the checker once for one case through `runChecker` (a pool slot and the lifecycle's
 *  run stage). A checker that fails (a limit, a signal, an exit code other than 0, 1, 2) gives
 *  internal_error: the checker's fault, never the submission's. */
export async function judgeWithChecker(
  checker: PreparedProgram,
  data: { input: Buffer; output: Buffer; answer: Buffer | undefined },
  runChecker: (run: ProgramRun) => Promise<{ stage: Stage }>,
): Promise<CheckerJudgement> {
  const { stage } = await runChecker({
    stdin: Buffer.alloc(0),
    args: [CHECKER_FILES.input, CHECKER_FILES.output, CHECKER_FILES.answer],
    limits: checker.request.limits,
    extraFiles: [
      { name: CHECKER_FILES.input, content: data.input },
      { name: CHECKER_FILES.output, content: data.output },
      { name: CHECKER_FILES.answer, content: data.answer ?? Buffer.alloc(0) },
    ],
  });
  const report = { exitCode: stage.exitCode, signal: stage.signal, wallMs: stage.wallMs, cpuMs: stage.cpuMs };
  const said = (stage.stderr.trim() || stage.stdout.trim()).slice(0, 1024) || null;
  const ranToExit = stage.status === 'ok' || (stage.status === 'runtime_error' && stage.signal === null);
  if (!ranToExit) return { verdict: 'internal_error', message: `the checker failed: ${stage.message ?? stage.status}`, checker: report };
  const verdict = checkerVerdict(stage.exitCode);
  if (verdict === 'internal_error') return { verdict, message: `the checker failed: exit code ${stage.exitCode ?? 'none'}${said === null ? '' : `: ${said}`}`, checker: report };
  return { verdict, message: verdict === 'accepted' ? null : said, checker: report };
}
