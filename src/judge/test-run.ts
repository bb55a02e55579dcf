// A test-case run ("compile once, run N test cases"; judge0#223, piston#169): the program is
// prepared (compiled) once in one slot, then every case runs as its own run stage in a fresh
// sandbox on whatever slot the pool hands out, at most the pool's concurrency at a time; each
// case's output is compared (compare.ts) or judged by a checker program (checker.ts), and gets a
// verdict (verdicts.ts). Sits between the gate (which admitted the request) and the pool.
import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import type { NormalizedRequest } from '../api/request.js';
import type { ExecutionResult } from '../api/result.js';
import type { NormalizedTestCase, NormalizedTestRun } from '../api/test-cases.js';
import type { TestCaseResult } from '../api/verdict.js';
import type { BackendSlot } from '../backend/backend.js';
import type { ExecutionPool } from '../engine/pool.js';
import type { Lifecycle, PreparedProgram, RunContext } from '../engine/lifecycle.js';
import { ExecutionStateMachine } from '../engine/state-machine.js';
import { CyloError, toCyloError } from '../errors.js';
import type { ResolvedRuntime } from '../runtimes/registry.js';
import { linkAbort } from '../util/abort.js';
import { judgeWithChecker, type AdmittedChecker } from './checker.js';
import { compareOutput } from './compare.js';
import { caseResult, notRunCase, statusVerdict, summarize } from './verdicts.js';

export interface TestRunDependencies<S extends BackendSlot> {
  pool: ExecutionPool<S>;
  lifecycle: Lifecycle<S>;
}

/** The admitted program, its test run, and its checker (admitted by the gate). */
export interface AdmittedTestRun {
  request: NormalizedRequest;
  runtime: ResolvedRuntime;
  tests: NormalizedTestRun;
  checker: AdmittedChecker | undefined;
}

/** Runs every case of `run` and answers the result with `tests` and `summary` (`run` null).
 *  Throws CYLO_E_CANCELLED when `context.signal` aborts, or the pool's errors
 *  (CYLO_E_QUEUE_FULL, CYLO_E_SHUTTING_DOWN): then every stage of it has been stopped. */
export async function runTestCases<S extends BackendSlot>(run: AdmittedTestRun, deps: TestRunDependencies<S>, context: RunContext = {}): Promise<ExecutionResult> {
  const id = randomUUID();
  const machine = new ExecutionStateMachine(id, (e) => context.onEvent?.(e));
  // One controller for the whole run: the caller's cancellation, or the first error of a case.
  const controller = new AbortController();
  const unlink = linkAbort(context.signal, controller);
  const ctx = { ...context, signal: controller.signal, executionId: id };
  const base = deps.lifecycle.resultBase(id, run.runtime, run.request);
  try {
    machine.transition('MountRamdisk');
    const [program, checker] = await Promise.all([prepare(run.request, run.runtime, deps, { ...ctx, machine }), run.checker === undefined ? undefined : prepare(run.checker.request, run.checker.runtime, deps, { signal: controller.signal, executionId: id, machine: quietMachine(id) })]);
    const notRun = (verdict: TestCaseResult['verdict'], why: string): TestCaseResult[] => run.tests.cases.map((c) => notRunCase(c.index, c.name, verdict, why));
    let tests: TestCaseResult[];
    let status: ExecutionResult['status'] = 'ok';
    if (program.failed !== undefined) {
      tests = notRun('compile_error', 'the program did not compile (see compile)');
      status = program.failed;
    } else if (checker?.failed !== undefined) {
      tests = notRun('internal_error', `the checker did not compile: ${firstLine(checker.compiled?.stderr ?? checker.compiled?.message ?? '')}`);
      status = 'internal_error';
    } else {
      machine.transition('Processing');
      tests = await runCases(run, program, checker, deps, ctx, controller);
    }
    machine.transition('Done');
    return { ...base, status, compile: program.compiled, run: null, tests, summary: summarize(tests) };
  } catch (error) {
    controller.abort();
    const err = toCyloError(error);
    if (!machine.finished) machine.transition('Failed', err.message);
    throw err;
  } finally {
    unlink();
  }
}

/** Names and compiles a program once (a compiled language takes a slot for it). */
async function prepare<S extends BackendSlot>(request: NormalizedRequest, runtime: ResolvedRuntime, deps: TestRunDependencies<S>, ctx: Parameters<Lifecycle<S>['prepare']>[3]): Promise<PreparedProgram> {
  if (runtime.definition.compile === undefined) return deps.lifecycle.prepare(request, runtime, undefined, ctx);
  return deps.pool.run((slot) => deps.lifecycle.prepare(request, runtime, slot, ctx), ctx.signal);
}

/** Every case, at most the pool's concurrency at once, in order of index; with stopOnFailure,
 *  the cases after the first one that is not accepted are skipped (stopped if started). */
async function runCases<S extends BackendSlot>(run: AdmittedTestRun, program: PreparedProgram, checker: PreparedProgram | undefined, deps: TestRunDependencies<S>, ctx: RunContext & { executionId: string }, whole: AbortController): Promise<TestCaseResult[]> {
  const limit = pLimit(deps.pool.concurrency);
  const cases = run.tests.cases;
  const results: TestCaseResult[] = [];
  const own = cases.map(() => new AbortController());
  const unlinks = own.map((c) => linkAbort(whole.signal, c));
  let stopAt = Infinity;
  const stopAfter = (index: number): void => {
    if (index >= stopAt) return;
    stopAt = index;
    own.forEach((c, i) => i > index && c.abort());
  };
  const skipped = (c: NormalizedTestCase): TestCaseResult => notRunCase(c.index, c.name, 'skipped', `not run: case ${stopAt} failed and stopOnFailure is set`);
  try {
    await Promise.all(
      cases.map((c) =>
        limit(async () => {
          if (c.index > stopAt) return void (results[c.index] = skipped(c));
          try {
            results[c.index] = await judgeCase(c, run, program, checker, deps, { ...ctx, signal: own[c.index]?.signal, testIndex: c.index });
          } catch (error) {
            // Stopped by stopOnFailure (not by the caller, not by an error elsewhere): skipped.
            if (c.index > stopAt && !whole.signal.aborted && toCyloError(error).code === 'CYLO_E_CANCELLED') return void (results[c.index] = skipped(c));
            whole.abort();
            throw error;
          }
          if (run.tests.stopOnFailure && results[c.index]?.verdict !== 'accepted') stopAfter(c.index);
        }),
      ),
    );
  } finally {
    for (const u of unlinks) u();
  }
  return results;
}

/** One case: its run stage in a fresh sandbox, then its verdict. */
async function judgeCase<S extends BackendSlot>(c: NormalizedTestCase, run: AdmittedTestRun, program: PreparedProgram, checker: PreparedProgram | undefined, deps: TestRunDependencies<S>, ctx: RunContext & { executionId: string }): Promise<TestCaseResult> {
  if (ctx.signal?.aborted === true) throw new CyloError('CYLO_E_CANCELLED', 'test case cancelled before it started');
  const { stage, stdout } = await deps.pool.run((slot) => deps.lifecycle.run(program, { stdin: c.stdin, args: c.args, limits: c.limits }, slot, ctx), ctx.signal);
  const fromStatus = statusVerdict(stage.status);
  if (fromStatus !== undefined) return caseResult(c.index, c.name, stage, fromStatus, stage.message);
  if (checker !== undefined) {
    const judged = await judgeWithChecker(checker, { input: c.stdin, output: stdout, answer: c.expectedOutput }, (spec) => deps.pool.run((slot) => deps.lifecycle.run(checker, spec, slot, { signal: ctx.signal, executionId: ctx.executionId }), ctx.signal));
    return caseResult(c.index, c.name, stage, judged.verdict, judged.message, judged.checker);
  }
  if (c.expectedOutput === undefined) return caseResult(c.index, c.name, stage, 'accepted', null);
  const compared = compareOutput(stdout, c.expectedOutput, run.tests.comparison);
  return caseResult(c.index, c.name, stage, compared.equal ? 'accepted' : 'wrong_answer', compared.detail);
}

/** The checker's own state machine: its transitions are not the execution's events. */
function quietMachine(id: string): ExecutionStateMachine {
  const machine = new ExecutionStateMachine(id, () => {});
  machine.transition('MountRamdisk');
  return machine;
}

function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}
