// Firecracker as the microVM monitor (microvmMonitor "firecracker"), through the library. The
// refusals run everywhere (no VM boots: they are decided at set-up); the guest tests need a
// firecracker binary (PATH or CYLO_FIRECRACKER) and hardware KVM, and are skipped visibly where
// either is absent ("firecracker not on this host": this development machine has neither).
// Cost in CI here: the refusals, about a second; the guest tests skip.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { describe, test } from 'node:test';
import { createCylo } from '../../src/index.js';
import { CyloError } from '../../src/errors.js';
import { hardwareKvm } from '../../src/microvm/accelerator.js';
import { findFirecracker } from '../../src/microvm/firecracker.js';
import { microCylo, ourQemus, skip, UID_BASE } from '../support/microvm.js';
import { waitFor } from '../support/wait.js';

function firecrackerSkip(): string | undefined {
  if (skip !== undefined) return skip;
  try {
    findFirecracker();
  } catch {
    return 'firecracker not on this host (no binary on PATH or at CYLO_FIRECRACKER)';
  }
  if (hardwareKvm() === null) return 'firecracker needs hardware KVM (kvm_intel/kvm_amd), which this host does not have';
  return undefined;
}

describe('Firecracker refusals (no VM boots)', { skip }, () => {
  test('microvmMonitor "firecracker" without its binary is refused naming the layer and the fix, never run on QEMU', async () => {
    // Proves: no silent QEMU: the request fails with CYLO_E_SANDBOX_UNAVAILABLE (layer
    // firecracker) and no QEMU process was started for it. CYLO_FIRECRACKER points at nothing, so
    // this holds on a host that has Firecracker too.
    const saved = process.env.CYLO_FIRECRACKER;
    process.env.CYLO_FIRECRACKER = '/nonexistent/firecracker';
    const cylo = createCylo({ microvmMonitor: 'firecracker', microvmAllowTcg: true, isolation: 'microvm', uidBase: UID_BASE + 32, uidCount: 8, concurrency: 1 });
    try {
      await assert.rejects(cylo.execute({ language: 'python', code: 'print(1)' }), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_SANDBOX_UNAVAILABLE' && e.layer === 'firecracker' && /CYLO_FIRECRACKER/.test(e.message) && /microvmMonitor "qemu"/.test(e.message));
      assert.deepEqual(ourQemus(), [], 'a QEMU was started for a Firecracker request');
    } finally {
      await cylo.close({ graceMs: 0 });
      if (saved === undefined) delete process.env.CYLO_FIRECRACKER;
      else process.env.CYLO_FIRECRACKER = saved;
    }
  });

  test('Firecracker where the host has no hardware KVM is refused naming KVM, even with TCG allowed', { skip: hardwareKvm() === null ? undefined : 'this host has hardware KVM' }, async () => {
    // Proves: the accelerator rule holds for Firecracker: microvmAllowTcg is QEMU's only. The
    // binary is found (an existing file stands in for it; nothing is executed before the refusal).
    const saved = process.env.CYLO_FIRECRACKER;
    process.env.CYLO_FIRECRACKER = process.execPath;
    const cylo = createCylo({ microvmMonitor: 'firecracker', microvmAllowTcg: true, isolation: 'microvm', uidBase: UID_BASE + 40, uidCount: 8, concurrency: 1 });
    try {
      await assert.rejects(cylo.execute({ language: 'python', code: 'print(1)' }), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_SANDBOX_UNAVAILABLE' && e.layer === 'firecracker' && /KVM/.test(e.message));
      assert.deepEqual(ourQemus(), []);
    } finally {
      await cylo.close({ graceMs: 0 });
      if (saved === undefined) delete process.env.CYLO_FIRECRACKER;
      else process.env.CYLO_FIRECRACKER = saved;
    }
  });
});

describe('microVM backend under Firecracker (KVM)', { skip: firecrackerSkip() }, () => {
  test('hello world in Python behind a guest kernel, Firecracker jailed with its seccomp on', async () => {
    // Proves: the same guest and agent protocol run under Firecracker (vsock channel), on another
    // kernel; Firecracker runs as an unprivileged uid of the instance with seccomp filtering.
    const cylo = microCylo({ microvmMonitor: 'firecracker', microvmAllowTcg: false });
    try {
      const r = await cylo.execute({ language: 'python', code: 'import platform\nprint(platform.release())' });
      assert.equal(r.status, 'ok', JSON.stringify(r.run));
      assert.equal(r.backend, 'microvm');
      assert.notEqual(r.run?.stdout.trim(), release());
      // The pool's next VM is booting: its Firecracker, found as a descendant of this process.
      const monitors = await waitFor('the next VM\'s firecracker', () => (ourQemus('firecracker').length > 0 ? ourQemus('firecracker') : undefined), 60_000);
      for (const pid of monitors) {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        for (const uid of (/^Uid:\s+(.*)$/m.exec(status)?.[1] ?? '').split(/\s+/).map(Number)) assert.ok(uid >= UID_BASE && uid < UID_BASE + 16, `firecracker uid ${uid}`);
        assert.match(status, /^Seccomp:\s+2$/m, 'firecracker runs without its seccomp filter');
        assert.match(status, /^CapEff:\s+0+$/m);
      }
      const stats = cylo.stats().microvm?.starts;
      assert.equal(stats?.mode, 'cold', 'Firecracker VMs boot (no snapshots)');
    } finally {
      await cylo.close({ graceMs: 0 });
    }
  });
});
