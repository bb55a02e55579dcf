// The sandbox uid range of one cylo instance, claimed when its host is set up and released by
// close() (or by the kernel when the process dies): automatically the first free range above
// the default base when the operator pinned none, else exactly the operator's range, refused
// when another live process holds it or a range overlapping it. Locks: range-lock.ts.
//
// Within one process, instances given the same explicit range share one IdentityPool (so two
// concurrent executions still never get the same uid); overlapping but different ranges are
// refused like another process's.
import { CyloError } from '../errors.js';
import { DEFAULT_UID_BASE, IdentityPool } from './identity.js';
import { ensureLockDir, lockRange, rangeOwner, releaseRange, type Range } from './range-lock.js';

export interface UidRange extends Range {
  /** Every uid of this instance's executions comes from here. */
  identities: IdentityPool;
  /** Drops this instance's claim (the lock goes with the last instance using it). */
  release(): void;
}

/** Automatic ranges are aligned to this many uids and looked for in AUTO_UIDS from the base. */
const ALIGN = 256;
export const AUTO_UIDS = 4096 * ALIGN;

/** Ranges this process holds: the lock, the shared pool, the instances using them. */
const held = new Map<string, { fd: number; pool: IdentityPool; refs: number }>();
const keyOf = (r: Range): string => `${r.base}-${r.count}`;

/** Whether this process holds exactly this range (orphans.ts: a cgroup named after a range we
 *  hold is ours or a dead previous holder's). */
export const holdsRange = (r: Range): boolean => held.has(keyOf(r));

/** Claims the instance's range. Throws CYLO_E_CONFIG when an explicit range is held by another
 *  live instance (naming the range and its owner), CYLO_E_SANDBOX_UNAVAILABLE when no range is
 *  free or the lock directory is unsafe. */
export function claimUidRange(count: number, explicitBase: number | undefined): UidRange {
  ensureLockDir();
  if (explicitBase !== undefined) {
    const r = { base: explicitBase, count };
    const claim = tryClaim(r, true);
    if ('busy' in claim) {
      const b = claim.busy;
      throw new CyloError('CYLO_E_CONFIG', `uidBase: the uid range ${r.base}..${r.base + r.count - 1} is held by another live cylo instance (range ${b.base}..${b.base + b.count - 1}, ${rangeOwner(b)}); give each instance its own range, or leave uidBase/CYLO_UID_BASE unset to get a free one`, { field: 'uidBase' });
    }
    return claim;
  }
  const step = Math.ceil(count / ALIGN) * ALIGN;
  for (let base = DEFAULT_UID_BASE; base + count <= DEFAULT_UID_BASE + AUTO_UIDS; base += step) {
    const claim = tryClaim({ base, count }, false);
    if (!('busy' in claim)) return claim;
  }
  throw new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', `sandbox unavailable: uid range: no free range of ${count} uids in ${DEFAULT_UID_BASE}..${DEFAULT_UID_BASE + AUTO_UIDS - 1}; too many cylo instances run on this host. Fix: stop some, or pin a range with uidBase/CYLO_UID_BASE`, { layer: 'uid-range' });
}

/** Locks the range (or joins this process's hold of it, for an explicit one). */
function tryClaim(r: Range, share: boolean): UidRange | { busy: Range } {
  const key = keyOf(r);
  let entry = held.get(key);
  if (entry !== undefined && !share) return { busy: r };
  if (entry === undefined) {
    const lock = lockRange(r);
    if ('busy' in lock) return lock;
    entry = { fd: lock.fd, pool: new IdentityPool(r.base, r.count), refs: 0 };
    held.set(key, entry);
  }
  entry.refs += 1;
  const e = entry;
  let released = false;
  return {
    ...r,
    identities: e.pool,
    release: () => {
      if (released) return;
      released = true;
      e.refs -= 1;
      if (e.refs === 0) {
        held.delete(key);
        releaseRange(r, e.fd);
      }
    },
  };
}
