// (2) Throughput: Python hello world executions per second at concurrency 1, 2, 4, 8, 16, for
// bare spawning and for cylo (createCylo({ concurrency: n })). Each batch keeps n executions in
// flight until it has done its count; a bare batch and a cylo batch run back to back (in
// alternating order) at each level, for several rounds. The ratio reported is the median of
// these paired ratios, which follows the machine's load drift better than a ratio of medians.
import { availableParallelism } from 'node:os';
import type { Cylo } from '../src/cylo.js';
import type { BenchContext } from './lib/context.js';
import { prepareHostProgram, type HostProgram } from './lib/host-program.js';
import { expectOk } from './lib/proc.js';
import { HELLO_TEXT, helloProgram } from './lib/programs.js';
import { atLeast, fmtMs, fmtRatio, target, type SectionResult, type Table } from './lib/report.js';
import { median, round, summarize } from './lib/stats.js';
import { expectResult } from './lib/timed-execute.js';

const LEVELS = [1, 2, 4, 8, 16];

async function batch(count: number, concurrency: number, one: () => Promise<number>): Promise<{ perSecond: number; latencies: number[]; nodeCpuMsPerExec: number }> {
  let next = 0;
  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      latencies.push(await one());
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const cpu = process.cpuUsage(cpu0);
  return { perSecond: (count * 1000) / (performance.now() - t0), latencies, nodeCpuMsPerExec: (cpu.user + cpu.system) / 1000 / count };
}

/** The Python hello world both as a request's code and as a bare host program (the throughput and
 *  event-loop sections' workload). Throws when Python is not available. */
export async function pythonHello(ctx: BenchContext): Promise<{ code: string; host: HostProgram }> {
  const runtime = await ctx.resolved('python');
  if (!runtime.available) throw new Error(`python is not available: ${runtime.problem ?? ''}`);
  const code = helloProgram('python', runtime.definition.entry) as string;
  const host = await prepareHostProgram(runtime, [{ name: runtime.definition.entry, content: code }], 'hello world');
  return { code, host };
}

export async function runThroughput(ctx: BenchContext): Promise<SectionResult> {
  const started = performance.now();
  const cores = availableParallelism();
  const { code, host } = await pythonHello(ctx);
  const instances = new Map<number, Cylo>();
  const zygotes = new Map<number, Cylo>();
  for (const n of LEVELS) instances.set(n, ctx.makeCylo({ concurrency: n, queueLimit: 100_000 }));
  // The same with option zygote (docs/security.md "The Python zygote"), measured in the same rounds.
  for (const n of LEVELS) zygotes.set(n, ctx.makeCylo({ concurrency: n, queueLimit: 100_000, zygote: true }));
  const rounds = ctx.quick ? 1 : 5;
  const countFor = (n: number): number => (ctx.quick ? Math.max(4, 2 * n) : Math.max(20, 4 * n));
  const bare = async (): Promise<number> => expectOk(await host.runBare([]), 'python bare').ms;
  let sandboxCpu: number[] = [];
  const cyloRun = (c: Cylo) => async (): Promise<number> => {
    const t = performance.now();
    const r = await c.execute({ language: 'python', code });
    expectResult(r, 'python cylo', HELLO_TEXT);
    sandboxCpu.push(r.run?.cpuMs ?? 0);
    return performance.now() - t;
  };
  type Slot = { pairRatios: number[]; zygoteRatios: number[]; bare: number[]; cylo: number[]; zygote: number[]; bareLat: number[]; cyloLat: number[]; zygoteLat: number[]; bareNodeCpu: number[]; cyloNodeCpu: number[]; cyloSandboxCpu: number[] };
  const results: Record<number, Slot> = {};
  try {
    // Warm-up (excluded): every instance checks the host once, the interpreter is paged in.
    for (const n of LEVELS) {
      results[n] = { pairRatios: [], zygoteRatios: [], bare: [], cylo: [], zygote: [], bareLat: [], cyloLat: [], zygoteLat: [], bareNodeCpu: [], cyloNodeCpu: [], cyloSandboxCpu: [] };
      await batch(Math.min(n, 4), n, bare);
      await batch(Math.min(n, 4), n, cyloRun(instances.get(n) as Cylo));
      // Twice: the zygote starts on the first pre-start job it is asked for.
      await batch(Math.min(n, 4), n, cyloRun(zygotes.get(n) as Cylo));
      await batch(Math.min(n, 4), n, cyloRun(zygotes.get(n) as Cylo));
    }
    for (let r = 0; r < rounds; r++) {
      for (const n of LEVELS) {
        ctx.log(`throughput: round ${r + 1}/${rounds}, concurrency ${n}`);
        const variants = ['bare', 'cylo', 'zygote'];
        const order = variants.map((_, k) => variants[(k + r + n) % 3] as string);
        for (const v of order) {
          sandboxCpu = [];
          const b = await batch(countFor(n), n, v === 'bare' ? bare : cyloRun((v === 'cylo' ? instances : zygotes).get(n) as Cylo));
          const slot = results[n] as Slot;
          if (v === 'zygote') {
            slot.zygote.push(b.perSecond);
            slot.zygoteLat.push(...b.latencies);
          } else if (v === 'bare') {
            slot.bare.push(b.perSecond);
            slot.bareLat.push(...b.latencies);
            slot.bareNodeCpu.push(b.nodeCpuMsPerExec);
          } else {
            slot.cylo.push(b.perSecond);
            slot.cyloLat.push(...b.latencies);
            slot.cyloNodeCpu.push(b.nodeCpuMsPerExec);
            slot.cyloSandboxCpu.push(median(sandboxCpu));
          }
        }
        const slot = results[n] as Slot;
        slot.pairRatios.push((slot.cylo[slot.cylo.length - 1] as number) / (slot.bare[slot.bare.length - 1] as number));
        slot.zygoteRatios.push((slot.zygote[slot.zygote.length - 1] as number) / (slot.bare[slot.bare.length - 1] as number));
      }
    }
  } finally {
    host.cleanup();
  }
  const levels = LEVELS.map((n) => {
    const r = results[n] as Slot;
    const bareRate = median(r.bare);
    const cyloRate = median(r.cylo);
    const bl = summarize(r.bareLat);
    const cl = summarize(r.cyloLat);
    const zl = summarize(r.zygoteLat);
    return {
      concurrency: n,
      executionsPerBatch: countFor(n),
      rounds,
      barePerSecond: round(bareRate, 2),
      cyloPerSecond: round(cyloRate, 2),
      ratio: round(median(r.pairRatios)),
      zygotePerSecond: round(median(r.zygote), 2),
      zygoteRatio: round(median(r.zygoteRatios)),
      zygoteRatios: r.zygoteRatios.map((x) => round(x)),
      zygoteLatency: { median: round(zl.median), p95: round(zl.p95) },
      pairRatios: r.pairRatios.map((x) => round(x)),
      bareLatency: { median: round(bl.median), p95: round(bl.p95) },
      cyloLatency: { median: round(cl.median), p95: round(cl.p95) },
      bareNodeCpuMsPerExec: round(median(r.bareNodeCpu)),
      cyloNodeCpuMsPerExec: round(median(r.cyloNodeCpu)),
      cyloSandboxCpuMsPerExec: round(median(r.cyloSandboxCpu)),
      bareRounds: r.bare.map((x) => round(x, 2)),
      cyloRounds: r.cylo.map((x) => round(x, 2)),
    };
  });
  const table: Table = {
    title: 'Python hello world throughput (executions/s, median of rounds; cylo/bare: median of the paired rounds\' ratios) and per-execution latency (median / p95 ms)',
    columns: ['concurrency', 'bare exec/s', 'cylo exec/s', 'cylo/bare', 'zygote exec/s', 'zygote/bare', 'bare latency', 'cylo latency', 'zygote latency', 'Node CPU ms/exec bare', 'Node CPU ms/exec cylo', 'sandbox CPU ms/exec (cgroup)'],
    rows: levels.map((l) => [l.concurrency, l.barePerSecond.toFixed(1), l.cyloPerSecond.toFixed(1), fmtRatio(l.ratio), l.zygotePerSecond.toFixed(1), fmtRatio(l.zygoteRatio), `${fmtMs(l.bareLatency.median)} / ${fmtMs(l.bareLatency.p95)}`, `${fmtMs(l.cyloLatency.median)} / ${fmtMs(l.cyloLatency.p95)}`, `${fmtMs(l.zygoteLatency.median)} / ${fmtMs(l.zygoteLatency.p95)}`, fmtMs(l.bareNodeCpuMsPerExec), fmtMs(l.cyloNodeCpuMsPerExec), fmtMs(l.cyloSandboxCpuMsPerExec)]),
  };
  const atCores = levels.find((l) => l.concurrency === cores) ?? levels.reduce((best, l) => (Math.abs(l.concurrency - cores) < Math.abs(best.concurrency - cores) ? l : best));
  return {
    name: 'throughput',
    title: '2. Throughput (Python hello world)',
    notes: [
      `Each batch keeps n executions in flight (n workers, each starting the next execution when its previous one ends) until ${ctx.quick ? 'max(4, 2n)' : 'max(20, 4n)'} are done; at each level a bare batch and a cylo batch run back to back (order alternating); ${rounds} round(s) after a warm-up batch per level; exec/s are the median round, cylo/bare the median of the per-round paired ratios. cylo: one createCylo({ concurrency: n, queueLimit: 100000 }) per level, so cylo's own pool bounds concurrency exactly like the bare workers do.`,
      `This machine has ${cores} cores; the throughput target is read at concurrency = cores.`,
      'Node CPU ms/exec: CPU time of the calling Node process (process.cpuUsage, main thread and libuv threads) per execution; sandbox CPU: what the execution\'s cgroup accounted (helper, bubblewrap, program). Bare children\'s CPU cannot be read from Node, so compare the cylo sandbox figure with the bare latency at concurrency 1.',
    ],
    tables: [table],
    targets: [
      target('throughput.atCores', `Throughput at concurrency = cores (${atCores.concurrency}), cylo / bare`, '>= 0.8x', atCores.ratio, 'x', atLeast(atCores.ratio, 0.8), `${atCores.cyloPerSecond.toFixed(1)} vs ${atCores.barePerSecond.toFixed(1)} exec/s`),
      target('throughput.zygote', `Throughput at concurrency = cores (${atCores.concurrency}) with the zygote, cylo / bare`, '>= 0.8x', atCores.zygoteRatio, 'x', atLeast(atCores.zygoteRatio, 0.8), `${atCores.zygotePerSecond.toFixed(1)} vs ${atCores.barePerSecond.toFixed(1)} exec/s`),
    ],
    data: { cores, levels },
    elapsedMs: performance.now() - started,
  };
}
