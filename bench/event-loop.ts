// Event-loop blocking and throughput with and without the spawner (issue 19): Python hello world
// at concurrency = cores, three variants interleaved round by round in one run: bare (the
// interpreter spawned from Node), cylo with the spawner (option spawner: true, no fork on the
// event loop) and cylo with Node's spawn (spawner: false). Per variant: executions/s, the Node
// process's CPU per execution, and the event loop's delay (perf_hooks monitorEventLoopDelay,
// 1 ms resolution: p99 and max of how late the loop ran, i.e. how long something blocked it).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { defaultHelperPath } from '../src/sandbox/host-check.js';
import { Spawner } from '../src/sandbox/spawner.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Cylo } from '../src/cylo.js';
import type { BenchContext } from './lib/context.js';
import { expectOk } from './lib/proc.js';
import { HELLO_TEXT } from './lib/programs.js';
import { pythonHello } from './throughput.js';
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

/** The spawn itself, sequentially: /bin/true with 6 socket fds (as a sandbox's outer helper
 *  gets) through Node's spawn and through the spawner. Per spawn: the synchronous time of the
 *  call (Node's spawn forks inside it) and the Node process's CPU until the child closed. */
async function spawnCost(count: number): Promise<Record<'node-spawn' | 'spawner', { syncMs: number; nodeCpuMs: number }>> {
  const spawner = new Spawner('/bin/true', defaultHelperPath());
  const one = {
    'node-spawn': async (): Promise<number> => {
      const t = performance.now();
      const c = spawn('/bin/true', ['outer'], { stdio: new Array(6).fill('pipe'), env: {} });
      const sync = performance.now() - t;
      await once(c, 'close');
      return sync;
    },
    spawner: async (): Promise<number> => {
      const t = performance.now();
      const p = spawner.spawn([], 6);
      const sync = performance.now() - t;
      await once(await p, 'close');
      return sync;
    },
  };
  const out = { 'node-spawn': { syncMs: 0, nodeCpuMs: 0 }, spawner: { syncMs: 0, nodeCpuMs: 0 } };
  for (const v of ['spawner', 'node-spawn'] as const) for (let i = 0; i < 5; i++) await one[v](); // warm-up
  const sync: Record<string, number[]> = { 'node-spawn': [], spawner: [] };
  const cpu: Record<string, number[]> = { 'node-spawn': [], spawner: [] };
  for (let r = 0; r < 4; r++) {
    for (const v of r % 2 === 0 ? (['spawner', 'node-spawn'] as const) : (['node-spawn', 'spawner'] as const)) {
      const c0 = process.cpuUsage();
      for (let i = 0; i < count; i++) (sync[v] as number[]).push(await one[v]());
      const c = process.cpuUsage(c0);
      (cpu[v] as number[]).push((c.user + c.system) / 1000 / count);
    }
  }
  for (const v of ['spawner', 'node-spawn'] as const) out[v] = { syncMs: round(median(sync[v] as number[]), 4), nodeCpuMs: round(median(cpu[v] as number[]), 4) };
  if (spawner.pid !== undefined) process.kill(spawner.pid, 'SIGKILL');
  return out;
}

export async function runEventLoop(ctx: BenchContext): Promise<SectionResult> {
  const started = performance.now();
  const cores = availableParallelism();
  const { code, host } = await pythonHello(ctx);
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
  const cost = await spawnCost(ctx.quick ? 20 : 100);
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
      {
        title: 'The spawn alone (/bin/true with 6 socket fds, sequential; medians): the synchronous call (Node spawn forks inside it) and Node CPU per spawn until the child closed',
        columns: ['variant', 'sync call ms', 'Node CPU ms/spawn'],
        rows: (['spawner', 'node-spawn'] as const).map((v) => [v, fmtMs(cost[v].syncMs), fmtMs(cost[v].nodeCpuMs)]),
      },
    ],
    targets: [target('spawn-blocking', 'event-loop blocking of the spawn call with the spawner', '< 0.1 ms', cost.spawner.syncMs, 'ms', cost.spawner.syncMs < 0.1), target('throughput-spawner', `Python hello throughput at concurrency ${cores} with the spawner, vs bare`, '>= 0.8x', spawner.ratioToBare, 'x', atLeast(spawner.ratioToBare, 0.8))],
    data: { cores, rounds, count, rows, batches: results, spawnCost: cost },
    elapsedMs: performance.now() - started,
  };
}
