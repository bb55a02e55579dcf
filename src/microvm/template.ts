// The template snapshots of an instance, rotated: every VM restored from one template shares the
// template's guest kernel layout (its KASLR offset, the keys the kernel drew at boot), which the
// per-restore reseed cannot change. So one template serves at most `maxRestores` restores; the
// restore after that makes a new template (a fresh boot: a new KASLR offset) and the old file is
// removed once no restore still opens it. A program that learns its guest kernel's addresses
// thus learns them for at most maxRestores - 1 other executions (docs/isolation.md "Randomness").
// A template that could not be made is final: VMs then cold-boot (each its own layout).
// A template is tied to the runtime image it booted with (imageIdentity): its RAM holds that
// image's page cache and inodes. When the image file is replaced (scripts/setup.sh rebuilds it
// with a rename), a restore would read the NEW file's blocks through the OLD cached inodes: files
// of other files' bytes (seen: "module 'ctypes' has no attribute 'addressof'" in a restored guest
// after a CI run's setup.sh rebuilt the image). So a template whose image is no longer the file at
// the path is retired and a new one is made from the new image.
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Snapshot } from './snapshot.js';

/** What identifies the runtime image's contents at `path` (device, inode, size, mtime in ns),
 *  or "missing"; a rebuilt image (a new file renamed over it, or written in place) differs. */
export function imageIdentity(path: string): string {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`;
  } catch {
    return 'missing';
  }
}

/** A template that is never reused: its image changed while it was being made. */
const STALE = 'stale';

/** Templates made in a row for one restore whose image changed each time, before that restore
 *  cold-boots instead (an image being rebuilt over and over). */
const MAX_STALE = 2;

interface Generation {
  file: string;
  /** imageIdentity of the runtime image the template VM booted with. */
  image: string;
  snapshot: Promise<Snapshot | null>;
  /** Restores handed out from this template. */
  restores: number;
  /** Restores that may still open the file. */
  inFlight: number;
  retired: boolean;
}

/** One template for one restore; `release()` once that restore has opened the file (or failed). */
export interface TemplateLease {
  snapshot: Snapshot;
  /** The image identity the template was made with: a restored VM is used only when the image
   *  at the path still has it after its QEMU opened the file (the caller checks again). */
  image: string;
  release: () => void;
}

export class TemplateRotation {
  private current: Generation | undefined;
  private made = 0;

  /**
   * @param make boots a template VM and saves it to `file`; null when it could not (logged there).
   * @param dir the instance's private work directory (the files are `template-N.snapshot`).
   * @param maxRestores restores per template, >= 1.
   * @param image the runtime image's identity now (imageIdentity of its path).
   */
  constructor(
    private readonly make: (file: string) => Promise<Snapshot | null>,
    private readonly dir: string,
    private readonly maxRestores: number,
    private readonly image: () => string,
  ) {}

  /** Templates made so far (the first included). */
  get templates(): number {
    return this.made;
  }

  /** A template for one restore, made with the runtime image at the path now; null when none
   *  could be made (then VMs cold-boot). */
  async acquire(stale = 0): Promise<TemplateLease | null> {
    let gen = this.current;
    if (gen !== undefined && gen.image !== this.image()) gen.restores = Math.max(gen.restores, this.maxRestores); // the image changed: retired below
    if (gen === undefined || gen.restores >= this.maxRestores) {
      if (gen !== undefined && (await gen.snapshot) === null) return null; // a failed template is final
      if (this.current === gen) gen = this.rotate(gen);
      else gen = this.current as Generation; // another restore rotated meanwhile
      if (gen.restores >= this.maxRestores) return this.acquire(stale);
    }
    gen.restores += 1;
    gen.inFlight += 1;
    const snapshot = await gen.snapshot;
    if (snapshot === null || gen.image !== this.image()) {
      gen.inFlight -= 1;
      if (snapshot === null) return null;
      // Made from an image that is no longer the one at the path: never restored from.
      gen.restores = Math.max(gen.restores, this.maxRestores);
      this.removeIfDone(gen);
      return stale + 1 >= MAX_STALE ? null : this.acquire(stale + 1);
    }
    let released = false;
    return {
      snapshot,
      image: gen.image,
      release: () => {
        if (released) return;
        released = true;
        gen.inFlight -= 1;
        this.removeIfDone(gen);
      },
    };
  }

  private rotate(old: Generation | undefined): Generation {
    if (old !== undefined) {
      old.retired = true;
      this.removeIfDone(old);
    }
    this.made += 1;
    const file = join(this.dir, `template-${this.made}.snapshot`);
    // The identity before the template VM opens the image, checked again once it is saved: an
    // image replaced meanwhile may be either, so that template is never used.
    const image = this.image();
    const gen: Generation = { file, image, snapshot: Promise.resolve(null), restores: 0, inFlight: 0, retired: false };
    gen.snapshot = this.make(file).then((made) => {
      if (made !== null && this.image() !== image) gen.image = STALE;
      return made;
    });
    this.current = gen;
    return gen;
  }

  private removeIfDone(gen: Generation): void {
    if (gen.retired && gen.inFlight === 0) rmSync(gen.file, { force: true });
  }
}
