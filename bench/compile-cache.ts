// (4) The compile cache: the first execution of a source (a cache miss: compile, then run)
// versus a repeated execution of the same source (a hit), for Rust, Go, C++ and Java (plus C
// and TypeScript when cylo has them). Each "first" run gets a unique comment so it really misses.
import { randomUUID } from 'node:crypto';
import type { BenchContext } from './lib/context.js';
import { helloProgram, nonceComment } from './lib/programs.js';
import { atLeast, fmtMedP95, fmtMs, fmtRatio, target, type SectionResult, type Table, type TargetResult } from './lib/report.js';
import { round, roundSummary, summarize } from './lib/stats.js';
import { expectResult, timedExecute } from './lib/timed-execute.js';
import { HELLO_TEXT } from './lib/programs.js';

const REQUIRED = ['rust', 'go', 'cpp', 'java'];
const EXTRA = ['c', 'typescript'];
const TARGET = 10;

interface CompileInfo {
  cached?: boolean;
  wallMs?: number;
}

export async function runCompileCache(ctx: BenchContext, languagesFilter?: readonly string[]): Promise<SectionResult> {
  const started = performance.now();
  const firsts = ctx.quick ? 1 : 3;
  const repeats = ctx.quick ? 3 : 10;
  const notes: string[] = [
    `Hello world through cylo's library. "first": ${firsts} execution(s), each of a source made unique by a comment (a cache miss: the compile stage runs). "repeat": ${repeats} executions of one source already executed once (cache hits). The ratio is median first / median repeat of the whole execution's wall time.`,
  ];
  const skipped: string[] = [];
  const rows: Table['rows'] = [];
  const targets: TargetResult[] = [];
  const data: Record<string, unknown> = {};
  const langs = [...REQUIRED, ...EXTRA].filter((l) => languagesFilter === undefined || languagesFilter.includes(l));
  for (const language of langs) {
    const info = ctx.runtimes.find((r) => r.language === language);
    const required = REQUIRED.includes(language);
    if (info === undefined || !info.available || !info.compiled) {
      const why = info === undefined ? 'not a cylo language yet' : !info.available ? (info.problem ?? 'not available') : 'has no compile stage';
      skipped.push(`${language} (${why})`);
      if (required) targets.push(target(`compile.${language}.speedup`, `Compile cache hit, ${language}: first / repeated`, `>= ${TARGET}x`, null, 'x', null, `skipped: ${why}`));
      continue;
    }
    try {
      const runtime = await ctx.resolved(language);
      const base = helloProgram(language, runtime.definition.entry) as string;
      ctx.log(`compile: ${language}`);
      const first: number[] = [];
      const firstCompile: number[] = [];
      const repeat: number[] = [];
      const repeatCompile: number[] = [];
      let firstHits = 0;
      let repeatHits = 0;
      const fixed = nonceComment(language, `bench ${randomUUID()}`) + base;
      const warm = await timedExecute(ctx.cylo, { language, code: fixed, limits: { compileTimeoutMs: 120_000 } });
      expectResult(warm.result, `${language} warm-up`, HELLO_TEXT);
      // Interleaved: a miss, then repeats, so both see the same machine.
      const perFirst = Math.ceil(repeats / firsts);
      for (let i = 0; i < firsts; i++) {
        const code = nonceComment(language, `bench ${randomUUID()}`) + base;
        const x = await timedExecute(ctx.cylo, { language, code, limits: { compileTimeoutMs: 120_000 } });
        expectResult(x.result, `${language} first run`, HELLO_TEXT);
        const c = x.result.compile as CompileInfo | null;
        first.push(x.ms);
        firstCompile.push(c?.wallMs ?? x.phases.compile);
        if (c?.cached === true) firstHits++;
        for (let k = 0; k < perFirst && repeat.length < repeats; k++) {
          const y = await timedExecute(ctx.cylo, { language, code: fixed });
          expectResult(y.result, `${language} repeated run`, HELLO_TEXT);
          const cy = y.result.compile as CompileInfo | null;
          repeat.push(y.ms);
          repeatCompile.push(y.phases.compile);
          if (cy?.cached === true) repeatHits++;
        }
      }
      const f = roundSummary(summarize(first));
      const r = roundSummary(summarize(repeat));
      const speedup = round(f.median / r.median, 2);
      data[language] = { first: f, repeat: r, speedup, firstCompileStageMs: roundSummary(summarize(firstCompile)), repeatCompilePhaseMs: roundSummary(summarize(repeatCompile)), firstCacheHits: firstHits, repeatCacheHits: repeatHits, firsts, repeats };
      rows.push([language, info.version, fmtMedP95(f), fmtMedP95(r), fmtRatio(speedup), fmtMs(roundSummary(summarize(firstCompile)).median), fmtMs(roundSummary(summarize(repeatCompile)).median), `${firstHits}/${firsts}`, `${repeatHits}/${repeat.length}`]);
      const note = repeatHits < repeat.length ? `only ${repeatHits}/${repeat.length} repeats were marked compile.cached` : `first ${fmtMs(f.median)} ms, repeat ${fmtMs(r.median)} ms`;
      targets.push(target(`compile.${language}.speedup`, `Compile cache hit, ${language}: first / repeated`, `>= ${TARGET}x`, speedup, 'x', atLeast(speedup, TARGET), note));
    } catch (error) {
      skipped.push(`${language} (failed: ${(error as Error).message.split('\n')[0] ?? ''})`);
      targets.push(target(`compile.${language}.speedup`, `Compile cache hit, ${language}: first / repeated`, `>= ${TARGET}x`, null, 'x', null, `failed: ${(error as Error).message.slice(0, 200)}`));
    }
  }
  if (skipped.length > 0) notes.push(`Skipped: ${skipped.join('; ')}.`);
  return {
    name: 'compile',
    title: '4. Compile cache',
    notes,
    tables: [
      {
        title: 'Whole execution wall time, median / p95 (ms); compile stage times (ms, median)',
        columns: ['language', 'version', 'first (miss)', 'repeat (hit)', 'first/repeat', 'compile stage, miss', 'compile phase, hit', 'misses marked cached', 'hits marked cached'],
        rows,
      },
    ],
    targets,
    data: { languages: data },
    elapsedMs: performance.now() - started,
  };
}
