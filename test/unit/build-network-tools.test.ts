// The tools a build with network runs (slirp4netns as the stack, nft as root in the build's
// namespace): refused unless they and every directory above them are root's and writable by root
// only (review finding N6). Real files in a scratch directory under /usr/local/lib, removed after.
// CI cost: well under a second (skipped, saying why, when not root).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_NFT, nftPath, slirp4netnsPath } from '../../src/sandbox/build-network.js';

const skip = process.getuid?.() !== 0 ? 'needs root (files owned by root and by another uid under /usr)' : false;
const scratch = skip === false ? mkdtempSync('/usr/local/lib/cylo-tooltest-') : '';

after(() => {
  if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
});

/** A copy of a real executable at `dir/name`, mode 0755. */
function tool(dir: string, name: string): string {
  const path = join(dir, name);
  copyFileSync('/bin/true', path);
  chmodSync(path, 0o755);
  return path;
}

test('a tool root owns, under directories only root can write: accepted', { skip }, () => {
  chmodSync(scratch, 0o755);
  const path = tool(scratch, 'nft-ok');
  // proves: the check accepts what a Debian package installs (and so the default path)
  assert.equal(nftPath({ CYLO_NFT: path }), path);
  assert.equal(slirp4netnsPath({ CYLO_SLIRP4NETNS: path }), path);
});

test('a group-writable directory above the tool, or a tool another uid owns: refused naming the path and the fix', { skip }, () => {
  const shared = mkdtempSync(join(scratch, 'staff-'));
  chmodSync(shared, 0o2775); // Debian's /usr/local on some hosts: root:staff 2775
  const inShared = tool(shared, 'nft');
  // proves: whoever can write a directory above nft could replace it, and the helper runs it as
  // root: refused (without the walk it was accepted, being under /usr)
  assert.throws(() => nftPath({ CYLO_NFT: inShared }), (e: Error & { code?: string }) => e.code === 'CYLO_E_SANDBOX_UNAVAILABLE' && e.message.includes(`${shared} is writable by its group or others`) && /apt-get install nftables|install Debian's nftables/.test(e.message));
  const owned = tool(scratch, 'nft-owned');
  chownSync(owned, 65534, 65534);
  // proves: a tool owned by another uid (it could rewrite it) is refused too
  assert.throws(() => slirp4netnsPath({ CYLO_SLIRP4NETNS: owned }), (e: Error & { code?: string }) => e.code === 'CYLO_E_SANDBOX_UNAVAILABLE' && e.message.includes('owned by uid 65534'));
});

test('the default nft path passes the check on this host when nftables is installed', { skip }, () => {
  let path: string;
  try {
    path = nftPath({});
  } catch (error) {
    // proves nothing here: nft absent (scripts/setup.sh installs it); the message must say so
    assert.match((error as Error).message, /apt-get install nftables/);
    return;
  }
  assert.equal(path, DEFAULT_NFT);
});
