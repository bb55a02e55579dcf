// (9) Test cases (issue 14): N test cases of one C++ program in one request (compiled once,
// every case in its own sandbox at the pool's concurrency) against the same N cases as N
// separate requests, and against "one compile + one run" (a first request of a new source).
// Target: 20 cases take less than 3x the time of one run plus one compile.
// Every source is made unique by a comment so that each measurement really compiles (no
// compile-cache hit carried over from a previous one).
import { randomUUID } from 'node:crypto';
import type { BenchContext } from './lib/context.js';
import { nonceComment } from './lib/programs.js';
import { atMost, fmtMedP95, fmtRatio, target, type SectionResult, type TargetResult } from './lib/report.js';
import { round, roundSummary, summarize } from './lib/stats.js';
import { timedExecute } from './lib/timed-execute.js';

const CASES = 20;
const TARGET = 3;

/** Reads two numbers, prints their sum: a typical judge program. */
const SUM_CPP = `#include <iostream>
int main() { long long a, b; std::cin >> a >> b; std::cout << a + b << "\\n"; return 0; }
`;

const cases = (n: number): Array<{ stdin: string; expectedOutput: string }> => Array.from({ length: n }, (_, i) => ({ stdin: `${i} ${i * 7}\n`, expectedOutput: `${i * 8}\n` }));

export async function runTestCasesBench(ctx: BenchContext): Promise<SectionResult> {
  const started = performance.now();
  const reps = ctx.quick ? 1 : 3;
  const n = ctx.quick ? 5 : CASES;
  const info = ctx.runtimes.find((r) => r.language === 'cpp');
  const notes = [
    `A C++ program that sums two numbers; ${n} test cases with expected outputs. "one request": the ${n} cases in one request (tests), compiled once. "separate": ${n} requests, one case each, sent at once (the first compiles, the others wait for that compile or hit the cache). "compile + run": one request of a fresh source with one case. Each measurement uses a source made unique by a comment (a real compile every time); ${reps} repetitions, median / p95 of the whole wall time in ms. Concurrency: the library's default (the number of cores).`,
  ];
  if (info === undefined || !info.available) {
    return { name: 'test-cases', title: '9. Test cases: one request vs separate requests', notes: [...notes, 'Skipped: C++ is not available here.'], tables: [], targets: [target('tests.cpp20.ratio', `${n} C++ test cases / (one compile + one run)`, `< ${TARGET}x`, null, 'x', null, 'skipped: no C++')], data: {}, elapsedMs: performance.now() - started };
  }
  const fresh = (): string => nonceComment('cpp', `bench ${randomUUID()}`) + SUM_CPP;
  const one: number[] = [];
  const separate: number[] = [];
  const single: number[] = [];
  let compilesOne = 0;
  for (let r = 0; r < reps; r++) {
    ctx.log(`test-cases: repetition ${r + 1}/${reps}`);
    const before = ctx.cylo.stats().compiles;
    const x = await timedExecute(ctx.cylo, { language: 'cpp', code: fresh(), tests: cases(n) });
    compilesOne += ctx.cylo.stats().compiles - before;
    if (x.result.summary?.verdict !== 'accepted') throw new Error(`test-cases: one request: ${JSON.stringify(x.result.summary)}`);
    one.push(x.ms);
    const code = fresh();
    const t0 = performance.now();
    const all = await Promise.all(cases(n).map((c) => ctx.cylo.execute({ language: 'cpp', code, stdin: c.stdin })));
    separate.push(performance.now() - t0);
    if (all.some((a) => a.status !== 'ok')) throw new Error('test-cases: a separate request failed');
    const y = await timedExecute(ctx.cylo, { language: 'cpp', code: fresh(), tests: cases(1) });
    single.push(y.ms);
  }
  const o = roundSummary(summarize(one));
  const s = roundSummary(summarize(separate));
  const b = roundSummary(summarize(single));
  const ratio = round(o.median / b.median, 2);
  const targets: TargetResult[] = [target('tests.cpp20.ratio', `${n} C++ test cases in one request / (one compile + one run)`, `< ${TARGET}x`, ratio, 'x', atMost(ratio, TARGET), `one request ${o.median} ms, compile + run ${b.median} ms, separate requests ${s.median} ms; compiles per test-case request: ${compilesOne / reps}`)];
  return {
    name: 'test-cases',
    title: '9. Test cases: one request vs separate requests',
    notes,
    tables: [
      {
        title: 'Whole wall time, median / p95 (ms)',
        columns: ['cases', `${n} cases, one request`, `${n} separate requests`, 'compile + one run', 'one request / (compile + run)', 'separate / one request'],
        rows: [[n, fmtMedP95(o), fmtMedP95(s), fmtMedP95(b), fmtRatio(ratio), fmtRatio(round(s.median / o.median, 2))]],
      },
    ],
    targets,
    data: { cases: n, oneRequest: o, separate: s, compileAndRun: b, ratio, compilesPerRequest: compilesOne / reps },
    elapsedMs: performance.now() - started,
  };
}
