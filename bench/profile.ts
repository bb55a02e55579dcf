// Phase profile: where the time of one execution goes. Two views, interleaved round-robin:
//  - cylo.execute() split by the engine's state events (see lib/timed-execute.ts);
//  - micro-measurements of each layer with /usr/bin/true as the program: bare spawn, minimal
//    bubblewrap, bubblewrap with cylo's full flag set (as root, no helper), and cylo's full
//    chain (outer helper -> bubblewrap -> inner helper) driven through a PreparedSandbox directly,
//    split into cgroup create, spawn -> "R", program, after exit, cgroup removal; the full
//    chain is repeated with seccomp and with Landlock off to price those two layers.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { normalizeRequest } from '../src/api/request.js';
import { DEFAULT_LIMITS } from '../src/api/limits.js';
import { NamespaceBackend } from '../src/sandbox/namespace-backend.js';
import { classifyStage } from '../src/engine/outcome.js';
import { buildBwrapArgv, type SandboxPlan } from '../src/sandbox/bwrap-argv.js';
import { checkHost } from '../src/sandbox/host-check.js';
import { IdentityPool } from '../src/sandbox/identity.js';
import { PreparedSandbox } from '../src/sandbox/prepared-sandbox.js';
import { buildSeccompProgram } from '../src/sandbox/seccomp/program.js';
import type { BenchContext } from './lib/context.js';
import { BENCH_UID_BASE } from './lib/context.js';
import { minimalBwrap, prepareHostProgram } from './lib/host-program.js';
import { interleave, type Variant } from './lib/interleave.js';
import { expectOk, timedSpawn } from './lib/proc.js';
import { HELLO_TEXT } from './lib/programs.js';
import { fmtBytes, fmtMs, type SectionResult, type Table } from './lib/report.js';
import { median, round, roundSummary, summarize, type Summary } from './lib/stats.js';
import { PHASES, expectResult, timedExecute, type Phase } from './lib/timed-execute.js';

/** Kernel clock ticks per second (USER_HZ) for /proc/stat; 100 on every mainstream Linux. */
const TICKS = 100;

const CHAIN_PARTS = ['cgroupCreate', 'plan', 'spawnToReady', 'program', 'afterExit', 'cgroupRemove'] as const;
type ChainPart = (typeof CHAIN_PARTS)[number];

let chainCounter = 0;

export async function runProfile(ctx: BenchContext): Promise<SectionResult> {
  const started = performance.now();
  const reps = ctx.quick ? 5 : 40;
  const report = checkHost({});
  if (report.bwrapPath === undefined || report.cgroups === undefined) throw new Error('sandbox unavailable (run cylo doctor)');
  const cgroups = report.cgroups;
  const bwrapPath = report.bwrapPath;
  const identities = new IdentityPool(BENCH_UID_BASE + 300_000, 64);
  const seccompProgram = buildSeccompProgram();
  const backend = new NamespaceBackend({ bwrapPath, helperPath: report.helperPath, cgroups, identities, seccompProgram, landlockAbi: report.landlockAbi, relax: new Set() });
  const bash = await ctx.resolved('bash');
  const python = await ctx.resolved('python');
  const limits = { ...DEFAULT_LIMITS };
  const TRUE = '/usr/bin/true';

  // The full chain through a PreparedSandbox, split into parts.
  const chainSamples: Record<string, Array<Record<ChainPart, number>>> = { full: [], noSeccomp: [], noLandlock: [] };
  const chain = (variant: 'full' | 'noSeccomp' | 'noLandlock') => async (): Promise<number> => {
    const t0 = performance.now();
    const cgroup = cgroups.create(`x-${process.pid}-p${++chainCounter}`, { memoryBytes: limits.memoryBytes, pids: limits.pids });
    const t1 = performance.now();
    const identity = identities.acquire();
    let result;
    let tReady = 0;
    let t2: number;
    let t3: number;
    try {
      let plan: SandboxPlan = backend.plan({ roots: bash.roots, mounts: bash.mounts, argv: [TRUE], env: {}, limits }, identity, cgroup);
      if (variant === 'noSeccomp') plan = { ...plan, seccomp: false };
      if (variant === 'noLandlock') plan = { ...plan, landlock: { ...plan.landlock, mode: 'off' } };
      t2 = performance.now();
      const sandbox = new PreparedSandbox(plan, plan.seccomp ? seccompProgram : undefined, cgroup);
      const report = await sandbox.run(plan, {
        kind: 'run',
        roots: bash.roots,
        mounts: bash.mounts,
        argv: [TRUE],
        env: {},
        files: [{ name: 'main.sh', content: Buffer.from('true\n') }],
        stdin: Buffer.alloc(0),
        limits,
        onStart: () => {
          tReady = performance.now();
        },
      });
      result = classifyStage(report, 'run', limits, 'utf8');
      t3 = performance.now();
    } finally {
      await cgroup.remove();
      identity.release();
    }
    const t4 = performance.now();
    if (result.status !== 'ok') throw new Error(`chain ${variant}: ${result.status} ${result.message ?? ''} ${result.stderr.slice(0, 300)}`);
    chainSamples[variant]?.push({ cgroupCreate: t1 - t0, plan: t2 - t1, spawnToReady: tReady - t2, program: result.wallMs, afterExit: t3 - tReady - result.wallMs, cgroupRemove: t4 - t3 });
    return t4 - t0;
  };

  // bubblewrap with cylo's flag set but none of the helper's work: run as root, program /usr/bin/true.
  const identity = identities.acquire();
  const probeCgroup = cgroups.create(`x-${process.pid}-probe`, { memoryBytes: limits.memoryBytes, pids: limits.pids });
  let fullFlags: string[];
  try {
    const plan = backend.plan({ roots: bash.roots, mounts: bash.mounts, argv: [TRUE], env: {}, limits }, identity, probeCgroup);
    const argv = buildBwrapArgv({ ...plan, seccomp: false, binds: plan.binds.map((b) => ({ ...b, viaFd: false })) });
    const dash = argv.indexOf('--');
    fullFlags = [...argv.slice(0, dash + 1), TRUE];
  } finally {
    await probeCgroup.remove();
    identity.release();
  }
  const env = { PATH: '/usr/bin:/bin' };

  const pyHost = await prepareHostProgram(python, [{ name: python.definition.entry, content: `print("${HELLO_TEXT}")\n` }], 'hello world');
  const phaseSamples: Record<string, Array<Record<Phase, number>>> = { python: [], bash: [] };
  const execVariant = (language: 'python' | 'bash', code: string, expected: string | undefined): Variant => ({
    name: `cylo-${language}`,
    run: async () => {
      const t = await timedExecute(ctx.cylo, { language, code });
      expectResult(t.result, `${language} cylo`, expected);
      phaseSamples[language]?.push(t.phases);
      return t.ms;
    },
  });
  // Validation alone, many times (it is far below a millisecond).
  const validation = (): number => {
    const k = 200;
    const t0 = performance.now();
    for (let i = 0; i < k; i++) normalizeRequest({ language: 'python', code: 'print(1)' }, ctx.cylo.policy);
    return (performance.now() - t0) / k;
  };

  // Moving a process into a cgroup (what the outer helper does first) after 30 ms without any
  // cgroup move: on kernels where cgroup.procs writes take the global threadgroup rwsem, the
  // first write of a burst waits for an RCU grace period unless `favordynmods` is on.
  const attach = async (): Promise<number> => {
    const cgroup = cgroups.create(`x-${process.pid}-a${++chainCounter}`, { memoryBytes: limits.memoryBytes, pids: limits.pids });
    const child = spawn('/usr/bin/sleep', ['10'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 30));
      const t0 = performance.now();
      writeFileSync(cgroup.procsFiles[0] as string, String(child.pid));
      const first = performance.now() - t0;
      for (const f of cgroup.procsFiles.slice(1)) writeFileSync(f, String(child.pid));
      return first;
    } finally {
      child.kill('SIGKILL');
      await cgroup.remove();
    }
  };

  // The synchronous part of Node's spawn(): libuv forks the whole Node process on Linux, so the
  // event loop is blocked for a time that grows with the caller's resident memory.
  const spawnBlock = async (): Promise<number> => {
    const t0 = performance.now();
    const child = spawn(TRUE, [], { stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'], env: {} });
    const blocked = performance.now() - t0;
    await new Promise((r) => child.on('close', r));
    return blocked;
  };

  const variants: Variant[] = [
    { name: 'cgroup-attach-after-idle', run: attach },
    { name: 'node-spawn-blocking', run: spawnBlock },
    { name: 'bare-true', run: async () => expectOk(await timedSpawn([TRUE], { env }), 'bare true').ms },
    { name: 'bwrap-minimal-true', run: async () => expectOk(await timedSpawn(minimalBwrap(bwrapPath, [], '/tmp', [TRUE]), { env }), 'minimal bwrap true').ms },
    { name: 'bwrap-cylo-flags-true', run: async () => expectOk(await timedSpawn(fullFlags, { env }), 'bwrap with cylo flags').ms },
    { name: 'chain-full', run: chain('full') },
    { name: 'chain-no-seccomp', run: chain('noSeccomp') },
    { name: 'chain-no-landlock', run: chain('noLandlock') },
    { name: 'bare-python', run: async () => expectOk(await pyHost.runBare([]), 'bare python').ms },
    execVariant('python', `print("${HELLO_TEXT}")\n`, HELLO_TEXT),
    execVariant('bash', 'true\n', undefined),
    { name: 'validation', run: async () => validation() },
  ];
  let samples: Record<string, number[]>;
  try {
    samples = await interleave(variants, { warmup: 2, reps });
  } finally {
    pyHost.cleanup();
  }
  // Machine-wide CPU per execution: /proc/stat busy time over a batch of sequential runs, minus
  // the background rate (other work on the machine) measured by an idle batch in the same round.
  // Counts everything an execution costs: Node, helpers, bubblewrap, the program, and kernel work
  // done outside the sandbox's cgroup (namespace teardown in kernel workers).
  const cpuBatch = ctx.quick ? 10 : 50;
  const cpuRounds = ctx.quick ? 1 : 3;
  const busyMs = (): { busy: number; total: number } => {
    const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: ((total - idle) * 1000) / TICKS, total: (total * 1000) / TICKS };
  };
  const cpuVariants: Array<{ name: string; run: () => Promise<unknown> }> = [
    { name: 'bare bash -c true', run: () => timedSpawn(['/usr/bin/bash', '-c', 'true'], { env }) },
    { name: 'minimal bwrap, /usr/bin/true', run: () => timedSpawn(minimalBwrap(bwrapPath, [], '/tmp', [TRUE]), { env }) },
    { name: 'cylo.execute, bash true', run: () => ctx.cylo.execute({ language: 'bash', code: 'true\n' }) },
    { name: 'bare python3 hello world', run: () => pyCpuHost.runBare([]) },
    { name: 'cylo.execute, python hello world', run: () => ctx.cylo.execute({ language: 'python', code: `print("${HELLO_TEXT}")\n` }) },
  ];
  const pyCpuHost = await prepareHostProgram(python, [{ name: python.definition.entry, content: `print("${HELLO_TEXT}")\n` }], 'hello world');
  const machineCpu: Record<string, number[]> = {};
  const background: number[] = [];
  try {
    for (let r = 0; r < cpuRounds; r++) {
      const b0 = busyMs();
      const w0 = performance.now();
      await new Promise((res) => setTimeout(res, 250));
      const b1 = busyMs();
      const rate = (b1.busy - b0.busy) / (performance.now() - w0);
      background.push(rate);
      for (const v of cpuVariants) {
        const c0 = busyMs();
        const t0 = performance.now();
        for (let i = 0; i < cpuBatch; i++) await v.run();
        const c1 = busyMs();
        const wall = performance.now() - t0;
        (machineCpu[v.name] ??= []).push(Math.max(0, (c1.busy - c0.busy - rate * wall) / cpuBatch));
      }
    }
  } finally {
    pyCpuHost.cleanup();
  }
  const s = (name: string): Summary => roundSummary(summarize(samples[name] ?? []));
  const lastN = <T>(xs: T[], n: number): T[] => xs.slice(Math.max(0, xs.length - n));
  const partMedians = (xs: Array<Record<ChainPart, number>>): Record<ChainPart, number> => {
    const kept = lastN(xs, reps);
    const out = {} as Record<ChainPart, number>;
    for (const p of CHAIN_PARTS) out[p] = round(median(kept.map((x) => x[p])));
    return out;
  };
  const phaseMedians = (xs: Array<Record<Phase, number>>): Record<Phase, number> => {
    const kept = lastN(xs, reps);
    const out = {} as Record<Phase, number>;
    for (const p of PHASES) out[p] = round(median(kept.map((x) => x[p])));
    return out;
  };
  const chains = { full: partMedians(chainSamples.full ?? []), noSeccomp: partMedians(chainSamples.noSeccomp ?? []), noLandlock: partMedians(chainSamples.noLandlock ?? []) };
  const phases = { python: phaseMedians(phaseSamples.python ?? []), bash: phaseMedians(phaseSamples.bash ?? []) };
  const micro = {
    bareTrue: s('bare-true'),
    bwrapMinimalTrue: s('bwrap-minimal-true'),
    bwrapCyloFlagsTrue: s('bwrap-cylo-flags-true'),
    chainFull: s('chain-full'),
    chainNoSeccomp: s('chain-no-seccomp'),
    chainNoLandlock: s('chain-no-landlock'),
    barePython: s('bare-python'),
    cyloPython: s('cylo-python'),
    cyloBash: s('cylo-bash'),
    validationMs: s('validation'),
    cgroupAttachAfterIdle: s('cgroup-attach-after-idle'),
    nodeSpawnBlocking: s('node-spawn-blocking'),
    benchRssBytes: process.memoryUsage().rss,
  };
  const favordynmods = readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => / cgroup2? /.test(l) && l.includes('favordynmods')).map((l) => l.split(' ')[1]);
  const row = (label: string, sum: Summary, what: string): Table['rows'][number] => [label, fmtMs(sum.median), fmtMs(sum.p95), what];
  const microTable: Table = {
    title: 'Micro-measurements, wall time median / p95 (ms); program /usr/bin/true unless named',
    columns: ['what', 'median', 'p95', 'measures'],
    rows: [
      row('bare spawn of /usr/bin/true', micro.bareTrue, 'Node spawn + exec + exit + pipes closing'),
      row('minimal bwrap, /usr/bin/true', micro.bwrapMinimalTrue, 'namespaces + a few mounts'),
      row("bwrap with cylo's flags (root, no helper)", micro.bwrapCyloFlagsTrue, 'cylo\'s mounts: /etc files, tmpfs workspace, remount-ro, --disable-userns, uid map'),
      row('cylo chain via PreparedSandbox (full)', micro.chainFull, 'cgroup + outer helper + bwrap + inner helper + cleanup'),
      row('  same, seccomp off', micro.chainNoSeccomp, 'prices the seccomp layer'),
      row('  same, Landlock off', micro.chainNoLandlock, 'prices the Landlock layer'),
      row('cylo.execute, bash `true`', micro.cyloBash, 'the whole library path, trivial program'),
      row('bare python3 hello world', micro.barePython, 'baseline of the Python target'),
      row('cylo.execute, python hello world', micro.cyloPython, 'the Python target'),
      row('request validation (normalizeRequest)', micro.validationMs, 'per call, averaged over 200 calls'),
      row(`Node spawn(), time the event loop is blocked (this process: ${fmtBytes(micro.benchRssBytes)} RSS)`, micro.nodeSpawnBlocking, 'libuv fork()s the caller: grows with its resident memory'),
      row('cgroup attach after 30 ms idle (first cgroup.procs write)', micro.cgroupAttachAfterIdle, 'RCU grace period on the global threadgroup rwsem unless favordynmods'),
    ],
  };
  const chainTable: Table = {
    title: 'The full chain split (median ms): cgroup create, plan, spawn -> "R" (helper + bubblewrap + helper until the program runs), program, after exit (exit report, cgroup sweep, stats, pipes), cgroup removal',
    columns: ['variant', ...CHAIN_PARTS],
    rows: Object.entries(chains).map(([k, v]) => [k, ...CHAIN_PARTS.map((p) => fmtMs(v[p]))]),
  };
  const phaseTable: Table = {
    title: 'cylo.execute split by state events (median ms)',
    columns: ['program', ...PHASES, 'total'],
    rows: [
      ['python hello world', ...PHASES.map((p) => fmtMs(phases.python[p])), fmtMs(micro.cyloPython.median)],
      ['bash true', ...PHASES.map((p) => fmtMs(phases.bash[p])), fmtMs(micro.cyloBash.median)],
    ],
  };
  const cpuTable: Table = {
    title: `Machine CPU per execution (ms, median of ${cpuRounds} batches of ${cpuBatch}; all processes and kernel work, background load subtracted)`,
    columns: ['what', 'CPU ms / execution'],
    rows: Object.entries(machineCpu).map(([k, v]) => [k, fmtMs(median(v))]),
  };
  return {
    name: 'profile',
    title: 'Phase profile: where the time of an execution goes',
    notes: [
      `All variants interleaved round-robin, ${reps} kept rounds after 2 warm-up rounds. Phases of cylo.execute: admit (validation, runtime lookup, pool) -> setup (uid, cgroup mkdir + limits) -> plan -> sandbox (helper + bubblewrap start before the program, exit report and cgroup sweep after it) -> program (helper-reported wall time) -> teardown (cgroup kill + rmdir).`,
      `cgroup hierarchies mounted with favordynmods: ${favordynmods.length === 0 ? 'none' : favordynmods.join(', ')} (on kernels with the per-threadgroup rwsem, the switch stays on until reboot once set, whatever /proc/mounts shows: the "cgroup attach after idle" row tells).`,
      `Fixed cost of cylo over a bare spawn (bash true): ${fmtMs(micro.cyloBash.median - micro.bareTrue.median)} ms; of which minimal bubblewrap alone: ${fmtMs(micro.bwrapMinimalTrue.median - micro.bareTrue.median)} ms.`,
    ],
    tables: [microTable, chainTable, phaseTable, cpuTable],
    targets: [],
    data: { micro, chains, phases, favordynmodsMounts: favordynmods, machineCpuMsPerExecution: Object.fromEntries(Object.entries(machineCpu).map(([k, v]) => [k, round(median(v))])), backgroundCpuMsPerMs: background.map((x) => round(x)) },
    elapsedMs: performance.now() - started,
  };
}
