// The warm pool's snapshot restore with real guests: one template VM is booted and saved per
// instance, every pool VM is restored from that file, and each restore is reseeded before its
// program runs. Under software emulation here (TCG, allowed explicitly; named in the titles).
// Cost in CI: three template boots and saves, five restores, one cold boot (a minute or two on a
// loaded 2-core machine under TCG).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Cylo } from '../../src/index.js';
import { accel, foreignGuestDirs, guestDirs, microCylo, ourQemus, skip, vmDirs } from '../support/microvm.js';

/** Prints what must differ between two clones of one memory image: kernel randomness
 *  (getrandom, the kernel's UUID, the boot id: made on its first read, after the reseed, as long
 *  as nothing reads it in the template before the save), ASLR addresses of a fresh exec (a heap object, a ctypes
 *  buffer, the stack's randomised top), and the wall clock. */
const CLONE_PROBE = [
  'import os, ctypes, time',
  'print(os.urandom(16).hex())',
  'print(open("/proc/sys/kernel/random/uuid").read().strip())',
  'print(hex(id(object())), hex(ctypes.addressof(ctypes.c_int(1))))',
  'print([l.split()[0] for l in open("/proc/self/maps") if "[stack]" in l][0])',
  'print(int(time.time()))',
  'print(open("/proc/sys/kernel/random/boot_id").read().strip())',
].join('\n');

interface Probe {
  random: string;
  uuid: string;
  heap: string;
  stack: string;
  time: number;
  bootId: string;
}

async function probe(cylo: Cylo): Promise<Probe> {
  const r = await cylo.execute({ language: 'python', code: CLONE_PROBE });
  assert.equal(r.status, 'ok', JSON.stringify(r.run));
  const [random, uuid, heap, stack, time, bootId] = (r.run?.stdout ?? '').trim().split('\n');
  return { random: random ?? '', uuid: uuid ?? '', heap: heap ?? '', stack: stack ?? '', time: Number(time), bootId: bootId ?? '' };
}

/** A template snapshot's file name (src/microvm/template.ts). */
const TEMPLATE_FILE = /^template-\d+\.snapshot$/;

/** This process's guest work directories (one per instance: initramfs, template snapshot). */
const ourGuestDirs = (): string[] => guestDirs().filter((n) => !foreignGuestDirs.has(n));

describe(`microVM snapshot restore, ${accel}`, { skip }, () => {
  test(`restored VMs are reseeded: two restores of one snapshot differ in randomness, UUIDs, ASLR and clock (${accel})`, async () => {
    const cylo = microCylo();
    const before = Math.floor(Date.now() / 1000);
    try {
      const a = await probe(cylo);
      // The template's snapshot lives in this instance's work directory while it runs.
      const snapshotSeen = ourGuestDirs().some((d) => readdirSync(join(tmpdir(), d)).some((n) => TEMPLATE_FILE.test(n)));
      const b = await probe(cylo);
      const starts = cylo.stats().microvm?.starts;
      // Proves: both executions ran in VMs restored from the one template (not cold boots, which
      // would differ anyway). The host accepts a restored VM only after the agent's reseed reply.
      assert.equal(starts?.mode, 'restore', JSON.stringify(starts));
      assert.ok((starts?.restores ?? 0) >= 2, JSON.stringify(starts));
      assert.equal(starts?.coldBoots, 0, JSON.stringify(starts));
      // Proves: the reseed (RNDADDENTROPY + RNDRESEEDCRNG from host bytes) took effect. Without
      // it the two clones print the SAME urandom bytes, UUID and addresses (checked by hand with
      // the agent's reseed call removed: all three lines were identical across restores).
      assert.notEqual(a.random, b.random, 'two restored VMs gave the same os.urandom bytes');
      assert.notEqual(a.uuid, b.uuid, 'two restored VMs gave the same kernel UUID');
      // Proves (M2): a clone cannot recognise its siblings by boot id; fails if the template
      // reads /proc/sys/kernel/random/boot_id before its save (the id is fixed on first read).
      assert.match(a.bootId, /^[0-9a-f-]{36}$/);
      assert.notEqual(a.bootId, b.bootId, 'two restored VMs gave the same boot id');
      assert.notDeepEqual([a.heap, a.stack], [b.heap, b.stack], 'two restored VMs placed a fresh process at the same addresses');
      // Proves: the guest's clock was set at the restore, not frozen at the template's save
      // (one-sided: at least the time this test started, minus a second of rounding).
      assert.ok(a.time >= before - 1 && b.time >= before - 1, `guest clock ${a.time}/${b.time} is behind the host's ${before}`);
      assert.ok(snapshotSeen, 'no template-N.snapshot in the instance work directory');
    } finally {
      await cylo.close({ graceMs: 0 });
    }
    // Proves: after close, no QEMU, VM directory, snapshot file or initramfs copy is left.
    assert.deepEqual(ourQemus(), []);
    assert.deepEqual(vmDirs(), []);
    assert.deepEqual(ourGuestDirs(), []);
  });

  test(`microvmSnapshot false: every VM cold-boots, and stats say so; a killed instance's work directory is swept (${accel})`, async () => {
    // A work directory left by a cylo that was SIGKILLed (its owner process no longer exists),
    // with a stand-in for a large snapshot file in it.
    const dead = spawnSync('true').pid as number;
    const leftover = mkdtempSync(join(tmpdir(), 'cylo-guest-'));
    writeFileSync(join(leftover, 'owner.pid'), `${dead}\n`);
    writeFileSync(join(leftover, 'template.snapshot'), 'x');
    // Proves: the switch is honoured (no template, no restore) and a cold-booted VM still runs.
    const cylo = microCylo({ microvmSnapshot: false });
    try {
      const r = await cylo.execute({ language: 'python', code: 'print("cold")' });
      // Proves: setting up a new instance removed the dead instance's directory (snapshot and all).
      assert.ok(!existsSync(leftover), `the dead instance's ${leftover} was left`);
      assert.equal(r.status, 'ok', JSON.stringify(r.run));
      assert.equal(r.run?.stdout, 'cold\n');
      const starts = cylo.stats().microvm?.starts;
      assert.equal(starts?.restores, 0, JSON.stringify(starts));
      assert.ok((starts?.coldBoots ?? 0) >= 1, JSON.stringify(starts));
      assert.ok(!ourGuestDirs().some((d) => readdirSync(join(tmpdir(), d)).some((n) => TEMPLATE_FILE.test(n))), 'a snapshot was made with snapshots off');
    } finally {
      await cylo.close({ graceMs: 0 });
    }
  });

  test(`templates rotate: with microvmSnapshotRestores 1 each restore comes from a new template, the old file removed (${accel})`, async () => {
    // Proves: the shared-KASLR mitigation works with real VMs: the second execution's VM was
    // restored from a second template (a fresh boot: its own kernel layout), not the first
    // (fails without the rotation: templates stays 1), and the retired template's file was
    // removed while its restored VM's QEMU still ran from its own fd (one file at a time).
    const cylo = microCylo({ microvmSnapshotRestores: 1 });
    try {
      for (const word of ['first', 'second']) {
        const r = await cylo.execute({ language: 'python', code: `print("${word}")` });
        assert.equal(r.status, 'ok', JSON.stringify(r.run));
        assert.equal(r.run?.stdout, `${word}\n`);
      }
      const starts = cylo.stats().microvm?.starts;
      assert.equal(starts?.mode, 'restore', JSON.stringify(starts));
      assert.equal(starts?.coldBoots, 0, JSON.stringify(starts));
      assert.ok((starts?.templates ?? 0) >= 2 && (starts?.restores ?? 0) >= 2, JSON.stringify(starts));
      const files = ourGuestDirs().flatMap((d) => readdirSync(join(tmpdir(), d)).filter((n) => TEMPLATE_FILE.test(n)));
      assert.ok(files.length <= 1, `retired templates were kept: ${files.join(', ')}`);
    } finally {
      await cylo.close({ graceMs: 0 });
    }
  });
});
