// Event-loop blocking and throughput with and without the spawner (issue 19): Python hello world
// at concurrency = cores, three variants interleaved round by round in one run: bare (the
// interpreter spawned from Node), cylo with the spawner (option spawner: true, no fork on the
// event loop) and cylo with Node's spawn (spawner: false). Per variant: executions/s, the Node
// process's CPU per execution, and the event loop's delay (perf_hooks monitorEventLoopDelay,
// 1 ms resolution: p99 and max of how late the loop ran, i.e. how long something blocked it).
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Cylo } from '../src/cylo.js';
import type { BenchContext } from './lib/context.js';
import { prepareHostProgram } from './lib/host-program.js';
import { expectOk } from './lib/proc.js';
import { HELLO_TEXT, helloProgram } from './lib/programs.js';
import { atLeast, fmtMs, fmtRatio, target, type SectionResult } from './lib/report.js';
import { median, round } from './lib/stats.js';
import { expectResult } from './lib/timed-execute.js';

type Variant = 'bare' | 'spawner' | 'node-spawn';

interface Batch {
  perSecond: number;
  nodeCpuMsPerExec: number;
  delayP99Ms: number;
  delayMaxMs: number;
}

async function batch(count: number, concurrency: number, one: () => Promise<void>): Promise<Batch> {
  let next = 0;
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  h.disable();
  return { perSecond: (count * 1000) / wall, nodeCpuMsPerExec: (cpu.user + cpu.system) / 1000 / count, delayP99Ms: h.percentile(99) / 1e6, delayMaxMs: h.max / 1e6 };
}

export async function runEventLoop(ctx: BenchContext): Promise<SectionResult> {
  const started = performance.now();
  const cores = availableParallelism();
  const runtime = await ctx.resolved('python');
  if (!runtime.available) throw new Error(`python is not available: ${runtime.problem ?? ''}`);
  const code = helloProgram('python', runtime.definition.entry) as string;
  const host = await prepareHostProgram(runtime, [{ name: runtime.definition.entry, content: code }], 'hello world');
  const instances: Record<Exclude<Variant, 'bare'>, Cylo> = {
    spawner: ctx.makeCylo({ concurrency: cores, queueLimit: 100_000, spawner: true }),
    'node-spawn': ctx.makeCylo({ concurrency: cores, queueLimit: 100_000, spawner: false }),
  };
  const run = (v: Variant) => async (): Promise<void> => {
    if (v === 'bare') {
      expectOk(await host.runBare([]), 'python bare');
      return;
    }
    expectResult(await instances[v].execute({ language: 'python', code }), `python cylo ${v}`, HELLO_TEXT);
  };
  const variants: Variant[] = ['bare', 'spawner', 'node-spawn'];
  const rounds = ctx.quick ? 1 : 6;
  const count = ctx.quick ? 8 : 40;
  const results: Record<Variant, Batch[]> = { bare: [], spawner: [], 'node-spawn': [] };
  try {
    for (const v of variants) await batch(cores * 2, cores, run(v)); // warm-up, excluded
    for (let r = 0; r < rounds; r++) {
      ctx.log(`event-loop: round ${r + 1}/${rounds}`);
      const order = variants.map((_, i) => variants[(i + r) % variants.length] as Variant);
      for (const v of order) results[v].push(await batch(count, cores, run(v)));
    }
  } finally {
    host.cleanup();
  }
  const pick = (v: Variant, f: (b: Batch) => number): number => round(median(results[v].map(f)));
  // Paired per round: each cylo variant's rate over the bare rate of the same round.
  const ratio = (v: Variant): number => round(median(results[v].map((b, i) => b.perSecond / (results.bare[i] as Batch).perSecond)));
  const rows = variants.map((v) => ({
    variant: v,
    perSecond: pick(v, (b) => b.perSecond),
    ratioToBare: v === 'bare' ? 1 : ratio(v),
    nodeCpuMsPerExec: pick(v, (b) => b.nodeCpuMsPerExec),
    delayP99Ms: pick(v, (b) => b.delayP99Ms),
    delayMaxMs: pick(v, (b) => b.delayMaxMs),
  }));
  const spawner = rows[1] as (typeof rows)[number];
  return {
    name: 'event-loop',
    title: 'Event-loop blocking: the spawner vs Node spawn (Python hello world at concurrency = cores)',
    notes: [
      `Concurrency ${cores} (cores), ${count} executions per batch, ${rounds} rounds; the variants interleaved in a rotating order each round. Ratios to bare are the median of per-round pairs.`,
      'Event-loop delay: perf_hooks monitorEventLoopDelay at 1 ms resolution during each batch (p99 and max of how late the loop ran), medians over rounds. Node CPU: process.cpuUsage() over the batch / executions.',
    ],
    tables: [
      {
        title: 'Throughput, Node CPU and event-loop delay per variant (medians over rounds)',
        columns: ['variant', 'exec/s', 'ratio to bare', 'Node CPU ms/exec', 'loop delay p99 ms', 'loop delay max ms'],
        rows: rows.map((r) => [r.variant, r.perSecond.toFixed(1), fmtRatio(r.ratioToBare), fmtMs(r.nodeCpuMsPerExec), fmtMs(r.delayP99Ms), fmtMs(r.delayMaxMs)]),
      },
    ],
    targets: [target('throughput-spawner', `Python hello throughput at concurrency ${cores} with the spawner, vs bare`, '>= 0.8x', spawner.ratioToBare, 'x', atLeast(spawner.ratioToBare, 0.8))],
    data: { cores, rounds, count, rows, batches: results },
    elapsedMs: performance.now() - started,
  };
}
