// (8) CLI start: the wall time of a whole `bin/cylo exec` process (Node's start, loading cylo,
// the host checks, the sandboxed run, cleanup, exit) against `node -e 0` and a bare
// `python3 -c 'print(1)'`, interleaved round-robin in the same run; ratios to `node -e 0`. Each
// `cylo exec` row twice: in-process (CYLO_RESIDENT=0) and handed to a resident cylo (`cylo
// daemon`, started by this section on a socket of its own); the targets judge the resident rows.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** The CLI's own uids, apart from the context's library instances (BENCH_UID_BASE + n * 1024);
 *  in-process: never handed to a resident. */
const CLI_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', CYLO_UID_BASE: String(BENCH_UID_BASE + 100 * 1024), CYLO_UID_COUNT: '8', CYLO_RESIDENT: '0' };

function cliVariant(name: string, language: string, code: string, env: Record<string, string> = CLI_ENV): Variant {
  return {
    name,
    run: async () => expectOk(await timedSpawn([process.execPath, CYLO_BIN, 'exec', '--lang', language, code], { env, timeoutMs: 60_000 }), name).ms,
  };
}

/** A resident cylo for the section: its environment (clients use the same one) and its stop. */
async function startResident(): Promise<{ env: Record<string, string>; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'cylo-bench-resident-'));
  const env = { PATH: CLI_ENV.PATH, CYLO_UID_BASE: String(BENCH_UID_BASE + 101 * 1024), CYLO_UID_COUNT: '8', CYLO_RESIDENT_SOCKET: join(dir, 'run', 'resident.sock') };
  const child: ChildProcess = spawn(process.execPath, [CYLO_BIN, 'daemon'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.setEncoding('utf8').on('data', (t: string) => (log += t));
  const closed = new Promise<void>((r) => child.once('close', () => r()));
  await new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      if (log.includes('listening on')) resolve();
      else if (child.exitCode !== null) reject(new Error(`cylo daemon did not start: ${log}`));
      else return;
      clearInterval(poll);
    }, 20);
  });
  return {
    env,
    stop: async () => {
      child.kill('SIGTERM');
      await closed;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function runCliStart(ctx: BenchContext): Promise<SectionResult> {
  const started = performance.now();
  const notes = [
    'Wall time of a whole process, spawned from Node with pipes and waited for until its pipes close: `node -e 0` (the floor of any Node CLI), the bare interpreter (`python3 -c \'print(1)\'`), `bin/cylo exec --lang python \'print(1)\'` and, for a compiled language, `bin/cylo exec` of its hello world with a warm compile cache (one run first). Medians / p95 in ms; warm-up rounds excluded; variants interleaved round-robin. Ratios are to `node -e 0`. Rows "via resident": the same command handed to a `cylo daemon` this section started (same configuration, its own socket); the others in-process (CYLO_RESIDENT=0). The targets are judged on the resident rows.',
  ];
  const resident = await startResident();
  const variants: Variant[] = [
    { name: 'node -e 0', run: async () => expectOk(await timedSpawn([process.execPath, '-e', '0'], { env: CLI_ENV }), 'node -e 0').ms },
  ];
  if (ctx.available('python')) {
    const python = (await ctx.resolved('python')).binary as string;
    variants.push({ name: 'python3 -c', run: async () => expectOk(await timedSpawn([python, '-c', 'print(1)'], { env: CLI_ENV }), 'python3 -c').ms });
    variants.push(cliVariant('cylo exec python', 'python', 'print(1)'));
    variants.push(cliVariant('cylo exec python via resident', 'python', 'print(1)', resident.env));
  } else notes.push('Python is not available here: its rows are skipped.');
  const compiled = COMPILED.find((l) => ctx.available(l));
  if (compiled !== undefined) {
    const entry = (await ctx.resolved(compiled)).definition.entry;
    const code = helloProgram(compiled, entry) as string;
    const v = cliVariant(`cylo exec ${compiled} (cached)`, compiled, code);
    const r = cliVariant(`cylo exec ${compiled} (cached) via resident`, compiled, code, resident.env);
    await v.run(); // fills the compile cache
    await r.run(); // the resident's (another instance: its own cache entry may differ)
    variants.push(v, r);
  } else notes.push(`no compiled language (${COMPILED.join(', ')}) is available: the cached-compile row is skipped.`);

  const samples = await interleave(variants, ctx.quick ? { warmup: 1, reps: 5 } : { warmup: 2, reps: 20, minReps: 8, budgetMs: 90_000 }).finally(() => resident.stop());
  const summaries: Record<string, Summary> = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
  const floor = summaries['node -e 0']?.median ?? Number.NaN;
  const rows = variants.map((v) => {
    const s = summaries[v.name] as Summary;
    return [v.name, fmtMedP95(s), fmtRatio(ratio(s.median, floor))];
  });
  const ratioOf = (name: string): number | null => (summaries[name] === undefined ? null : round(ratio((summaries[name] as Summary).median, floor), 2));
  const pythonRatio = ratioOf('cylo exec python via resident');
  const compiledRatio = compiled === undefined ? null : ratioOf(`cylo exec ${compiled} (cached) via resident`);
  const inProcess = { python: ratioOf('cylo exec python'), compiled: compiled === undefined ? null : ratioOf(`cylo exec ${compiled} (cached)`) };
  const targets: TargetResult[] = [
    target('cli-start.python.ratio', '`cylo exec --lang python \'print(1)\'` (resident running) wall / `node -e 0` wall', `<= ${TARGET_PYTHON}x`, pythonRatio, 'x', atMost(pythonRatio, TARGET_PYTHON)),
    target('cli-start.compiled-cached.ratio', `\`cylo exec\` of a cached ${compiled ?? 'compiled'} hello world (resident running) / \`node -e 0\``, `<= ${TARGET_COMPILED}x`, compiledRatio, 'x', atMost(compiledRatio, TARGET_COMPILED)),
  ];
  return {
    name: 'cli-start',
    title: 'CLI start: a whole `cylo exec` process vs `node -e 0` and a bare interpreter',
    notes,
    tables: [{ title: 'Wall time per process (ms)', columns: ['command', 'median / p95 ms', 'vs node -e 0'], rows }],
    targets,
    data: { summaries: Object.fromEntries(Object.entries(summaries).map(([k, s]) => [k, roundSummary(s)])), pythonRatio, compiledRatio, inProcessRatios: inProcess, compiledLanguage: compiled ?? null },
    elapsedMs: performance.now() - started,
  };
}
