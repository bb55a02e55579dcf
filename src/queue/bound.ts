// The queue's bound (`queueLimit`: jobs that may wait in Redis) without a Redis round trip on
// most requests' path. The API node keeps an estimate of the waiting jobs: the depth last read
// from Redis (refreshed every REFRESH_MS in the background) plus every job this node accepted
// whose add had not ended when that read was sent. Far from the bound (estimate under half of
// it) a request is accepted on the estimate alone; near it, the depth is read from Redis on the
// path and compared with the bound, exactly as before for every request (the exact check).
// Measured: that read was a round trip of about 0.4 ms in a hop of about 2.5 ms on loopback.
//
// What it guarantees: with one API node the estimate is never below the real depth (jobs join
// the queue only through this node; a job whose add ended before a read was sent is in that
// read, one still being added may or may not be and is counted on top), so a request accepted
// on the estimate alone would have passed the exact check too: the bound holds as it did with a
// read per request (requests arriving at the same moment near the bound can each read the same
// depth and pass together, as before). With several API nodes, each misses the others' jobs of
// the last REFRESH_MS: the bound can then be exceeded when the other nodes add more than half
// of it within one REFRESH_MS. A stale estimate (no successful read for STALE_MS: Redis down) is
// never used: the exact check runs and fails with CYLO_E_QUEUE_UNAVAILABLE as before.
import { CyloError } from '../errors.js';

/** How often the depth is read in the background (ms). */
export const REFRESH_MS = 250;
/** An estimate older than this is not used (ms). */
export const STALE_MS = 1000;

export class QueueBound {
  /** Waiting jobs as last read, and how many of this node's adds had ended when it was sent. */
  private read: { depth: number; addedBefore: number; at: number; seq: number } | undefined;
  /** Jobs this node accepted (admit) and whose add ended (added), since it started. */
  private accepted = 0;
  private addedCount = 0;
  private seq = 0;
  private readonly timer: NodeJS.Timeout;

  /** `readDepth`: the waiting jobs in Redis (throws when Redis cannot be reached); `limit`: the
   *  bound; `onDepth`: told each depth read (for Retry-After). */
  constructor(
    private readonly readDepth: () => Promise<number>,
    private readonly limit: number,
    private readonly onDepth: (waiting: number) => void = () => {},
  ) {
    this.timer = setInterval(() => void this.refresh().catch(() => {}), REFRESH_MS);
    this.timer.unref();
  }

  /** Accepts one more job (call added() once its add ended, added or not) or throws CYLO_E_QUEUE_FULL (and whatever the depth read throws when
   *  the exact check is needed and Redis cannot be reached). */
  async admit(): Promise<void> {
    const estimate = this.estimate();
    if (estimate === undefined || estimate >= this.limit / 2) {
      const waiting = await this.refresh();
      if (waiting >= this.limit) {
        throw new CyloError('CYLO_E_QUEUE_FULL', `the queue holds ${waiting} waiting executions (queueLimit ${this.limit}); retry later or add workers`);
      }
    }
    this.accepted++;
  }

  /** The waiting jobs as this node sees them (an upper bound with one API node), or undefined
   *  when no fresh read is known. */
  estimate(): number | undefined {
    const r = this.read;
    if (r === undefined || Date.now() - r.at > STALE_MS) return undefined;
    return r.depth + this.accepted - r.addedBefore;
  }

  /** The add of an admitted job ended (successfully or not). */
  added(): void {
    this.addedCount++;
  }

  /** Reads the depth now; a reply older than the one kept (two reads crossing) is not kept. */
  private async refresh(): Promise<number> {
    const seq = ++this.seq;
    const addedBefore = this.addedCount;
    const depth = await this.readDepth();
    if (this.read === undefined || seq > this.read.seq) this.read = { depth, addedBefore, at: Date.now(), seq };
    this.onDepth(depth);
    return depth;
  }

  /** Stops the background reads. */
  close(): void {
    clearInterval(this.timer);
  }
}
