// The rotation of the microVM template snapshots (src/microvm/template.ts), with real files in a
// temporary directory: a template serves at most maxRestores restores, then a new one is made
// (a new guest KASLR layout), and a retired template's file is removed once no restore holds it.
// No VM is booted here (the test's `make` writes the file a template save would); the VM side is
// covered by test/microvm/snapshot.test.ts. Cost: milliseconds.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Snapshot } from '../../src/microvm/snapshot.js';
import { TemplateRotation } from '../../src/microvm/template.js';

function setUp(fail = false): { dir: string; made: string[]; rotation: (max: number) => TemplateRotation } {
  const dir = mkdtempSync(join(tmpdir(), 'cylo-template-test-'));
  const made: string[] = [];
  const make = async (file: string): Promise<Snapshot | null> => {
    made.push(file);
    if (fail) return null;
    writeFileSync(file, `template ${made.length}`);
    return { file, seedHex: String(made.length) };
  };
  return { dir, made, rotation: (max) => new TemplateRotation(make, dir, max) };
}

test('a template serves maxRestores restores, then a new one is made and the old file removed', async () => {
  // Proves: the KASLR mitigation rotates (fails if acquire() never makes a second template: then
  // every clone, forever, shares the first template's kernel layout), and retired files go.
  const { dir, made, rotation } = setUp();
  try {
    const r = rotation(2);
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) {
      const lease = await r.acquire();
      assert.ok(lease !== null);
      seen.push(lease.snapshot.file);
      lease.release();
    }
    assert.deepEqual(seen.map((f) => f.slice(dir.length + 1)), ['template-1.snapshot', 'template-1.snapshot', 'template-2.snapshot', 'template-2.snapshot', 'template-3.snapshot']);
    assert.equal(r.templates, 3);
    assert.equal(made.length, 3);
    assert.deepEqual(readdirSync(dir), ['template-3.snapshot'], 'only the current template is kept');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a retired template stays while a restore still holds it; concurrent restores share one new template', async () => {
  // Proves: a restore that has not opened its file yet never finds it removed under it, and
  // restores that ask at once do not each make a template.
  const { dir, made, rotation } = setUp();
  try {
    const r = rotation(1);
    const first = await r.acquire();
    assert.ok(first !== null);
    const [a, b] = await Promise.all([r.acquire(), r.acquire()]);
    assert.ok(a !== null && b !== null);
    assert.ok(existsSync(first.snapshot.file), 'the retired template was removed while a restore held it');
    first.release();
    assert.equal(existsSync(first.snapshot.file), false, 'the retired template was kept after its last restore');
    assert.notEqual(a.snapshot.file, b.snapshot.file, 'two restores of a 1-restore template shared it');
    assert.equal(made.length, 3);
    a.release();
    b.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a template that could not be made is final: VMs cold-boot, no new attempt per restore', async () => {
  // Proves: a failing template save is not retried on every VM start (each try costs a boot).
  const { dir, made, rotation } = setUp(true);
  try {
    const r = rotation(1);
    for (let i = 0; i < 4; i++) assert.equal(await r.acquire(), null);
    assert.equal(made.length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
