// (8) CLI start: the wall time of a whole `bin/cylo exec` process (Node's start, loading cylo,
// the host checks, the sandboxed run, cleanup, exit) against `node -e 0` and a bare
// `python3 -c 'print(1)'`, interleaved round-robin in the same run; ratios to `node -e 0`.
import type { BenchContext } from './lib/context.js';
import { BENCH_UID_BASE } from './lib/context.js';
import { interleave, type Variant } from './lib/interleave.js';
import { CYLO_BIN } from './lib/paths.js';
import { expectOk, timedSpawn } from './lib/proc.js';
import { helloProgram } from './lib/programs.js';
import { atMost, fmtMedP95, fmtRatio, target, type SectionResult, type TargetResult } from './lib/report.js';
import { ratio, round, roundSummary, summarize, type Summary } from './lib/stats.js';

/** Targets of issue 13: a Python hello world within 2x of `node -e 0`; a cached compiled run
 *  within 2.5x. */
const TARGET_PYTHON = 2;
const TARGET_COMPILED = 2.5;
/** The compiled languages tried, in order, for the cached-compile figure (the first available). */
const COMPILED = ['c', 'cpp', 'go', 'rust'];

/** The CLI's own uids, apart from the context's library instances (BENCH_UID_BASE + n * 1024). */
const CLI_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', CYLO_UID_BASE: String(BENCH_UID_BASE + 100 * 1024), CYLO_UID_COUNT: '8' };

function cliVariant(name: string, language: string, code: string): Variant {
  return {
    name,
    run: async () => expectOk(await timedSpawn([process.execPath, CYLO_BIN, 'exec', '--lang', language, code], { env: CLI_ENV, timeoutMs: 60_000 }), name).ms,
  };
}

export async function runCliStart(ctx: BenchContext): Promise<SectionResult> {
  const started = performance.now();
  const notes = [
    'Wall time of a whole process, spawned from Node with pipes and waited for until its pipes close: `node -e 0` (the floor of any Node CLI), the bare interpreter (`python3 -c \'print(1)\'`), `bin/cylo exec --lang python \'print(1)\'` and, for a compiled language, `bin/cylo exec` of its hello world with a warm compile cache (one run first). Medians / p95 in ms; warm-up rounds excluded; variants interleaved round-robin. Ratios are to `node -e 0`.',
  ];
  const variants: Variant[] = [
    { name: 'node -e 0', run: async () => expectOk(await timedSpawn([process.execPath, '-e', '0'], { env: CLI_ENV }), 'node -e 0').ms },
  ];
  if (ctx.available('python')) {
    const python = (await ctx.resolved('python')).binary as string;
    variants.push({ name: 'python3 -c', run: async () => expectOk(await timedSpawn([python, '-c', 'print(1)'], { env: CLI_ENV }), 'python3 -c').ms });
    variants.push(cliVariant('cylo exec python', 'python', 'print(1)'));
  } else notes.push('Python is not available here: its rows are skipped.');
  const compiled = COMPILED.find((l) => ctx.available(l));
  if (compiled !== undefined) {
    const entry = (await ctx.resolved(compiled)).definition.entry;
    const code = helloProgram(compiled, entry) as string;
    const v = cliVariant(`cylo exec ${compiled} (cached)`, compiled, code);
    await v.run(); // fills the compile cache
    variants.push(v);
  } else notes.push(`no compiled language (${COMPILED.join(', ')}) is available: the cached-compile row is skipped.`);

  const samples = await interleave(variants, ctx.quick ? { warmup: 1, reps: 5 } : { warmup: 2, reps: 20, minReps: 8, budgetMs: 90_000 });
  const summaries: Record<string, Summary> = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
  const floor = summaries['node -e 0']?.median ?? Number.NaN;
  const rows = variants.map((v) => {
    const s = summaries[v.name] as Summary;
    return [v.name, fmtMedP95(s), fmtRatio(ratio(s.median, floor))];
  });
  const ratioOf = (name: string): number | null => (summaries[name] === undefined ? null : round(ratio((summaries[name] as Summary).median, floor), 2));
  const pythonRatio = ratioOf('cylo exec python');
  const compiledRatio = compiled === undefined ? null : ratioOf(`cylo exec ${compiled} (cached)`);
  const targets: TargetResult[] = [
    target('cli-start.python.ratio', '`cylo exec --lang python \'print(1)\'` wall / `node -e 0` wall', `<= ${TARGET_PYTHON}x`, pythonRatio, 'x', atMost(pythonRatio, TARGET_PYTHON)),
    target('cli-start.compiled-cached.ratio', `\`cylo exec\` of a cached ${compiled ?? 'compiled'} hello world / \`node -e 0\``, `<= ${TARGET_COMPILED}x`, compiledRatio, 'x', atMost(compiledRatio, TARGET_COMPILED)),
  ];
  return {
    name: 'cli-start',
    title: 'CLI start: a whole `cylo exec` process vs `node -e 0` and a bare interpreter',
    notes,
    tables: [{ title: 'Wall time per process (ms)', columns: ['command', 'median / p95 ms', 'vs node -e 0'], rows }],
    targets,
    data: { summaries: Object.fromEntries(Object.entries(summaries).map(([k, s]) => [k, roundSummary(s)])), pythonRatio, compiledRatio, compiledLanguage: compiled ?? null },
    elapsedMs: performance.now() - started,
  };
}
