// The rotation of the microVM template snapshots (src/microvm/template.ts), with real files in a
// temporary directory: a template serves at most maxRestores restores, then a new one is made
// (a new guest KASLR layout), and a retired template's file is removed once no restore holds it.
// No VM is booted here (the test's `make` writes the file a template save would); the VM side is
// covered by test/microvm/snapshot.test.ts. A template is tied to the runtime image it was made
// with: a stand-in image file is replaced here as scripts/guest/runtime-image.sh does (a new file
// renamed over it). Cost: milliseconds.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Snapshot } from '../../src/microvm/snapshot.js';
import { imageIdentity, TemplateRotation } from '../../src/microvm/template.js';

interface SetUp {
  dir: string;
  made: string[];
  rotation: (max: number) => TemplateRotation;
  /** Replaces the stand-in runtime image as runtime-image.sh does: a new file renamed over it. */
  rebuildImage: () => void;
}

/** `duringMake`: run inside the template's making (after the template VM would have opened the image). */
function setUp(fail = false, duringMake?: (made: number) => void): SetUp {
  const dir = mkdtempSync(join(tmpdir(), 'cylo-template-test-'));
  // The image lives outside the templates' directory (as /usr/local/lib/cylo/guest does).
  const image = join(dir, 'runtimes.ext4');
  writeFileSync(image, 'image 0');
  let builds = 0;
  const rebuildImage = (): void => {
    builds += 1;
    writeFileSync(`${image}.tmp`, `image ${builds}`);
    renameSync(`${image}.tmp`, image);
  };
  const made: string[] = [];
  const make = async (file: string): Promise<Snapshot | null> => {
    made.push(file);
    if (fail) return null;
    duringMake?.(made.length);
    writeFileSync(file, `template ${made.length}`);
    return { file, seedHex: String(made.length) };
  };
  return { dir, made, rebuildImage, rotation: (max) => new TemplateRotation(make, dir, max, () => imageIdentity(image)) };
}

const templates = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith('template-'));

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
    assert.deepEqual(templates(dir), ['template-3.snapshot'], 'only the current template is kept');
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

test('a rebuilt runtime image retires the template: the next restore comes from a new template made with it', async () => {
  // Proves the cause of the snapshot test's "module 'ctypes' has no attribute 'addressof'" is
  // closed: a template's RAM caches the image it booted with, so once the file at the path is
  // another image no restore uses that template (fails without the identity check: the third
  // lease is template-1 again, whose guest would read the new image through the old inodes).
  const { dir, made, rotation, rebuildImage } = setUp();
  try {
    const r = rotation(32);
    const first = await r.acquire();
    const second = await r.acquire();
    assert.ok(first !== null && second !== null);
    assert.equal(second.snapshot.file, first.snapshot.file);
    first.release();
    rebuildImage();
    const third = await r.acquire();
    assert.ok(third !== null);
    assert.equal(third.snapshot.file.slice(dir.length + 1), 'template-2.snapshot');
    assert.equal(third.image, imageIdentity(join(dir, 'runtimes.ext4')));
    assert.notEqual(third.image, first.image);
    // The old template stays until its last restore (second) let go of it, then goes.
    assert.ok(existsSync(first.snapshot.file));
    second.release();
    assert.equal(existsSync(first.snapshot.file), false, 'the stale template was kept');
    third.release();
    assert.equal(made.length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an image rebuilt while its template is being made: that template is never restored from', async () => {
  // Proves: the template VM may have opened either image, so the template is discarded and a
  // new one made (fails without the check after the save: the lease is template-1). An image
  // rebuilt during every making ends in a cold boot (null), not in endless template boots.
  const { dir, made, rotation, rebuildImage } = setUp(false, (n) => {
    if (n === 1) rebuildImage();
  });
  try {
    const lease = await rotation(32).acquire();
    assert.ok(lease !== null);
    assert.equal(lease.snapshot.file.slice(dir.length + 1), 'template-2.snapshot');
    assert.equal(made.length, 2);
    lease.release();
    assert.deepEqual(templates(dir), ['template-2.snapshot'], 'the discarded template file was kept');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const always = setUp(false, () => always.rebuildImage());
  try {
    assert.equal(await always.rotation(32).acquire(), null);
    assert.equal(always.made.length, 2);
  } finally {
    rmSync(always.dir, { recursive: true, force: true });
  }
});
