// Profile of the resident's path for a cached compiled run vs Python (issue 13, step 1): one
// warm instance configured as `cylo daemon` configures it (cliConfig), Python and cached C
// executions alternated as the cli-start bench does, each split into phases (timedExecute) and
// the backend's counters read after each (prepared vs started on demand, pre-started).
// Run: node dist/bench/resident-profile.js (as root; CYLO_UID_BASE/CYLO_UID_COUNT as for
// cylo daemon). ORDER=python,c (the languages, in turn), REPS=10 (rounds), GAP_MS=300 (the
// pause before each execution: the cli-start bench's clients come that far apart, so every
// slot's reset is done). Prints one line per language and sandbox kind: medians of each phase.
import { createCylo } from '../src/cylo.js';
import { cliConfig } from '../src/cli/cylo-options.js';
import { timedExecute } from './lib/timed-execute.js';
import { helloProgram } from './lib/programs.js';

const config = cliConfig();
const cylo = createCylo(config.cyloOptions);
await cylo.warm();
const order = (process.env.ORDER ?? 'python,c').split(',');
const code = (lang: string): string => helloProgram(lang, cylo.registry.get(lang).entry) as string;
// Every compiled language once first: its compile cache entry (the rounds are cache hits).
for (const lang of order) await cylo.execute({ language: lang, code: code(lang) });
const rows: Record<string, Array<Record<string, number>>> = {};
for (let i = 0; i < Number(process.env.REPS ?? 10); i++) {
  for (const lang of order) {
    await new Promise((r) => setTimeout(r, Number(process.env.GAP_MS ?? 300)));
    const before = cylo.stats();
    const t = await timedExecute(cylo, { language: lang, code: code(lang) });
    const after = cylo.stats();
    const how = after.sandboxesPrepared > before.sandboxesPrepared ? (after.runtimesPrestarted > before.runtimesPrestarted ? 'prestarted' : 'prepared') : 'on-demand';
    (rows[`${lang} ${how}`] ??= []).push({ total: t.ms, ...t.phases });
  }
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
for (const [k, v] of Object.entries(rows)) {
  const keys = Object.keys(v[0] ?? {});
  console.log(k.padEnd(18), `n=${v.length}`, keys.map((p) => `${p} ${med(v.map((r) => r[p] as number)).toFixed(1)}`).join('  '));
}
await cylo.close();
