// (10) The microVM backend next to the namespace backend, in the same run: a Python hello world
// (a) on the namespace backend (a prepared sandbox), (b) on a warm microVM (booted ahead by the
// pool: only the execution is timed), (c) cold: a first execution on a fresh instance (the
// instance's initramfs build, a VM boot and the execution), and the VM boot alone (QEMU's start to
// the guest agent's hello). Snapshot restore is not implemented (no row). Under software emulation
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
    'namespaces: `execute` on the namespace backend (a sandbox prepared ahead). microvm warm: the pool has a booted VM waiting (the timer starts once it has), the execution alone. microvm cold: a new cylo instance\'s first microvm execution (its initramfs build, a VM boot, the execution). VM boot: QEMU\'s start (in its jail) to the guest agent\'s hello, from the backend\'s own record. Snapshot restore: not implemented.',
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
    const fresh = ctx.makeCylo(vmOptions);
    cold.push(await timed(fresh, { language: 'python', code: CODE }));
    await fresh.close({ graceMs: 0 });
  }
  const vm = ctx.makeCylo(vmOptions);
  await vm.warm();
  const warm: number[] = [];
  const namespaces: number[] = [];
  await timed(ctx.cylo, { language: 'python', code: CODE }); // warm-up of the namespace backend
  for (let i = 0; i < reps; i++) {
    ctx.log(`microvm: warm ${i + 1}/${reps}`);
    await untilWarm(vm);
    warm.push(await timed(vm, { language: 'python', code: CODE }));
    namespaces.push(await timed(ctx.cylo, { language: 'python', code: CODE, isolation: 'namespaces' }));
  }
  const boots = vm.stats().microvm?.bootMs ?? [];
  const s: Record<string, Summary> = { namespaces: summarize(namespaces), warm: summarize(warm), cold: summarize(cold), boot: summarize(boots) };
  const table = {
    title: `Python hello world (${accel})`,
    columns: ['variant', 'median / p95 ms', 'runs'],
    rows: [
      ['namespaces (prepared sandbox)', fmtMedP95(s.namespaces as Summary), namespaces.length],
      ['microvm, warm VM from the pool', fmtMedP95(s.warm as Summary), warm.length],
      ['microvm, cold (new instance: initramfs + boot + run)', fmtMedP95(s.cold as Summary), cold.length],
      ['VM boot alone (jail + QEMU + kernel + agent hello)', fmtMedP95(s.boot as Summary), boots.length],
      ['snapshot restore', 'not implemented', 0],
    ],
  };
  return {
    ...base,
    notes: [...notes, `Warm microvm / namespaces: ${round((s.warm as Summary).median / (s.namespaces as Summary).median, 1)}x.`],
    tables: [table],
    data: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, roundSummary(v)])),
    elapsedMs: performance.now() - started,
  };
}
