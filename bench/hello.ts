// (1) Hello world per language: (a) bare spawn, (b) minimal bubblewrap, (c) cylo library,
// (d) cylo HTTP on loopback, interleaved round-robin; ratios c/a and d/a.
import type { BenchContext } from './lib/context.js';
import { prepareHostProgram, type HostProgram } from './lib/host-program.js';
import { interleave, type Variant } from './lib/interleave.js';
import { expectOk } from './lib/proc.js';
import { HELLO_TEXT, helloProgram } from './lib/programs.js';
import { atMost, fmtMedP95, fmtMs, fmtRatio, target, type SectionResult, type Table, type TargetResult } from './lib/report.js';
import { median, ratio, round, roundSummary, summarize, type Summary } from './lib/stats.js';
import { PHASES, expectResult, timedExecute, type Phase } from './lib/timed-execute.js';

export interface HelloLanguageData {
  language: string;
  version: string | null;
  compiled: boolean;
  bare: Summary | null;
  bwrap: Summary | null;
  cylo: Summary;
  http: Summary | null;
  ratioCylo: number | null;
  ratioHttp: number | null;
  /** Median HTTP minus median library. */
  httpAddsMs: number | null;
  bwrapAddsMs: number | null;
  /** Compiled languages: cylo runs that hit the compile cache, out of the measured ones. */
  cacheHits: number | null;
  phases: Record<Phase, number>;
  /** The run stage's own figures as cylo reports them (medians over the measured cylo runs):
   *  wallMs (exec to exit), cpuMs (the program's own CPU, setup excluded). */
  reported: { wallMs: number; cpuMs: number };
  notes: string[];
}

const TARGET_RATIO: Record<string, number> = { python: 1.25, javascript: 1.15 };
const HTTP_BUDGET_MS = 3;

export async function runHello(ctx: BenchContext, languagesFilter?: readonly string[]): Promise<SectionResult> {
  const started = performance.now();
  const notes: string[] = [
    'Wall time of one execution, end to end as the caller sees it: (a) the resolved interpreter or compiled binary spawned from Node with pipes; (b) the same inside a minimal bubblewrap (`--unshare-all`, /usr read-only, /proc, /dev, the workspace bound; no seccomp, Landlock, cgroup, uid switch or helper); (c) `cylo.execute()`; (d) `POST /v1/execute` on 127.0.0.1 with a keep-alive connection. Medians / p95 in ms; warm-up rounds excluded; variants interleaved round-robin.',
    'Compiled languages: (a) and (b) run the artifact that the runtime\'s own compile command produced on the host; (c) and (d) run with a warm compile cache (one warm-up execution of the same source first).',
  ];
  const server = await ctx.server();
  const http = typeof server === 'string' ? undefined : server;
  if (http === undefined) notes.push(`HTTP column skipped: ${server as string}.`);
  const data: Record<string, HelloLanguageData> = {};
  const skipped: string[] = [];
  const targets: TargetResult[] = [];

  const langs = ctx.runtimes.filter((r) => languagesFilter === undefined || languagesFilter.includes(r.language));
  for (const info of langs) {
    if (!info.available) {
      skipped.push(`${info.language} (not available: ${info.problem ?? 'unknown'})`);
      continue;
    }
    const runtime = await ctx.resolved(info.language);
    const code = helloProgram(info.language, runtime.definition.entry);
    if (code === undefined) {
      skipped.push(`${info.language} (no hello-world program in bench/lib/programs.ts)`);
      continue;
    }
    ctx.log(`hello: ${info.language}`);
    const langNotes: string[] = [];
    let host: HostProgram | undefined;
    try {
      host = await prepareHostProgram(runtime, [{ name: runtime.definition.entry, content: code }], 'hello world');
    } catch (error) {
      langNotes.push(`bare and bwrap skipped: ${(error as Error).message}`);
    }
    const request = { language: info.language, code };
    const phaseSamples: Array<Record<Phase, number>> = [];
    const reportedSamples: Array<{ wallMs: number; cpuMs: number }> = [];
    let cacheHits = 0;
    let cacheRuns = 0;
    const variants: Variant[] = [];
    if (host !== undefined) {
      const h = host;
      variants.push({ name: 'bare', run: async () => expectOk(await h.runBare([]), `${info.language} bare`).ms });
      variants.push({ name: 'bwrap', run: async () => expectOk(await h.runBwrap([]), `${info.language} minimal bwrap`).ms });
    }
    variants.push({
      name: 'cylo',
      run: async () => {
        const t = await timedExecute(ctx.cylo, request);
        expectResult(t.result, `${info.language} cylo`, HELLO_TEXT);
        phaseSamples.push(t.phases);
        reportedSamples.push({ wallMs: t.result.run?.wallMs ?? 0, cpuMs: t.result.run?.cpuMs ?? 0 });
        if (info.compiled) {
          cacheRuns++;
          if ((t.result.compile as { cached?: boolean } | null)?.cached === true) cacheHits++;
        }
        return t.ms;
      },
    });
    if (http !== undefined) {
      variants.push({
        name: 'http',
        run: async () => {
          const r = await http.execute(request);
          expectResult(r.result, `${info.language} HTTP`, HELLO_TEXT);
          return r.ms;
        },
      });
    }
    try {
      // Warm-up (excluded): fills the compile cache, pages in the interpreter, opens the socket.
      const warmup = ctx.quick ? 1 : 3;
      const probeStart = performance.now();
      await interleave(variants, { warmup: 0, reps: 1 });
      const roundMs = performance.now() - probeStart;
      phaseSamples.length = 0;
      reportedSamples.length = 0;
      cacheHits = 0;
      cacheRuns = 0;
      const reps = ctx.quick ? 5 : Math.max(20, Math.min(60, Math.floor(25_000 / Math.max(1, roundMs))));
      const samples = await interleave(variants, { warmup: Math.max(0, warmup - 1), reps });
      // Keep only phases of the measured cylo runs (warm-up ones come first).
      const measuredPhases = phaseSamples.slice(phaseSamples.length - (samples.cylo?.length ?? 0));
      const measuredReported = reportedSamples.slice(reportedSamples.length - (samples.cylo?.length ?? 0));
      const s = (name: string): Summary | null => (samples[name] !== undefined && (samples[name]?.length ?? 0) > 0 ? roundSummary(summarize(samples[name] as number[])) : null);
      const bare = s('bare');
      const bwrap = s('bwrap');
      const cylo = s('cylo') as Summary;
      const httpS = s('http');
      const phases = {} as Record<Phase, number>;
      for (const p of PHASES) phases[p] = round(median(measuredPhases.map((x) => x[p])));
      data[info.language] = {
        language: info.language,
        version: info.version,
        compiled: info.compiled,
        bare,
        bwrap,
        cylo,
        http: httpS,
        ratioCylo: bare === null ? null : round(ratio(cylo.median, bare.median)),
        ratioHttp: bare === null || httpS === null ? null : round(ratio(httpS.median, bare.median)),
        httpAddsMs: httpS === null ? null : round(httpS.median - cylo.median),
        bwrapAddsMs: bare === null || bwrap === null ? null : round(bwrap.median - bare.median),
        cacheHits: info.compiled ? cacheHits : null,
        phases,
        reported: { wallMs: round(median(measuredReported.map((x) => x.wallMs))), cpuMs: round(median(measuredReported.map((x) => x.cpuMs))) },
        notes: langNotes,
      };
      if (info.compiled && cacheHits < cacheRuns) langNotes.push(`only ${cacheHits} of ${cacheRuns} cylo runs hit the compile cache`);
    } catch (error) {
      skipped.push(`${info.language} (failed: ${(error as Error).message.split('\n')[0] ?? ''})`);
    } finally {
      host?.cleanup();
    }
    for (const n of langNotes) notes.push(`${info.language}: ${n}`);
  }
  if (skipped.length > 0) notes.push(`Skipped: ${skipped.join('; ')}.`);

  const rows = Object.values(data).map((d) => [
    d.language,
    d.version,
    d.compiled ? 'compiled' : 'interpreted',
    fmtMedP95(d.bare),
    fmtMedP95(d.bwrap),
    fmtMedP95(d.cylo),
    d.http === null ? (http === undefined ? 'skipped' : '-') : fmtMedP95(d.http),
    fmtRatio(d.ratioCylo),
    fmtRatio(d.ratioHttp),
    d.bwrapAddsMs === null ? '-' : fmtMs(d.bwrapAddsMs),
    d.bare === null ? '-' : fmtMs(d.cylo.median - d.bare.median),
    d.httpAddsMs === null ? '-' : fmtMs(d.httpAddsMs),
  ]);
  const table: Table = {
    title: 'Hello world: wall time per execution, median / p95 (ms)',
    columns: ['language', 'version', 'kind', '(a) bare', '(b) minimal bwrap', '(c) cylo library', '(d) cylo HTTP', 'c/a', 'd/a', 'b-a ms', 'c-a ms', 'd-c ms'],
    rows,
  };
  const phaseTable: Table = {
    title: 'Where cylo\'s time goes (cylo library, median ms per phase; see BENCHMARKS.md for the phase definitions)',
    columns: ['language', ...PHASES, 'total (median)'],
    rows: Object.values(data).map((d) => [d.language, ...PHASES.map((p) => fmtMs(d.phases[p])), fmtMs(d.cylo.median)]),
  };

  const reportedTable: Table = {
    title: "The program's own figures as cylo reports them (run stage, median ms): wallMs from exec to exit, cpuMs of the program's processes from exec to exit (sandbox setup excluded)",
    columns: ['language', 'run.wallMs', 'run.cpuMs'],
    rows: Object.values(data).map((d) => [d.language, fmtMs(d.reported.wallMs), fmtMs(d.reported.cpuMs)]),
  };

  for (const [lang, bound] of Object.entries(TARGET_RATIO)) {
    const d = data[lang];
    const name = lang === 'javascript' ? 'Node' : 'Python';
    targets.push(
      d === undefined || d.ratioCylo === null
        ? target(`hello.${lang}.ratio`, `${name} hello world, cylo library / bare`, `<= ${bound}x`, null, 'x', null, d === undefined ? `${lang} not measured in this run` : 'no bare baseline')
        : target(`hello.${lang}.ratio`, `${name} hello world, cylo library / bare`, `<= ${bound}x`, d.ratioCylo, 'x', atMost(d.ratioCylo, bound), `bare ${fmtMs(d.bare?.median)} ms, cylo ${fmtMs(d.cylo.median)} ms`),
    );
  }
  const py = data.python ?? Object.values(data)[0];
  targets.push(
    py === undefined || py.httpAddsMs === null
      ? target('hello.http.addsMs', 'HTTP adds over the library call (median)', `<= ${HTTP_BUDGET_MS} ms`, null, 'ms', null, http === undefined ? `HTTP service not available: ${server as string}` : 'not measured')
      : target('hello.http.addsMs', `HTTP adds over the library call (median, ${py.language})`, `<= ${HTTP_BUDGET_MS} ms`, py.httpAddsMs, 'ms', atMost(py.httpAddsMs, HTTP_BUDGET_MS)),
  );

  return {
    name: 'hello',
    title: '1. Hello world per language',
    notes,
    tables: [table, phaseTable, reportedTable],
    targets,
    data: { languages: data, http: http === undefined ? { skipped: server } : { port: http.port } },
    elapsedMs: performance.now() - started,
  };
}
