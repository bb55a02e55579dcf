// (10) Pre-started runtimes (issue 19): Python, JavaScript, TypeScript and Java (cached compile) hello
// world, interleaved round-robin: (a) bare spawn, (c) cylo library with every runtime cold
// (`prestart: false`), (p) cylo library with pre-started runtimes (the default), and the same
// two through HTTP (a `cylo serve` with CYLO_PRESTART=0 and one with the default). Ratios to
// bare, and where the library's time goes (phases) cold and pre-started. Then `import numpy,
// pandas` hello in the datasci environment: bare, cold, pre-started with them pre-imported.
import type { BenchContext } from './lib/context.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverUnavailableReason, startServer, type ServerHandle } from './lib/http.js';
import { prepareHostProgram } from './lib/host-program.js';
import { interleave, type Variant } from './lib/interleave.js';
import { expectOk } from './lib/proc.js';
import { HELLO_TEXT, helloProgram } from './lib/programs.js';
import { atMost, fmtMedP95, fmtMs, fmtRatio, target, type SectionResult, type Table, type TargetResult } from './lib/report.js';
import { median, ratio, round, roundSummary, summarize, type Summary } from './lib/stats.js';
import { PHASES, expectResult, timedExecute, type Phase } from './lib/timed-execute.js';
import type { Cylo } from '../src/cylo.js';
import { barChartSvg, PEER_FIGURES, type ChartBar } from './lib/chart.js';

const LANGUAGES = ['python', 'javascript', 'typescript', 'java'] as const;
const NAMES: Record<string, string> = { python: 'Python', javascript: 'Node', typescript: 'TypeScript (cached compile)', java: 'Java (cached compile)' };
/** The targets: library at most 0.5x bare (Python, Node, Java); Python over HTTP at most 0.8x;
 *  `import numpy` in datasci at most 0.2x bare. */
const LIBRARY_TARGET = 0.5;
const HTTP_TARGET = 0.8;
const DATASCI_TARGET = 0.2;
const DATASCI_CODE = `import numpy, pandas\nprint("${HELLO_TEXT}")\n`;

interface PrestartLanguageData {
  bare: Summary;
  cold: Summary;
  pre: Summary;
  httpCold: Summary | null;
  httpPre: Summary | null;
  phasesCold: Record<Phase, number>;
  phasesPre: Record<Phase, number>;
  /** Pre-started runs out of the measured pre-started library runs. */
  handedOver: string;
}

/** A library variant that records its phases. */
function libraryVariant(name: string, cylo: Cylo, request: { language: string; code: string; environment?: string }, phases: Array<Record<Phase, number>>): Variant {
  return {
    name,
    run: async () => {
      const t = await timedExecute(cylo, request);
      expectResult(t.result, `${request.language} ${name}`, HELLO_TEXT);
      phases.push(t.phases);
      return t.ms;
    },
  };
}

function httpVariant(name: string, server: ServerHandle, request: { language: string; code: string }): Variant {
  return {
    name,
    run: async () => {
      const r = await server.execute(request);
      expectResult(r.result, `${request.language} ${name}`, HELLO_TEXT);
      return r.ms;
    },
  };
}

/** A `cylo serve` of this measurement's own, or why there is none. */
async function serve(env: Record<string, string>): Promise<ServerHandle | string> {
  const why = serverUnavailableReason();
  if (why !== undefined) return why;
  try {
    return await startServer([], env);
  } catch (error) {
    return (error as Error).message;
  }
}

function medianPhases(samples: Array<Record<Phase, number>>, n: number): Record<Phase, number> {
  const measured = samples.slice(samples.length - n);
  const out = {} as Record<Phase, number>;
  for (const p of PHASES) out[p] = round(median(measured.map((x) => x[p])));
  return out;
}

export async function runPrestart(ctx: BenchContext): Promise<SectionResult> {
  const started = performance.now();
  const notes: string[] = [
    'Wall time of one hello-world execution end to end, median / p95 ms, variants interleaved round-robin after warm-up: (a) the interpreter spawned bare from Node; cylo library cold (`prestart: false`) and pre-started (default); `POST /v1/execute` on loopback to a `cylo serve` with `CYLO_PRESTART=0` and to one with the default. Each slot pre-starts the runtime of its last run, so a benchmark that alternates languages on one slot would run cold; here each variant serves one language at a time.',
  ];
  const cold = ctx.makeCylo({ prestart: false });
  const pre = ctx.cylo;
  // Two services of their own, each with a fresh data directory (the submissions database).
  const dataDir = mkdtempSync(join(tmpdir(), 'cylo-bench-prestart-'));
  const server = await serve({ CYLO_DATA_DIR: join(dataDir, 'pre') });
  const coldServer = typeof server === 'string' ? server : await serve({ CYLO_DATA_DIR: join(dataDir, 'cold'), CYLO_PRESTART: '0' });
  if (typeof server === 'string' || typeof coldServer === 'string') notes.push(`HTTP columns skipped: ${typeof server === 'string' ? server : (coldServer as string)}.`);
  const data: Record<string, PrestartLanguageData> = {};
  const targets: TargetResult[] = [];
  try {
    for (const language of LANGUAGES) {
      if (!ctx.available(language)) {
        notes.push(`${language}: not available`);
        continue;
      }
      ctx.log(`prestart: ${language}`);
      const runtime = await ctx.resolved(language);
      const code = helloProgram(language, runtime.definition.entry) as string;
      const request = { language, code };
      const host = await prepareHostProgram(runtime, [{ name: runtime.definition.entry, content: code }], 'hello world');
      const phasesCold: Array<Record<Phase, number>> = [];
      const phasesPre: Array<Record<Phase, number>> = [];
      const variants: Variant[] = [
        { name: 'bare', run: async () => expectOk(await host.runBare([]), `${language} bare`).ms },
        libraryVariant('cold', cold, request, phasesCold),
        libraryVariant('pre', pre, request, phasesPre),
      ];
      if (typeof server !== 'string' && typeof coldServer !== 'string') variants.push(httpVariant('httpCold', coldServer, request), httpVariant('httpPre', server, request));
      try {
        const before = pre.stats();
        const reps = ctx.quick ? 5 : 40;
        const samples = await interleave(variants, { warmup: ctx.quick ? 1 : 3, reps });
        const after = pre.stats();
        const s = (name: string): Summary | null => ((samples[name]?.length ?? 0) > 0 ? roundSummary(summarize(samples[name] as number[])) : null);
        data[language] = {
          bare: s('bare') as Summary,
          cold: s('cold') as Summary,
          pre: s('pre') as Summary,
          httpCold: s('httpCold'),
          httpPre: s('httpPre'),
          phasesCold: medianPhases(phasesCold, reps),
          phasesPre: medianPhases(phasesPre, reps),
          handedOver: `${after.runtimesPrestarted - before.runtimesPrestarted} of ${after.completed - before.completed}`,
        };
      } finally {
        host.cleanup();
      }
    }
  } finally {
    if (typeof coldServer !== 'string') await coldServer.stop();
    if (typeof server !== 'string') await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }

  const r = (v: Summary | null, bare: Summary): number | null => (v === null ? null : round(ratio(v.median, bare.median)));
  const table: Table = {
    title: 'Hello world, cold vs pre-started runtimes: wall time per execution, median / p95 (ms), and ratio to bare',
    columns: ['language', '(a) bare', 'library cold', 'library pre-started', 'HTTP cold', 'HTTP pre-started', 'cold/a', 'pre/a', 'HTTP cold/a', 'HTTP pre/a', 'handed over'],
    rows: Object.entries(data).map(([lang, d]) => [lang, fmtMedP95(d.bare), fmtMedP95(d.cold), fmtMedP95(d.pre), fmtMedP95(d.httpCold), fmtMedP95(d.httpPre), fmtRatio(r(d.cold, d.bare)), fmtRatio(r(d.pre, d.bare)), fmtRatio(r(d.httpCold, d.bare)), fmtRatio(r(d.httpPre, d.bare)), d.handedOver]),
  };
  const phaseTable: Table = {
    title: 'Where the library\'s time goes, cold and pre-started (median ms per phase; "program" is the run\'s own wall time from the handover or exec)',
    columns: ['language', 'variant', ...PHASES],
    rows: Object.entries(data).flatMap(([lang, d]) => [
      [lang, 'cold', ...PHASES.map((p) => fmtMs(d.phasesCold[p]))],
      [lang, 'pre-started', ...PHASES.map((p) => fmtMs(d.phasesPre[p]))],
    ]),
  };
  for (const lang of LANGUAGES) {
    const d = data[lang];
    const name = NAMES[lang] as string;
    const lib = d === undefined ? null : r(d.pre, d.bare);
    targets.push(target(`prestart.${lang}.library`, `${name} hello world, pre-started cylo library / bare`, `<= ${LIBRARY_TARGET}x`, lib, 'x', atMost(lib, LIBRARY_TARGET), d === undefined ? 'not measured' : `bare ${fmtMs(d.bare.median)} ms, pre-started ${fmtMs(d.pre.median)} ms, cold ${fmtMs(d.cold.median)} ms`));
  }
  const py = data.python;
  const http = py === undefined ? null : r(py.httpPre, py.bare);
  targets.push(target('prestart.python.http', 'Python hello world, pre-started cylo HTTP / bare', `<= ${HTTP_TARGET}x`, http, 'x', atMost(http, HTTP_TARGET), http === null ? 'HTTP not measured' : undefined));
  const datasci = await measureDatasci(ctx, cold, notes);
  const ds = datasci === undefined ? null : r(datasci.pre, datasci.bare);
  targets.push(target('prestart.datasci.import', '`import numpy, pandas` hello in datasci, pre-started (pre-imported) cylo library / bare', `<= ${DATASCI_TARGET}x`, ds, 'x', atMost(ds, DATASCI_TARGET), datasci === undefined ? 'not measured' : `bare ${fmtMs(datasci.bare.median)} ms, pre-imported ${fmtMs(datasci.pre.median)} ms, cold ${fmtMs(datasci.cold.median)} ms`));
  const tables = [table, phaseTable];
  if (datasci !== undefined) {
    tables.push({
      title: '`import numpy, pandas` then hello world in the datasci environment: wall time per execution, median / p95 (ms), and ratio to bare',
      columns: ['(a) bare', 'library cold', 'library pre-imported', 'cold/a', 'pre/a', 'handed over'],
      rows: [[fmtMedP95(datasci.bare), fmtMedP95(datasci.cold), fmtMedP95(datasci.pre), fmtRatio(r(datasci.cold, datasci.bare)), fmtRatio(ds), datasci.handedOver]],
    });
  }
  return { name: 'prestart', title: '10. Pre-started runtimes (cold vs pre-started vs bare)', notes, tables, targets, data: { languages: data, datasci: datasci ?? null }, elapsedMs: performance.now() - started };
}

interface DatasciData {
  bare: Summary;
  cold: Summary;
  pre: Summary;
  handedOver: string;
}

/** `import numpy, pandas` hello in the datasci environment: bare /usr/bin/python3 (the host has
 *  the same Debian packages), cylo cold, cylo pre-started with the default pre-imports. */
async function measureDatasci(ctx: BenchContext, cold: Cylo, notes: string[]): Promise<DatasciData | undefined> {
  if (!ctx.available('python') || !ctx.cylo.environments.list().some((e) => e.name === 'datasci')) {
    notes.push('datasci: not available (scripts/setup.sh installs python3-numpy, python3-pandas, python3-matplotlib)');
    return undefined;
  }
  ctx.log('prestart: datasci');
  const pre = ctx.cylo;
  const runtime = await ctx.resolved('python');
  // The default memory limit (256 MiB) is at the pre-import floor: numpy and pandas are imported ahead.
  const request = { language: 'python', environment: 'datasci', code: DATASCI_CODE };
  const host = await prepareHostProgram(runtime, [{ name: runtime.definition.entry, content: DATASCI_CODE }], 'datasci import');
  const ignored: Array<Record<Phase, number>> = [];
  const variants: Variant[] = [
    { name: 'bare', run: async () => expectOk(await host.runBare([]), 'datasci bare').ms },
    libraryVariant('cold', cold, request, ignored),
    libraryVariant('pre', pre, request, ignored),
  ];
  try {
    const before = pre.stats();
    const samples = await interleave(variants, { warmup: ctx.quick ? 1 : 3, reps: ctx.quick ? 5 : 20 });
    const after = pre.stats();
    const s = (name: string): Summary => roundSummary(summarize(samples[name] as number[]));
    return { bare: s('bare'), cold: s('cold'), pre: s('pre'), handedOver: `${after.runtimesPrestarted - before.runtimesPrestarted} of ${after.completed - before.completed}` };
  } finally {
    host.cleanup();
  }
}

/** The section's chart: Python hello world, bare vs cylo cold and pre-started vs the peers. */
export function prestartChart(section: SectionResult): string {
  const languages = (section.data as { languages: Record<string, PrestartLanguageData> }).languages;
  const bars: ChartBar[] = [];
  for (const [lang, d] of Object.entries(languages)) {
    if (lang === 'typescript') continue; // the chart compares interpreters' starts with the peers'
    bars.push({ label: `${lang}: bare`, ms: d.bare.median, kind: 'measured' });
    bars.push({ label: `${lang}: cylo library, cold`, ms: d.cold.median, kind: 'measured' });
    bars.push({ label: `${lang}: cylo library, pre-started`, ms: d.pre.median, kind: 'measured' });
    if (d.httpCold !== null) bars.push({ label: `${lang}: cylo HTTP, cold`, ms: d.httpCold.median, kind: 'measured' });
    if (d.httpPre !== null) bars.push({ label: `${lang}: cylo HTTP, pre-started`, ms: d.httpPre.median, kind: 'measured' });
  }
  const datasci = (section.data as { datasci: DatasciData | null }).datasci;
  if (datasci !== null) {
    bars.push({ label: 'datasci import numpy, pandas: bare', ms: datasci.bare.median, kind: 'measured' });
    bars.push({ label: 'datasci import numpy, pandas: cylo, cold', ms: datasci.cold.median, kind: 'measured' });
    bars.push({ label: 'datasci import numpy, pandas: cylo, pre-started (pre-imported)', ms: datasci.pre.median, kind: 'measured' });
  }
  return barChartSvg('Hello world, wall time per execution (median ms)', [...bars, ...PEER_FIGURES]);
}
