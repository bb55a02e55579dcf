// CPU per execution of a Python hello world, split by where it is spent, independent of what
// else the machine runs: `node dist/bench/cpu-per-exec.js [N=100] [concurrency=2] [cylo|bare]`.
// The script moves itself into a cpuacct cgroup of its own (cgroup v1 / hybrid hosts: cylo's
// execution cgroups are then created under it, so the cgroup accounts Node, the helpers,
// bubblewrap and the program, and nothing of other users of the machine). Prints one JSON line:
//   treeCpuMsPerExec      everything in that cgroup (user + system), ms per execution
//   treeSysMsPerExec      its system (kernel) part
//   sandboxesCpuMsPerExec cylo's execution cgroups (helper after it joined, bubblewrap, program)
//   nodeCpuMsPerExec      this Node process (main thread and libuv threads)
//   loopActiveMsPerExec   the event loop's active time (synchronous work, blocking calls included)
// Not in any of them: kernel work in kworkers (network-namespace cleanup, per-CPU drains), which
// no cgroup is charged for; `perf record -a` shows it (BENCHMARKS.md). Needs root.
// CYLO_BENCH_HELPER=PATH: another build's helper (with its prestart/ beside it), for A/B runs.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createCylo } from '../src/index.js';

const CPUACCT = '/sys/fs/cgroup/cpuacct';
const CODE = 'print("hello world")\n';

const readNs = (file: string): number => {
  try {
    return Number(readFileSync(file, 'utf8'));
  } catch {
    return 0;
  }
};

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 100);
  const concurrency = Number(process.argv[3] ?? 2);
  const mode = process.argv[4] ?? 'cylo';
  const own = join(CPUACCT, `cylo-bench-cpu-${process.pid}`);
  mkdirSync(own);
  writeFileSync(join(own, 'cgroup.procs'), String(process.pid));
  const sample = () => ({ all: readNs(join(own, 'cpuacct.usage')), sys: readNs(join(own, 'cpuacct.usage_sys')), sandboxes: readNs(join(own, 'cylo', 'cpuacct.usage')) });
  const cylo = mode === 'cylo' ? createCylo({ ...(process.env.CYLO_BENCH_HELPER === undefined ? {} : { helperPath: process.env.CYLO_BENCH_HELPER }), uidBase: Number(process.env.CYLO_BENCH_UID_BASE ?? 2_140_000_000), uidCount: 512, concurrency, queueLimit: 100_000 }) : undefined;
  const bare = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const child = spawn('/usr/bin/python3', ['-c', CODE], { stdio: ['ignore', 'pipe', 'inherit'] });
      child.stdout.resume();
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`python3 exited ${code}`))));
    });
  const one = async (): Promise<void> => {
    if (cylo === undefined) return bare();
    const r = await cylo.execute({ language: 'python', code: CODE });
    if (r.status !== 'ok') throw new Error(`cylo: ${r.status}`);
  };
  const batch = async (count: number): Promise<void> => {
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        await one();
      }
    }));
  };
  try {
    await batch(Math.max(10, 2 * concurrency)); // warm-up: slots created, runtimes learned
    const elu0 = performance.eventLoopUtilization();
    const s0 = sample();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await batch(n);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    const s1 = sample();
    const elu = performance.eventLoopUtilization(elu0);
    const per = (ns: number): number => Math.round((ns / 1e6 / n) * 100) / 100;
    console.log(JSON.stringify({
      mode, n, concurrency,
      execPerSecond: Math.round((n * 1000) / ms * 10) / 10,
      treeCpuMsPerExec: per(s1.all - s0.all),
      treeSysMsPerExec: per(s1.sys - s0.sys),
      sandboxesCpuMsPerExec: per(s1.sandboxes - s0.sandboxes),
      nodeCpuMsPerExec: per((cpu.user + cpu.system) * 1000),
      loopActiveMsPerExec: Math.round((elu.active / n) * 100) / 100,
      load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    }));
  } finally {
    await cylo?.close({ graceMs: 5000 });
    writeFileSync(join(CPUACCT, 'cgroup.procs'), String(process.pid));
    for (const dir of [join(own, 'cylo'), own]) {
      try {
        rmdirSync(dir);
      } catch {
        // cylo's subtree may be gone already
      }
    }
  }
}

await main();
