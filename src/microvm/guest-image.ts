// The guest's files: the kernel (scripts/guest/kernel.sh), the read-only runtime image
// (scripts/guest/runtime-image.sh) and the initramfs, which is built for this instance from its
// own helper and guest agent (so the guest always speaks this cylo's protocols) into a private
// directory, with scripts/guest/initramfs.sh. A missing piece is refused naming it and the fix.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CyloError } from '../errors.js';
import { BUILTIN_RUNTIMES } from '../runtimes/builtin.js';
import { nodePackage } from '../runtimes/registry.js';
import { alive } from '../sandbox/orphans.js';

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
  /** A read-only ext4 image of the runtimes' npm packages (TypeScript's compiler), mounted at
   *  {nodeModules} in the guest; null when no runtime declares one. */
  nodePackages: string | null;
  /** Removes the private initramfs directory. */
  remove(): void;
}

/** Kernel modules the guest loads (with their dependencies): the virtio-mmio transport of the
 *  microvm machine, the serial port of the job channel, the runtime disk; virtio-vsock (the job
 *  channel under Firecracker), loaded by /init only there. */
const MODULES = ['virtio_mmio', 'virtio_console', 'virtio_blk', 'vmw_vsock_virtio_transport'];

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
  sweepDeadWorkDirs();
  const work = mkdtempSync(join(tmpdir(), 'cylo-guest-'));
  // Whose directory this is: a later instance removes it once this process is gone (SIGKILL).
  writeFileSync(join(work, 'owner.pid'), `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
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
    const nodePackages = buildNodePackagesImage(work);
    return { kernel, kernelRelease, runtimes, initramfs: out, nodePackages, remove: () => rmSync(work, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
}

/**
 * The npm packages the built-in runtimes declare (`nodePackages`: TypeScript's compiler and its
 * types), copied from this cylo's own installation into a read-only ext4 image in `work` (about
 * 30 MB, a second or two of mkfs): built per instance, like the initramfs, so the guest always
 * has the versions the host's registry probed. Null when no runtime declares one.
 * @throws CyloError CYLO_E_SANDBOX_UNAVAILABLE (layer `guest`) when mkfs.ext4 fails.
 */
function buildNodePackagesImage(work: string): string | null {
  const names = [...new Set(BUILTIN_RUNTIMES.flatMap((r) => r.nodePackages ?? []))];
  if (names.length === 0) return null;
  const stage = join(work, 'node-packages');
  mkdirSync(stage, { recursive: true });
  let bytes = 0;
  for (const name of names) {
    const { dir } = nodePackage(name);
    cpSync(dir, join(stage, name), { recursive: true, dereference: true });
    const du = spawnSync('du', ['-sk', dir], { encoding: 'utf8' });
    bytes += Number(du.stdout.split('\t')[0] ?? 0) * 1024;
  }
  const out = join(work, 'node-packages.ext4');
  const kib = Math.ceil((bytes * 1.25) / 1024) + 8192;
  // No journal (never written), root-owned files, the packages at the image's root.
  const r = spawnSync('mkfs.ext4', ['-q', '-F', '-O', '^has_journal', '-L', 'cylo-node', '-E', 'root_owner=0:0', '-d', stage, out, `${kib}k`], { encoding: 'utf8' });
  rmSync(stage, { recursive: true, force: true });
  if (r.status !== 0) throw unavailable(`the npm packages image could not be built: ${(r.stderr || r.error?.message || '').trim()}`, 'install e2fsprogs (scripts/setup.sh)');
  chmodSync(out, 0o644);
  return out;
}

/**
 * Removes work directories (initramfs, npm packages image, template snapshot, VM directories) of
 * cylo processes that died without cleaning up (SIGKILL): only directories of this user, not
 * links, with an `owner.pid` naming a process that no longer exists. A directory without that file
 * (another version of cylo, or one being created) is left alone. QEMU's uids never own or write
 * anything in these directories (0711, the service's own), so nothing followed here is untrusted.
 */
function sweepDeadWorkDirs(): void {
  const me = process.getuid?.();
  for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith('cylo-guest-'))) {
    const dir = join(tmpdir(), name);
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory() || st.uid !== me) continue;
      const pid = Number(readFileSync(join(dir, 'owner.pid'), 'utf8').trim());
      if (!Number.isInteger(pid) || pid <= 0 || alive(pid)) continue;
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // gone meanwhile, or not one of ours
    }
  }
}
