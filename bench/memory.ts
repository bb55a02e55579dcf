// (6) Memory: the service's resident memory idle and under load, and the host memory each
// concurrent sandbox costs beyond the program itself.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { openCgroups } from '../src/sandbox/cgroups.js';
import type { BenchContext } from './lib/context.js';
import { BENCH_UID_BASE } from './lib/context.js';
import { startServer, serverUnavailableReason, type ServerHandle } from './lib/http.js';
import { REPO_ROOT } from './lib/paths.js';
import { atMost, fmtBytes, target, type SectionResult, type Table, type TargetResult } from './lib/report.js';
import { median, round } from './lib/stats.js';

const MiB = 1024 * 1024;
const IDLE_TARGET = 100 * MiB;
const OVERHEAD_COMMS = new Set(['bwrap', 'helper', 'cylo-helper']);

function statusKb(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

const rss = (pid: number): number => statusKb(pid, 'VmRSS');

function pss(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function sampleRss(pid: number, ms: number, every = 20): Promise<number[]> {
  const out: number[] = [];
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const v = rss(pid);
    if (v > 0) out.push(v);
    await sleep(every);
  }
  return out;
}

interface RssProfile {
  idle: number;
  loadMedian: number;
  loadMax: number;
  idleAfterLoad: number;
  hwm: number;
  executionsUnderLoad: number;
  failedUnderLoad?: number;
  firstFailure?: string;
}

/** RSS of the HTTP service: idle after start, during a load of concurrent Python hello world
 *  requests, and idle again afterwards. */
async function serviceRss(loadMs: number, inflight: number, settleMs: number): Promise<RssProfile> {
  const server: ServerHandle = await startServer();
  try {
    await sleep(settleMs);
    const idle = median(await sampleRss(server.pid, settleMs, 50));
    let count = 0;
    const until = performance.now() + loadMs;
    let failed = 0;
    let firstFailure = '';
    const worker = async (): Promise<void> => {
      while (performance.now() < until) {
        try {
          const r = await server.execute({ language: 'python', code: 'print("hello, world")' });
          if (r.result.status !== 'ok') throw new Error(`status ${String(r.result.status)}`);
          count++;
        } catch (error) {
          failed++;
          firstFailure ||= (error as Error).message.slice(0, 300);
        }
      }
    };
    const sampling = sampleRss(server.pid, loadMs);
    await Promise.all([...Array.from({ length: inflight }, worker), sampling]);
    const under = await sampling;
    await sleep(2 * settleMs);
    const after = median(await sampleRss(server.pid, settleMs, 50));
    return { idle, loadMedian: median(under), loadMax: Math.max(...under), idleAfterLoad: after, hwm: statusKb(server.pid, 'VmHWM'), executionsUnderLoad: count, failedUnderLoad: failed, firstFailure };
  } finally {
    await server.stop();
  }
}

/** The same for a process that only embeds the library (bench/lib/library-host.ts). */
async function libraryRss(loadMs: number, inflight: number, settleMs: number): Promise<RssProfile> {
  const child: ChildProcess = spawn(process.execPath, [join(REPO_ROOT, 'dist/bench/lib/library-host.js'), String(BENCH_UID_BASE + 200_000)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const r = await lines.next();
    if (r.done === true) throw new Error('library host exited');
    return r.value;
  };
  child.stdin?.on('error', () => {});
  const pid = child.pid as number;
  try {
    if ((await next()) !== 'ready') throw new Error('library host did not start');
    await sleep(settleMs);
    const idle = median(await sampleRss(pid, settleMs, 50));
    child.stdin?.write(`load ${loadMs} ${inflight}\n`);
    const sampling = sampleRss(pid, loadMs);
    const done = await next();
    const under = await sampling;
    await sleep(2 * settleMs);
    const after = median(await sampleRss(pid, settleMs, 50));
    const hwm = statusKb(pid, 'VmHWM');
    const [, count = '0', failed = '0', ...why] = done.split(' ');
    return { idle, loadMedian: median(under), loadMax: Math.max(...under), idleAfterLoad: after, hwm, executionsUnderLoad: Number(count), failedUnderLoad: Number(failed), firstFailure: why.join(' ') };
  } finally {
    child.stdin?.end('exit\n');
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, 5000);
      child.on('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

interface SandboxCost {
  sandboxes: number;
  /** Per sandbox, summed over cylo's own processes (bubblewrap monitor + inner helper). */
  overheadPssPerSandbox: number;
  overheadRssPerSandbox: number;
  overheadProcessesPerSandbox: number;
  /** Per sandbox, the program's processes. */
  programPssPerSandbox: number;
  programRssPerSandbox: number;
  /** The same program started bare from Node, per process. */
  barePssPerProcess: number;
  bareRssPerProcess: number;
  /** The sandbox's cgroup: memory charged to it (kernel objects, tmpfs, page cache included). */
  cgroupUsagePerSandbox: number;
  cgroupKernelPerSandbox: number | null;
  /** Growth of this benchmark process's own RSS while the sandboxes run, per sandbox. */
  nodeRssPerSandbox: number;
  processes: Array<{ comm: string; rss: number; pss: number }>;
}

function readMaybe(path: string): number | null {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

/** N sandboxes sleeping at once: the memory of each sandbox's own processes (PSS, so shared
 *  library pages are divided among their sharers), its cgroup's charge, and the same sleeping
 *  program run bare. */
async function sandboxCost(ctx: BenchContext, n: number): Promise<SandboxCost> {
  const cylo = ctx.makeCylo({ concurrency: n, queueLimit: n });
  const driver = openCgroups();
  const mine = `x-${process.pid}-`;
  // Warm: one run so the host check is done and the binaries are paged in.
  await cylo.execute({ language: 'bash', code: 'true' });
  // Pools keep idle slot cgroups around, so the sandboxes of this measurement are the cgroups
  // that hold a sleeping program.
  const nodeBefore = median(await sampleRss(process.pid, 300, 30));
  const controllers = Array.from({ length: n }, () => new AbortController());
  let ready = 0;
  const readyAll = new Promise<void>((resolve) => {
    if (n === 0) resolve();
    const check = (): void => {
      ready++;
      if (ready === n) resolve();
    };
    for (let i = 0; i < n; i++) {
      const c = controllers[i] as AbortController;
      let seen = false;
      cylo
        .execute(
          { language: 'bash', code: 'echo ready\nexec sleep 55\n', limits: { timeoutMs: 60_000 } },
          {
            signal: c.signal,
            onEvent: (e) => {
              if (!seen && e.type === 'stdout' && e.data.toString().includes('ready')) {
                seen = true;
                check();
              }
            },
          },
        )
        .catch(() => {});
    }
  });
  const bare: ChildProcess[] = [];
  try {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${ready}/${n} sandboxes started within 30 s`)), 30_000);
    });
    try {
      await Promise.race([readyAll, timeout]);
    } finally {
      clearTimeout(timer);
    }
    await sleep(300);
    const nodeDuring = median(await sampleRss(process.pid, 300, 30));
    const names = driver.list().filter((name) => name.startsWith(mine) && driver.open(name).pids().some((pid) => comm(pid) === 'sleep'));
    const processes: Array<{ comm: string; rss: number; pss: number }> = [];
    let usage = 0;
    let kernel: number | null = 0;
    for (const name of names) {
      const cg = driver.open(name);
      for (const pid of cg.pids()) processes.push({ comm: comm(pid), rss: rss(pid), pss: pss(pid) });
      const base = driver.baseDirs[0] as string;
      if (driver.version === 'v1') {
        usage += readMaybe(join(base, name, 'memory.usage_in_bytes')) ?? 0;
        const k = readMaybe(join(base, name, 'memory.kmem.usage_in_bytes'));
        kernel = kernel === null || k === null ? null : kernel + k;
      } else {
        usage += readMaybe(join(base, name, 'memory.current')) ?? 0;
        try {
          const m = /^kernel (\d+)/m.exec(readFileSync(join(base, name, 'memory.stat'), 'utf8'));
          kernel = kernel === null || m === null ? null : kernel + Number(m[1]);
        } catch {
          kernel = null;
        }
      }
    }
    // The same sleeping program, bare.
    for (let i = 0; i < n; i++) bare.push(spawn('/usr/bin/sleep', ['55'], { stdio: 'ignore' }));
    await sleep(300);
    const bareP = bare.map((c) => ({ rss: rss(c.pid as number), pss: pss(c.pid as number) }));
    const overhead = processes.filter((p) => OVERHEAD_COMMS.has(p.comm));
    const program = processes.filter((p) => !OVERHEAD_COMMS.has(p.comm));
    const sum = (xs: Array<{ rss: number; pss: number }>, k: 'rss' | 'pss'): number => xs.reduce((a, x) => a + x[k], 0);
    const per = (v: number): number => round(v / Math.max(1, names.length), 0);
    return {
      sandboxes: names.length,
      overheadPssPerSandbox: per(sum(overhead, 'pss')),
      overheadRssPerSandbox: per(sum(overhead, 'rss')),
      overheadProcessesPerSandbox: round(overhead.length / Math.max(1, names.length), 2),
      programPssPerSandbox: per(sum(program, 'pss')),
      programRssPerSandbox: per(sum(program, 'rss')),
      barePssPerProcess: round(sum(bareP, 'pss') / Math.max(1, n), 0),
      bareRssPerProcess: round(sum(bareP, 'rss') / Math.max(1, n), 0),
      cgroupUsagePerSandbox: per(usage),
      cgroupKernelPerSandbox: kernel === null ? null : per(kernel),
      nodeRssPerSandbox: round((nodeDuring - nodeBefore) / n, 0),
      processes: n <= 1 ? processes : [],
    };
  } finally {
    for (const c of controllers) c.abort();
    for (const b of bare) b.kill('SIGKILL');
    await sleep(200);
  }
}

export async function runMemory(ctx: BenchContext): Promise<SectionResult> {
  const started = performance.now();
  const loadMs = ctx.quick ? 1000 : 5000;
  const inflight = 8;
  const settleMs = ctx.quick ? 300 : 1000;
  const notes: string[] = [
    `Resident memory (VmRSS from /proc/PID/status): idle = median over ${settleMs / 1000} s, ${settleMs / 1000} s after start and one execution; under load = ${inflight} Python hello world executions kept in flight for ${loadMs / 1000} s, sampled every 20 ms; idle after = ${(2 * settleMs) / 1000} s after the load.`,
    'Per-sandbox cost: N sandboxes each run `exec sleep` at once. For every process in each sandbox\'s cgroup, /proc/PID/smaps_rollup gives its PSS (proportional set size: shared pages such as libc divided among the processes sharing them) and RSS. cylo\'s own processes are the bubblewrap monitor (`bwrap`) and the inner helper that is PID 1 of the sandbox (`helper`); the outer helper has exec\'d bubblewrap, so it is not a separate process. "program" is the sleeping `sleep`; "bare" is the same `sleep` spawned from Node. The cgroup charge (memory.usage_in_bytes, v1) also counts kernel objects (memory.kmem.usage_in_bytes: namespaces, mounts, page tables, the tmpfs), and page cache first touched by that sandbox, so it is an upper bound. The growth of the calling Node process\'s own RSS per running sandbox (pipes, buffers, closures) is in the JSON (nodeRssPerSandbox); it is below the garbage collector\'s noise (well under 1 MiB per sandbox).',
  ];
  const tables: Table[] = [];
  const targets: TargetResult[] = [];
  const data: Record<string, unknown> = {};

  const rssRows: Table['rows'] = [];
  const why = serverUnavailableReason();
  if (why === undefined) {
    ctx.log('memory: HTTP service RSS');
    try {
      const s = await serviceRss(loadMs, inflight, settleMs);
      data.service = s;
      if ((s.failedUnderLoad ?? 0) > 0) notes.push(`HTTP service: ${s.failedUnderLoad} of ${s.executionsUnderLoad + (s.failedUnderLoad ?? 0)} executions under load failed (first: ${s.firstFailure ?? '?'}).`);
      rssRows.push(['HTTP service (`cylo serve`)', fmtBytes(s.idle), fmtBytes(s.loadMedian), fmtBytes(s.loadMax), fmtBytes(s.idleAfterLoad), fmtBytes(s.hwm), s.executionsUnderLoad]);
      targets.push(target('memory.service.idle', 'Service idle RSS', '<= 100 MiB', s.idle, 'bytes', atMost(s.idle, IDLE_TARGET)));
    } catch (error) {
      notes.push(`HTTP service RSS failed: ${(error as Error).message}`);
      targets.push(target('memory.service.idle', 'Service idle RSS', '<= 100 MiB', null, 'bytes', null, `failed: ${(error as Error).message.slice(0, 200)}`));
    }
  } else {
    notes.push(`HTTP service skipped: ${why}. The library-host row (a Node process that only embeds cylo's library) stands in for it until the service exists.`);
  }
  ctx.log('memory: library host RSS');
  const lib = await libraryRss(loadMs, inflight, settleMs);
  data.libraryHost = lib;
  if ((lib.failedUnderLoad ?? 0) > 0) notes.push(`Library host: ${lib.failedUnderLoad} of ${lib.executionsUnderLoad + (lib.failedUnderLoad ?? 0)} executions under load failed (first: ${lib.firstFailure ?? '?'}).`);
  rssRows.push(['Node process embedding the library', fmtBytes(lib.idle), fmtBytes(lib.loadMedian), fmtBytes(lib.loadMax), fmtBytes(lib.idleAfterLoad), fmtBytes(lib.hwm), lib.executionsUnderLoad]);
  if (why !== undefined) targets.push(target('memory.service.idle', 'Service idle RSS', '<= 100 MiB', null, 'bytes', null, `HTTP service not available; the library host idles at ${fmtBytes(lib.idle)}`));
  tables.push({ title: 'Resident memory of the service', columns: ['process', 'idle', 'under load (median)', 'under load (max)', 'idle after load', 'VmHWM', 'executions during load'], rows: rssRows });

  const counts = ctx.quick ? [1, 4] : [1, 4, 8, 16];
  const costs: SandboxCost[] = [];
  for (const n of counts) {
    ctx.log(`memory: ${n} concurrent sandboxes`);
    costs.push(await sandboxCost(ctx, n));
  }
  data.perSandbox = costs;
  tables.push({
    title: 'Host memory per concurrent sandbox (a sleeping program), per sandbox',
    columns: ['sandboxes', 'cylo processes PSS', 'cylo processes RSS', 'program PSS', 'same program bare PSS', 'cgroup charge', 'of which kernel'],
    rows: costs.map((c) => [c.sandboxes, fmtBytes(c.overheadPssPerSandbox), fmtBytes(c.overheadRssPerSandbox), fmtBytes(c.programPssPerSandbox), fmtBytes(c.barePssPerProcess), fmtBytes(c.cgroupUsagePerSandbox), fmtBytes(c.cgroupKernelPerSandbox)]),
  });
  const one = costs[0];
  if (one !== undefined && one.processes.length > 0) {
    tables.push({ title: 'Processes of one sandbox', columns: ['process (comm)', 'RSS', 'PSS'], rows: one.processes.map((p) => [p.comm, fmtBytes(p.rss), fmtBytes(p.pss)]) });
  }
  return { name: 'memory', title: '6. Memory', notes, tables, targets, data, elapsedMs: performance.now() - started };
}
