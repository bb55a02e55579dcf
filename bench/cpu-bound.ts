// (3) A CPU-bound program (a prime sieve) that runs about 2 s bare (0.3 s with --quick), in
// Python, C and Go where cylo has them: the cylo / bare ratio. The repetition count is
// calibrated on the bare baseline at the start, so both run exactly the same work.
import type { BenchContext } from './lib/context.js';
import { prepareHostProgram, type HostProgram } from './lib/host-program.js';
import { interleave } from './lib/interleave.js';
import { expectOk } from './lib/proc.js';
import { sieveProgram } from './lib/programs.js';
import { atMost, fmtMedP95, fmtMs, fmtRatio, target, type SectionResult, type Table, type TargetResult } from './lib/report.js';
import { round, roundSummary, summarize } from './lib/stats.js';
import { expectResult, timedExecute } from './lib/timed-execute.js';

const LANGUAGES = ['python', 'c', 'go'];
/** Sieve size per pass: small enough to stay in a few MiB, large enough to leave cache. */
const SIEVE_SIZE: Record<string, number> = { python: 1_000_000, c: 10_000_000, go: 10_000_000, cpp: 10_000_000, rust: 10_000_000, java: 10_000_000, javascript: 10_000_000 };
const TARGET = 1.03;

export async function runCpuBound(ctx: BenchContext, languagesFilter?: readonly string[]): Promise<SectionResult> {
  const started = performance.now();
  const goalMs = ctx.quick ? 300 : 2000;
  const notes: string[] = [
    `A prime sieve of size N repeated R times (the count printed, so the work cannot be optimised away). R is calibrated on the bare run so that it takes about ${goalMs} ms here. Bare and cylo alternate; ${ctx.quick ? '2' : '6'} kept samples each after one warm-up. cylo runs with a warm compile cache for compiled languages and with timeout/CPU limits raised to 60 s.`,
    'Also shown: the program\'s own wall time inside cylo (helper "R" to "X") and the CPU time cylo\'s cgroup accounted, to separate start-up cost from any slowdown of the running program (seccomp, cgroup accounting).',
  ];
  const skipped: string[] = [];
  const rows: Table['rows'] = [];
  const data: Record<string, unknown> = {};
  const targets: TargetResult[] = [];
  const langs = LANGUAGES.filter((l) => languagesFilter === undefined || languagesFilter.includes(l));
  for (const language of langs) {
    if (!ctx.available(language)) {
      skipped.push(`${language} (${ctx.runtimes.find((r) => r.language === language)?.problem ?? 'not a cylo language yet'})`);
      targets.push(target(`cpu.${language}.ratio`, `CPU-bound sieve, ${language}, cylo / bare`, `<= ${TARGET}x`, null, 'x', null, `${language} not available in cylo`));
      continue;
    }
    const runtime = await ctx.resolved(language);
    const code = sieveProgram(language, runtime.definition.entry) as string;
    const n = SIEVE_SIZE[language] ?? 1_000_000;
    let host: HostProgram | undefined;
    try {
      ctx.log(`cpu: ${language}: calibrating`);
      host = await prepareHostProgram(runtime, [{ name: runtime.definition.entry, content: code }], 'sieve');
      const h = host;
      const timeBare = async (r: number): Promise<number> => expectOk(await h.runBare([String(n), String(r)], { timeoutMs: 120_000 }), `${language} sieve bare`).ms;
      let reps = 1;
      let t = await timeBare(reps);
      for (let i = 0; i < 3 && Math.abs(t - goalMs) > goalMs * 0.1; i++) {
        reps = Math.max(1, Math.round((reps * goalMs) / Math.max(1, t)));
        t = await timeBare(reps);
      }
      const request = { language, code, args: [String(n), String(reps)], limits: { timeoutMs: 60_000, cpuTimeMs: 60_000 } };
      const inner: number[] = [];
      const cpu: number[] = [];
      ctx.log(`cpu: ${language}: N=${n} R=${reps} (~${fmtMs(t)} ms bare)`);
      const samples = await interleave(
        [
          { name: 'bare', run: () => timeBare(reps) },
          {
            name: 'cylo',
            run: async () => {
              const x = await timedExecute(ctx.cylo, request);
              expectResult(x.result, `${language} sieve cylo`);
              inner.push(x.result.run?.wallMs ?? 0);
              cpu.push(x.result.run?.cpuMs ?? 0);
              return x.ms;
            },
          },
        ],
        { warmup: 1, reps: ctx.quick ? 2 : 6 },
      );
      const bare = roundSummary(summarize(samples.bare ?? []));
      const cylo = roundSummary(summarize(samples.cylo ?? []));
      const kept = samples.cylo?.length ?? 0;
      const innerS = roundSummary(summarize(inner.slice(inner.length - kept)));
      const cpuS = roundSummary(summarize(cpu.slice(cpu.length - kept)));
      const r = round(cylo.median / bare.median);
      data[language] = { n, reps, bare, cylo, programWallInCylo: innerS, cpuMsInCylo: cpuS, ratio: r, ratioProgramOnly: round(innerS.median / bare.median) };
      rows.push([language, `${n} x ${reps}`, fmtMedP95(bare), fmtMedP95(cylo), fmtRatio(r), fmtMs(cylo.median - bare.median), fmtMs(innerS.median), fmtMs(cpuS.median), fmtRatio(innerS.median / bare.median)]);
      targets.push(target(`cpu.${language}.ratio`, `CPU-bound sieve (~${goalMs} ms), ${language}, cylo / bare`, `<= ${TARGET}x`, r, 'x', atMost(r, TARGET), `bare ${fmtMs(bare.median)} ms, cylo ${fmtMs(cylo.median)} ms`));
    } catch (error) {
      skipped.push(`${language} (failed: ${(error as Error).message.split('\n')[0] ?? ''})`);
      targets.push(target(`cpu.${language}.ratio`, `CPU-bound sieve, ${language}, cylo / bare`, `<= ${TARGET}x`, null, 'x', null, `failed: ${(error as Error).message.slice(0, 200)}`));
    } finally {
      host?.cleanup();
    }
  }
  if (skipped.length > 0) notes.push(`Skipped: ${skipped.join('; ')}.`);
  return {
    name: 'cpu',
    title: '3. CPU-bound program (prime sieve)',
    notes,
    tables: [
      {
        title: 'Wall time, median / p95 (ms)',
        columns: ['language', 'N x R', 'bare', 'cylo', 'cylo/bare', 'cylo-bare ms', 'program wall in cylo', 'cgroup CPU ms', 'program-in-cylo / bare'],
        rows,
      },
    ],
    targets,
    data: { goalMs, languages: data },
    elapsedMs: performance.now() - started,
  };
}
