// (10) The microVM backend next to the namespace backend, in the same run: a Python hello world
// (a) on the namespace backend (a prepared sandbox), (b) on a warm microVM waiting in the pool
// (only the execution is timed), once with pool VMs cold-booted and once restored from the
// template snapshot, (c) cold: a first execution on a fresh instance without snapshots (its
// initramfs build, a VM boot and the execution) and with them (initramfs, template boot + save,
// a restore, the execution), and the VM start alone: a boot (QEMU's start to the agent's hello)
// and a restore (QEMU's start to the restored agent's reseed reply). Under software emulation
// (TCG) when the host has no hardware KVM: said in the title and the notes.
import { existsSync } from 'node:fs';
import type { BenchContext } from './lib/context.js';
import { fmtMedP95, type SectionResult } from './lib/report.js';
import { round, roundSummary, summarize, type Summary } from './lib/stats.js';
import { hardwareKvm } from '../src/microvm/accelerator.js';
import { guestDir } from '../src/microvm/guest-image.js';
import type { Cylo } from '../src/cylo.js';

const CODE = 'print("hello, world")';

async function untilWarm(cylo: Cylo, timeoutMs = 300_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while ((cylo.stats().microvm?.bootedIdle ?? 0) < 1) {
    if (performance.now() > end) throw new Error('no VM booted within 300 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function timed(cylo: Cylo, request: Parameters<Cylo['execute']>[0]): Promise<number> {
  const t0 = performance.now();
  const r = await cylo.execute(request);
  const ms = performance.now() - t0;
  if (r.status !== 'ok' || r.run?.stdout !== 'hello, world\n') throw new Error(`microvm bench: ${r.status}: ${r.run?.message ?? r.run?.stderr ?? ''}`);
  return ms;
}

export async function runMicrovm(ctx: BenchContext): Promise<SectionResult> {
  const started = performance.now();
  const kvm = hardwareKvm();
  const accel = kvm === null ? 'software emulation (TCG)' : `KVM (${kvm})`;
  const notes = [
    `Python hello world, end to end as the library caller sees it, medians / p95 in ms. Accelerator: ${accel}${kvm === null ? ': this host has no hardware KVM, so every guest instruction is emulated; KVM hosts boot in a fraction of the time (docs/isolation.md)' : ''}.`,
    'namespaces: `execute` on the namespace backend (a sandbox prepared ahead). microvm warm: the pool has a VM waiting (the timer starts once it has), the execution alone; "booted" with microvmSnapshot false, "restored" from the template snapshot (the default). microvm cold: a new cylo instance\'s first microvm execution. VM boot / restore: QEMU\'s start (in its jail) to the agent\'s hello / to the restored agent\'s reseed reply, from the backend\'s own record.',
  ];
  const base = { tables: [], targets: [], title: `microVM vs namespace backend, ${accel}`, name: 'microvm' };
  if (!existsSync(`${guestDir()}/runtimes.ext4`) || !existsSync(`${guestDir()}/kernel/vmlinuz`)) {
    return { ...base, notes: [...notes, `skipped: no guest kernel or runtime image in ${guestDir()} (scripts/guest/kernel.sh, scripts/guest/runtime-image.sh)`], data: { skipped: true }, elapsedMs: performance.now() - started };
  }
  const reps = ctx.quick ? 2 : 5;
  const vmOptions = { isolation: 'microvm' as const, microvmAllowTcg: kvm === null, microvmPool: 1, concurrency: 1, defaultLimits: { timeoutMs: 120_000, cpuTimeMs: 120_000, memoryBytes: 128 * 2 ** 20, compileMemoryBytes: 256 * 2 ** 20 } };
  const cold: number[] = [];
  for (let i = 0; i < (ctx.quick ? 1 : 2); i++) {
    ctx.log(`microvm: cold ${i + 1}`);
    const fresh = ctx.makeCylo({ ...vmOptions, microvmSnapshot: false });
    cold.push(await timed(fresh, { language: 'python', code: CODE }));
    await fresh.close({ graceMs: 0 });
  }
  const namespaces: number[] = [];
  await timed(ctx.cylo, { language: 'python', code: CODE }); // warm-up of the namespace backend
  const booted = await warmRuns(ctx, ctx.makeCylo({ ...vmOptions, microvmSnapshot: false }), reps, 'booted', namespaces);
  ctx.log('microvm: first execution of an instance with snapshots');
  const snapVm = ctx.makeCylo(vmOptions);
  const firstSnap = await timed(snapVm, { language: 'python', code: CODE });
  const restored = await warmRuns(ctx, snapVm, reps, 'restored', namespaces);
  if (restored.starts?.mode !== 'restore') notes.push(`The snapshot could not be made (${restored.starts?.reason ?? 'unknown'}): the "restored" rows are cold boots.`);
  const s: Record<string, Summary> = {
    namespaces: summarize(namespaces),
    warmBooted: summarize(booted.warm),
    warmRestored: summarize(restored.warm),
    cold: summarize(cold),
    firstSnap: summarize([firstSnap]),
    boot: summarize(booted.startMs),
    restore: summarize(restored.startMs),
  };
  const table = {
    title: `Python hello world (${accel})`,
    columns: ['variant', 'median / p95 ms', 'runs'],
    rows: [
      ['namespaces (prepared sandbox)', fmtMedP95(s.namespaces as Summary), namespaces.length],
      ['microvm, warm VM from the pool, booted', fmtMedP95(s.warmBooted as Summary), booted.warm.length],
      ['microvm, warm VM from the pool, restored from the snapshot', fmtMedP95(s.warmRestored as Summary), restored.warm.length],
      ['microvm, cold (new instance, no snapshot: initramfs + boot + run)', fmtMedP95(s.cold as Summary), cold.length],
      ['microvm, cold with snapshots (new instance: initramfs + template boot/save + restore + run)', fmtMedP95(s.firstSnap as Summary), 1],
      ['VM cold boot alone (jail + QEMU + kernel + agent hello)', fmtMedP95(s.boot as Summary), booted.startMs.length],
      ['VM snapshot restore alone (jail + QEMU + restore + reseed)', fmtMedP95(s.restore as Summary), restored.startMs.length],
      ['template boot + save (once per instance)', restored.starts?.templateMs === null || restored.starts === undefined ? 'none' : String(restored.starts.templateMs), 1],
    ],
  };
  return {
    ...base,
    notes: [...notes, `Warm microvm (restored) / namespaces: ${round((s.warmRestored as Summary).median / (s.namespaces as Summary).median, 1)}x. Restore / boot: ${round((s.restore as Summary).median / (s.boot as Summary).median, 2)}x.`],
    tables: [table],
    data: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, roundSummary(v)])),
    elapsedMs: performance.now() - started,
  };
}

/** `reps` executions on a VM waiting in `vm`'s pool (each after the next VM is ready), each next
 *  to one on the namespace backend (pushed to `namespaces`); closes `vm`. */
async function warmRuns(ctx: BenchContext, vm: Cylo, reps: number, label: string, namespaces: number[]): Promise<{ warm: number[]; startMs: number[]; starts: NonNullable<ReturnType<Cylo['stats']>['microvm']>['starts'] | undefined }> {
  await vm.warm();
  const warm: number[] = [];
  try {
    for (let i = 0; i < reps; i++) {
      ctx.log(`microvm: warm ${label} ${i + 1}/${reps}`);
      await untilWarm(vm);
      warm.push(await timed(vm, { language: 'python', code: CODE }));
      namespaces.push(await timed(ctx.cylo, { language: 'python', code: CODE, isolation: 'namespaces' }));
    }
    const stats = vm.stats().microvm;
    return { warm, startMs: stats?.bootMs ?? [], starts: stats?.starts };
  } finally {
    await vm.close({ graceMs: 0 });
  }
}
