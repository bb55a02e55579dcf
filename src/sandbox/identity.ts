// Unprivileged host identities for sandboxes: every execution that runs at the same time gets
// its own uid/gid (never root, never a uid that owns anything on the host), so one execution
// cannot signal, ptrace or read the files of another, and RLIMIT_NPROC counts per execution.
import { CyloError } from '../errors.js';

export interface Identity {
  uid: number;
  gid: number;
  release(): void;
}

/** Default base of the uid range: far above real users (1000+) and subordinate ranges (100000+). */
export const DEFAULT_UID_BASE = 2_000_000_000;

export class IdentityPool {
  private readonly free: number[];
  private readonly inUse = new Set<number>();

  constructor(
    readonly base: number = DEFAULT_UID_BASE,
    readonly size: number = 4096,
  ) {
    // base and size are checked once with the other options (src/options.ts).
    this.free = Array.from({ length: size }, (_, i) => base + size - 1 - i);
  }

  acquire(): Identity {
    const id = this.free.pop();
    if (id === undefined) throw new CyloError('CYLO_E_QUEUE_FULL', 'identity: every sandbox uid is in use; lower the concurrency or raise uidCount');
    this.inUse.add(id);
    let released = false;
    return {
      uid: id,
      gid: id,
      release: () => {
        if (released) return;
        released = true;
        this.inUse.delete(id);
        // Reused last: a uid is handed out again as late as possible.
        this.free.unshift(id);
      },
    };
  }

  active(): number {
    return this.inUse.size;
  }

  owns(uid: number): boolean {
    return uid >= this.base && uid < this.base + this.size;
  }
}
