// The guest's files: the kernel (scripts/guest/kernel.sh), the read-only runtime image
// (scripts/guest/runtime-image.sh) and the initramfs, which is built for this instance from its
// own helper and guest agent (so the guest always speaks this cylo's protocols) into a private
// directory, with scripts/guest/initramfs.sh. A missing piece is refused naming it and the fix.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CyloError } from '../errors.js';

/** Where the guest's kernel and runtime image live (CYLO_GUEST_DIR moves it, as for the scripts). */
export function guestDir(): string {
  return process.env.CYLO_GUEST_DIR ?? '/usr/local/lib/cylo/guest';
}

export interface GuestImage {
  kernel: string;
  /** The guest kernel's release (what `uname -r` says inside). */
  kernelRelease: string;
  runtimes: string;
  initramfs: string;
  /** Removes the private initramfs directory. */
  remove(): void;
}

/** Kernel modules the guest loads (with their dependencies): the virtio-mmio transport of the
 *  microvm machine, the serial port of the job channel, the runtime disk. */
const MODULES = ['virtio_mmio', 'virtio_console', 'virtio_blk'];

function unavailable(detail: string, fix: string): CyloError {
  return new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', `isolation "microvm" is unavailable: guest: ${detail}. Fix: ${fix}`, { layer: 'guest' });
}

/** Checks the guest's files and builds this instance's initramfs (about a second). Throws
 *  CYLO_E_SANDBOX_UNAVAILABLE (layer `guest`) naming what is missing. */
export function prepareGuestImage(helperPath: string): GuestImage {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  const dir = guestDir();
  const kernel = join(dir, 'kernel/vmlinuz');
  const runtimes = join(dir, 'runtimes.ext4');
  const agent = join(dirname(helperPath), 'cylo-guest-agent');
  if (!existsSync(kernel)) throw unavailable(`no guest kernel at ${kernel}`, 'run scripts/guest/kernel.sh as root (scripts/setup.sh does)');
  if (!existsSync(runtimes)) throw unavailable(`no runtime image at ${runtimes}`, 'run scripts/guest/runtime-image.sh as root (scripts/setup.sh does)');
  if (!existsSync(agent)) throw unavailable(`no guest agent at ${agent}`, 'run npm run build:native');
  const work = mkdtempSync(join(tmpdir(), 'cylo-guest-'));
  // Searchable, not listable: QEMU's jail uid opens the initramfs and its VM's socket by path.
  chmodSync(work, 0o711);
  try {
    const out = join(work, 'initramfs.gz');
    const args = [join(root, 'scripts/guest/initramfs.sh'), '--init', join(root, 'native/guest/init.sh'), '--out', out];
    for (const m of MODULES) args.push('--module', m);
    args.push('--add', `${agent}:/sbin/cylo-agent`, '--add', `${helperPath}:/.cylo/helper`, '--add', '/etc/ld.so.cache:/etc/ld.so.cache');
    // The guest's merged-/usr links: the loader (/lib64) and libraries resolve into the image.
    args.push('--symlink', 'usr/lib64:/lib64', '--symlink', '/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu');
    const r = spawnSync('bash', args, { encoding: 'utf8', env: { ...process.env, CYLO_GUEST_DIR: dir } });
    if (r.status !== 0) throw unavailable(`the initramfs could not be built: ${(r.stderr || r.error?.message || '').trim()}`, 'install busybox-static and cpio (scripts/setup.sh)');
    const kernelRelease = readFileSync(join(dir, 'kernel/version'), 'utf8').trim();
    chmodSync(out, 0o644);
    return { kernel, kernelRelease, runtimes, initramfs: out, remove: () => rmSync(work, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
}
