// A/B of Node's CPU per execution between two builds, in ONE process so that both see the same
// machine load: `node dist/bench/ab-node-cpu.js BASE_DIST [rounds=6] [batch=40] [concurrency=2]`
// where BASE_DIST is a copy of an earlier build's dist/ (e.g. `git stash; npm run build:ts;
// cp -a dist /tmp/base-dist; git stash pop; npm run build:ts`). Two instances (the base
// build's and this one's) and bare spawns of python3 run Python hello-world batches in a rotating
// order each round; each batch waits until its instance has settled (nothing running, no
// sandbox starting), so the CPU of one batch's background work is not counted in the next.
// Prints one JSON line: per variant exec/s and Node CPU ms per execution (process.cpuUsage over
// its batches: main thread and libuv threads), the exec/s ratios to bare, the 1-minute load
// average after each round. Needs root (sandboxes), like the other benchmarks.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Cylo } from '../src/cylo.js';
import { createCylo } from '../src/index.js';

const CODE = 'print("hello world")\n';
type Variant = 'base' | 'new' | 'bare';

function bare(): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn('/usr/bin/python3', ['-c', CODE], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.resume();
    child.on('close', (code) => (code === 0 ? done() : fail(new Error(`python3 exited ${code}`))));
  });
}

async function settle(cylo: Cylo): Promise<void> {
  for (;;) {
    const s = cylo.stats() as ReturnType<Cylo['stats']> & { sandboxesStarting?: number };
    if (s.running === 0 && s.queued === 0 && (s.sandboxesStarting ?? 0) === 0) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function main(): Promise<void> {
  const [baseDist, ...rest] = process.argv.slice(2);
  if (baseDist === undefined) throw new Error('usage: node dist/bench/ab-node-cpu.js BASE_DIST [rounds] [batch] [concurrency]');
  const [rounds = 6, size = 40, concurrency = 2] = rest.map(Number);
  const baseModule = (await import(pathToFileURL(resolve(baseDist, 'src/index.js')).href)) as { createCylo: typeof createCylo };
  const options = { uidCount: 64, concurrency, queueLimit: 100_000 };
  const uidBase = Number(process.env.CYLO_BENCH_UID_BASE ?? 2_140_600_000);
  const instances = { base: baseModule.createCylo({ ...options, uidBase }), new: createCylo({ ...options, uidBase: uidBase + 64 }) };
  const one = async (v: Variant): Promise<void> => {
    if (v === 'bare') return bare();
    const r = await instances[v].execute({ language: 'python', code: CODE });
    if (r.status !== 'ok') throw new Error(`${v}: ${r.status}`);
  };
  const batch = async (v: Variant, n: number): Promise<void> => {
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        await one(v);
      }
    }));
    if (v !== 'bare') await settle(instances[v]);
  };
  const variants: Variant[] = ['base', 'new', 'bare'];
  const sums = { base: { cpuMs: 0, ms: 0, n: 0 }, new: { cpuMs: 0, ms: 0, n: 0 }, bare: { cpuMs: 0, ms: 0, n: 0 } };
  const loads: string[] = [];
  try {
    for (const v of variants) await batch(v, 20); // warm-up: slots made, runtimes learned
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < variants.length; i++) {
        const v = variants[(i + r) % variants.length] as Variant;
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await batch(v, size);
        const c = process.cpuUsage(c0);
        sums[v].ms += performance.now() - t0;
        sums[v].cpuMs += (c.user + c.system) / 1000;
        sums[v].n += size;
      }
      loads.push(readFileSync('/proc/loadavg', 'utf8').split(' ')[0] as string);
    }
  } finally {
    await Promise.all([instances.base.close(), instances.new.close()]);
  }
  const rate = (v: Variant): number => (sums[v].n * 1000) / sums[v].ms;
  const out = Object.fromEntries(variants.map((v) => [v, { execPerSecond: round(rate(v)), nodeCpuMsPerExec: round(sums[v].cpuMs / sums[v].n, 3) }]));
  console.log(JSON.stringify({ rounds, batch: size, concurrency, ...out, baseToBare: round(rate('base') / rate('bare'), 2), newToBare: round(rate('new') / rate('bare'), 2), load1: loads.join(',') }));
}

function round(n: number, digits = 1): number {
  return Math.round(n * 10 ** digits) / 10 ** digits;
}

await main();
