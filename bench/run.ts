// The benchmark harness: `npm run bench [-- --quick] [--json PATH] [--only name,name]`.
// Measures cylo against the bare and minimal-bubblewrap baselines on this machine in one run,
// prints a Markdown table per measurement and writes the same figures as JSON.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, freemem, hostname, loadavg, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createContext, type BenchContext } from './lib/context.js';
import { setBwrapPath } from './lib/host-program.js';
import { DEFAULT_JSON } from './lib/paths.js';
import { markdownTable, sectionMarkdown, targetsTable, type SectionResult, type TargetResult } from './lib/report.js';
import { runHello } from './hello.js';
import { prestartChart, runPrestart } from './prestart.js';
import { runThroughput } from './throughput.js';
import { runCpuBound } from './cpu-bound.js';
import { runCompileCache } from './compile-cache.js';
import { runScaling } from './scaling.js';
import { runMemory } from './memory.js';
import { runProfile } from './profile.js';
import { runCliStart } from './cli-start.js';
import { runTestCasesBench } from './test-cases.js';
import { runQueueBench } from './queue.js';
import { runMicrovm } from './microvm.js';
import { runEventLoop } from './event-loop.js';

type Runner = (ctx: BenchContext, languages?: readonly string[]) => Promise<SectionResult>;

export const MEASUREMENTS: ReadonlyArray<{ name: string; aliases: string[]; run: Runner; summary: string }> = [
  { name: 'hello', aliases: [], run: runHello, summary: 'hello world per language: bare, minimal bwrap, cylo library, cylo HTTP' },
  { name: 'profile', aliases: ['phases'], run: runProfile, summary: 'phase profile of an execution and micro-measurements of each layer' },
  { name: 'throughput', aliases: [], run: runThroughput, summary: 'Python hello world executions/s at concurrency 1..16, bare and cylo' },
  { name: 'cpu', aliases: ['cpu-bound'], run: runCpuBound, summary: 'a ~2 s prime sieve (Python, C, Go): cylo / bare' },
  { name: 'compile', aliases: ['compile-cache'], run: runCompileCache, summary: 'first compile vs compile-cache hit (Rust, Go, C++, Java)' },
  { name: 'memory', aliases: [], run: runMemory, summary: 'service RSS idle / under load; host memory per concurrent sandbox' },
  { name: 'scaling', aliases: [], run: runScaling, summary: 'cost vs output size, number of files, stdin size' },
  { name: 'test-cases', aliases: ['tests', 'judge'], run: runTestCasesBench, summary: '20 C++ test cases in one request vs 20 requests vs one compile + run' },
  { name: 'queue', aliases: ['redis'], run: runQueueBench, summary: 'queue mode: hop latency of a Python hello world; throughput with 1 vs 2 workers, CPU per execution' },
  { name: 'prestart', aliases: ['prestarted'], run: runPrestart, summary: 'Python, JavaScript, TypeScript, Java hello world and datasci import numpy, pandas: cold vs pre-started runtimes vs bare, library and HTTP' },
  { name: 'cli-start', aliases: ['cli', 'start'], run: runCliStart, summary: 'a whole `cylo exec` process (Python; cached compiled) vs `node -e 0` and python3 -c' },
  { name: 'event-loop', aliases: ['spawner'], run: runEventLoop, summary: 'event-loop delay, Node CPU and throughput: the spawner vs Node spawn vs bare (Python hello at concurrency = cores)' },
  { name: 'microvm', aliases: ['vm'], run: runMicrovm, summary: 'Python hello on a warm microVM, a cold one and a VM boot, next to the namespace backend (TCG where no KVM)' },
];

interface Args {
  quick: boolean;
  json: string;
  only: string[] | undefined;
  languages: string[] | undefined;
}

function usage(): string {
  return [
    'usage: npm run bench -- [--quick] [--json PATH] [--only name,name] [--languages id,id]',
    '  --quick       smoke run: few repetitions, small sizes (well under a minute)',
    `  --json PATH   where to write the figures as JSON (default ${DEFAULT_JSON})`,
    '  --only LIST   run only these measurements:',
    ...MEASUREMENTS.map((m) => `                  ${m.name.padEnd(11)} ${m.summary}`),
    '  --languages   restrict the per-language measurements (hello, cpu, compile) to these ids',
  ].join('\n');
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { quick: false, json: DEFAULT_JSON, only: undefined, languages: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') args.quick = true;
    else if (a === '--json') args.json = resolve(value());
    else if (a.startsWith('--json=')) args.json = resolve(a.slice(7));
    else if (a === '--only') args.only = value().split(',').map((s) => s.trim()).filter(Boolean);
    else if (a.startsWith('--only=')) args.only = a.slice(7).split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--languages') args.languages = value().split(',').map((s) => s.trim()).filter(Boolean);
    else if (a.startsWith('--languages=')) args.languages = a.slice(12).split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${usage()}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${usage()}`);
  }
  if (args.only !== undefined) {
    for (const name of args.only) {
      if (!MEASUREMENTS.some((m) => m.name === name || m.aliases.includes(name))) throw new Error(`--only: unknown measurement "${name}"; known: ${MEASUREMENTS.map((m) => m.name).join(', ')}`);
    }
  }
  return args;
}

function machine(): Record<string, unknown> {
  const cpu = cpus();
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const bwrap = spawnSync('bwrap', ['--version'], { encoding: 'utf8' });
  return {
    hostname: hostname(),
    kernel: release(),
    cpuModel: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryBytes: totalmem(),
    freeMemoryBytes: freemem(),
    node: process.version,
    bubblewrap: bwrap.stdout.trim() || null,
    commit: git.status === 0 ? git.stdout.trim() : null,
  };
}

function preflight(): string | undefined {
  if (process.platform !== 'linux') return 'the benchmarks need Linux';
  if (process.getuid?.() !== 0) return 'the benchmarks need root (cylo switches each sandbox to its own uid and manages cgroups)';
  const bwrap = spawnSync('bwrap', ['--version'], { encoding: 'utf8' });
  if (bwrap.status !== 0) return 'bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap';
  return undefined;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const why = preflight();
  if (why !== undefined) {
    process.stderr.write(`cylo bench: cannot run: ${why}\n`);
    process.exit(3);
  }
  const bwrapPath = spawnSync('sh', ['-c', 'command -v bwrap'], { encoding: 'utf8' }).stdout.trim();
  if (bwrapPath !== '') setBwrapPath(bwrapPath);
  const selected = MEASUREMENTS.filter((m) => args.only === undefined || args.only.includes(m.name) || m.aliases.some((a) => args.only?.includes(a)));
  const startedAt = new Date();
  const loadBefore = loadavg();
  const t0 = performance.now();
  const ctx = await createContext(args.quick);
  ctx.log(`runtimes resolved in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  process.stdout.write(`# cylo benchmarks\n\n- date: ${startedAt.toISOString()}\n- command: \`${command}\`\n- mode: ${args.quick ? 'quick (smoke run: few repetitions, small sizes)' : 'default'}\n- machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 1024 ** 3).toFixed(1)} GiB, Linux ${release()}, Node ${process.version}\n- load average at start: ${loadBefore.map((l) => l.toFixed(2)).join(' ')}\n\n`);
  const sections: SectionResult[] = [];
  const failures: Array<{ name: string; error: string }> = [];
  try {
    for (const m of selected) {
      ctx.log(`--- ${m.name}`);
      try {
        const loadStart = loadavg()[0] ?? 0;
        const section = await m.run(ctx, args.languages);
        section.load = { start: loadStart, end: loadavg()[0] ?? 0 };
        sections.push(section);
        process.stdout.write(`${sectionMarkdown(section)}\n`);
      } catch (error) {
        const message = (error as Error).stack ?? String(error);
        failures.push({ name: m.name, error: message });
        process.stdout.write(`## ${m.name}\n\nFAILED: ${(error as Error).message}\n\n`);
        ctx.log(`${m.name} failed: ${message}`);
      }
    }
  } finally {
    await ctx.close();
    ctx.log('closed');
  }
  const targets: TargetResult[] = sections.flatMap((s) => s.targets);
  const loadAfter = loadavg();
  process.stdout.write(`## Summary of targets\n\n${markdownTable(targetsTable(targets))}\n\n- load average at end: ${loadAfter.map((l) => l.toFixed(2)).join(' ')}; total ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  const json = {
    meta: {
      date: startedAt.toISOString(),
      command,
      quick: args.quick,
      only: args.only ?? null,
      languages: args.languages ?? null,
      machine: machine(),
      loadAverageStart: loadBefore,
      loadAverageEnd: loadAfter,
      elapsedMs: performance.now() - t0,
    },
    targets,
    sections: Object.fromEntries(sections.map((s) => [s.name, s])),
    failures,
  };
  mkdirSync(dirname(args.json), { recursive: true });
  writeFileSync(args.json, `${JSON.stringify(json, null, 2)}\n`);
  process.stderr.write(`[bench] figures written to ${args.json}\n`);
  const prestart = sections.find((s) => s.name === 'prestart');
  if (prestart !== undefined) {
    const svg = join(dirname(args.json), 'prestart.svg');
    writeFileSync(svg, prestartChart(prestart));
    process.stderr.write(`[bench] chart written to ${svg}\n`);
  }
  // Exit now rather than when the last handle closes (nothing is left to wait for).
  process.exit(failures.length > 0 ? 1 : 0);
}

main().catch((error: unknown) => {
  process.stderr.write(`cylo bench: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
