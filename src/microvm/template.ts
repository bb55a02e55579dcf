// The template snapshots of an instance, rotated: every VM restored from one template shares the
// template's guest kernel layout (its KASLR offset, the keys the kernel drew at boot), which the
// per-restore reseed cannot change. So one template serves at most `maxRestores` restores; the
// restore after that makes a new template (a fresh boot: a new KASLR offset) and the old file is
// removed once no restore still opens it. A program that learns its guest kernel's addresses
// thus learns them for at most maxRestores - 1 other executions (docs/isolation.md "Randomness").
// A template that could not be made is final: VMs then cold-boot (each its own layout).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Snapshot } from './snapshot.js';

interface Generation {
  file: string;
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
  release: () => void;
}

export class TemplateRotation {
  private current: Generation | undefined;
  private made = 0;

  /**
   * @param make boots a template VM and saves it to `file`; null when it could not (logged there).
   * @param dir the instance's private work directory (the files are `template-N.snapshot`).
   * @param maxRestores restores per template, >= 1.
   */
  constructor(
    private readonly make: (file: string) => Promise<Snapshot | null>,
    private readonly dir: string,
    private readonly maxRestores: number,
  ) {}

  /** Templates made so far (the first included). */
  get templates(): number {
    return this.made;
  }

  /** A template for one restore, or null when none could be made (then VMs cold-boot). */
  async acquire(): Promise<TemplateLease | null> {
    let gen = this.current;
    if (gen === undefined || gen.restores >= this.maxRestores) {
      if (gen !== undefined && (await gen.snapshot) === null) return null; // a failed template is final
      if (this.current === gen) gen = this.rotate(gen);
      else gen = this.current as Generation; // another restore rotated meanwhile
      if (gen.restores >= this.maxRestores) return this.acquire();
    }
    gen.restores += 1;
    gen.inFlight += 1;
    const snapshot = await gen.snapshot;
    if (snapshot === null) {
      gen.inFlight -= 1;
      return null;
    }
    let released = false;
    return {
      snapshot,
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
    const gen: Generation = { file, snapshot: this.make(file), restores: 0, inFlight: 0, retired: false };
    this.current = gen;
    return gen;
  }

  private removeIfDone(gen: Generation): void {
    if (gen.retired && gen.inFlight === 0) rmSync(gen.file, { force: true });
  }
}
