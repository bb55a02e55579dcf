// The sandbox uid range of one cylo instance, claimed when its host is set up and released by
// close() (or by the kernel when the process dies): automatically the first free run of blocks
// above the default base when the operator pinned none, else exactly the operator's range,
// refused when another live process holds any block of it. Locks: range-lock.ts.
//
// Within one process, instances given the same explicit range share one IdentityPool (so two
// concurrent executions still never get the same uid); overlapping but different explicit
// ranges, or an explicit range over an automatic one, are refused.
import { closeSync } from 'node:fs';
import { CyloError } from '../errors.js';
import { DEFAULT_UID_BASE, IdentityPool } from './identity.js';
import { blockOf, blockOwner, ensureLockDir, lockBlock, UID_BLOCK } from './range-lock.js';

export interface UidRange {
  base: number;
  count: number;
  /** Every uid of this instance's executions comes from here. */
  identities: IdentityPool;
  /** Drops this instance's claim (the locks go with the last instance using them). */
  release(): void;
}

/** How far automatic claims look: 4096 blocks of 256 uids above the default base. */
const AUTO_BLOCKS = 4096;
/** Every uid an automatic claim may use, from DEFAULT_UID_BASE. */
export const AUTO_UIDS = AUTO_BLOCKS * UID_BLOCK;

interface Held {
  fd: number;
  refs: number;
}
/** Blocks this process holds, and the explicit ranges its instances share. */
const heldBlocks = new Map<number, Held>();
const explicit = new Map<string, { base: number; count: number; pool: IdentityPool; refs: number }>();

/** The blocks [base, base + count) touches. */
function blocksOf(base: number, count: number): number[] {
  const out: number[] = [];
  for (let b = blockOf(base); b < base + count; b += UID_BLOCK) out.push(b);
  return out;
}

/** Locks every block or none: the blocks locked, or the first one held elsewhere. */
function lockAll(blocks: number[]): { ok: true } | { ok: false; busy: number } {
  const taken: number[] = [];
  for (const b of blocks) {
    const mine = heldBlocks.get(b);
    if (mine !== undefined) {
      mine.refs += 1;
      taken.push(b);
      continue;
    }
    const fd = lockBlock(b);
    if (fd === undefined) {
      unlockAll(taken);
      return { ok: false, busy: b };
    }
    heldBlocks.set(b, { fd, refs: 1 });
    taken.push(b);
  }
  return { ok: true };
}

function unlockAll(blocks: number[]): void {
  for (const b of blocks) {
    const h = heldBlocks.get(b);
    if (h === undefined) continue;
    h.refs -= 1;
    if (h.refs === 0) {
      heldBlocks.delete(b);
      closeSync(h.fd);
    }
  }
}

/** Whether this process holds the block (for orphans.ts: a cgroup named after a block we hold
 *  is ours or a dead previous holder's). */
export const holdsBlock = (block: number): boolean => heldBlocks.has(block);

/** Claims the instance's range. Throws CYLO_E_CONFIG when an explicit range is held by another
 *  live instance (naming the range and its owner), CYLO_E_SANDBOX_UNAVAILABLE when no range is
 *  free or the lock directory is unsafe. */
export function claimUidRange(count: number, explicitBase: number | undefined): UidRange {
  ensureLockDir();
  return explicitBase === undefined ? claimAuto(count) : claimExplicit(explicitBase, count);
}

function claimAuto(count: number): UidRange {
  const blocks = Math.ceil(count / UID_BLOCK);
  for (let i = 0; i + blocks <= AUTO_BLOCKS; i += blocks) {
    const base = DEFAULT_UID_BASE + i * UID_BLOCK;
    const run = blocksOf(base, blocks * UID_BLOCK);
    // A block another instance of this process holds is not ours to share.
    if (run.some((b) => heldBlocks.has(b))) continue;
    if (!lockAll(run).ok) continue;
    let released = false;
    return { base, count, identities: new IdentityPool(base, count), release: () => { if (!released) unlockAll(run); released = true; } };
  }
  throw new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', `sandbox unavailable: uid range: no ${blocks} free block(s) of ${UID_BLOCK} uids from ${DEFAULT_UID_BASE}; too many cylo instances run on this host. Fix: stop some, or pin a range with uidBase/CYLO_UID_BASE`, { layer: 'uid-range' });
}

function claimExplicit(base: number, count: number): UidRange {
  const key = `${base}:${count}`;
  const same = explicit.get(key);
  const end = base + count;
  const overlaps = [...explicit.values()].some((r) => r !== same && r.base < end && base < r.base + r.count);
  const range = `${base}..${end - 1}`;
  if (overlaps) throw new CyloError('CYLO_E_CONFIG', `uidBase: the range ${range} overlaps another range of this process's cylo instances; give each its own range or the same one`, { field: 'uidBase' });
  const run = blocksOf(base, count);
  if (same === undefined && run.some((b) => heldBlocks.has(b) && ![...explicit.values()].some((r) => blocksOf(r.base, r.count).includes(b)))) {
    throw new CyloError('CYLO_E_CONFIG', `uidBase: the range ${range} overlaps the automatic range of another cylo instance in this process; pick another range`, { field: 'uidBase' });
  }
  const locked = lockAll(run);
  if (!locked.ok) {
    throw new CyloError('CYLO_E_CONFIG', `uidBase: the uid range ${range} (block ${locked.busy}) is held by another live cylo instance (${blockOwner(locked.busy)}); give each instance its own range, or leave uidBase/CYLO_UID_BASE unset to get a free one`, { field: 'uidBase' });
  }
  const shared = same ?? { base, count, pool: new IdentityPool(base, count), refs: 0 };
  shared.refs += 1;
  explicit.set(key, shared);
  let released = false;
  return {
    base,
    count,
    identities: shared.pool,
    release: () => {
      if (released) return;
      released = true;
      unlockAll(run);
      shared.refs -= 1;
      if (shared.refs === 0) explicit.delete(key);
    },
  };
}
