// What `cylo doctor` says about the microVM backend, without booting a VM (a boot under software
// emulation takes seconds): the isolations offered, the accelerator (and why), QEMU, the guest
// kernel, the runtime image and the pool size. `ok` is false only when microvm is the default
// isolation (or the only one) and cannot run; merely offered, a request for it is refused instead.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NormalizedOptions } from '../options.js';
import { chooseAccelerator, hardwareKvm } from './accelerator.js';
import { guestDir } from './guest-image.js';
import { findQemu, qemuVersion } from './setup.js';
import { findFirecracker, requireKvmForFirecracker } from './firecracker.js';

export interface MicrovmReport {
  /** The isolation of requests that name none, and those requests may ask for. */
  isolation: string;
  isolations: string[];
  ok: boolean;
  accelerator: { ok: boolean; detail: string };
  qemu: { ok: boolean; detail: string };
  kernel: { ok: boolean; detail: string };
  runtimes: { ok: boolean; detail: string };
  /** VMs kept booted ahead (the microvm pool), and each VM's RAM in MiB. */
  pool: { vms: number; memoryMiB: number };
  /** How pool VMs start: restored from a template snapshot (microvmSnapshot), or cold-booted. */
  snapshot: string;
  /** The virtual machine monitor (microvmMonitor); `qemu` above is its line. */
  monitor: 'qemu' | 'firecracker';
}

function check(fn: () => string): { ok: boolean; detail: string } {
  try {
    return { ok: true, detail: fn() };
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  }
}

export function microvmReport(options: NormalizedOptions): MicrovmReport {
  const dir = guestDir();
  const firecracker = options.microvm.monitor === 'firecracker';
  const accelerator = check(() => {
    if (firecracker) requireKvmForFirecracker(hardwareKvm() === null ? 'tcg' : 'kvm');
    const accel = chooseAccelerator(options.microvm.allowTcg);
    return accel === 'kvm' ? `KVM (${hardwareKvm() ?? ''})` : 'software emulation (TCG), allowed by microvmAllowTcg: a separate guest kernel, but each VM boots in seconds and runs several times slower than on KVM';
  });
  // The monitor's line (named qemu for the CLI's table): QEMU's version, or Firecracker's binary.
  const qemu = check(() => (firecracker ? `firecracker ${findFirecracker()} (microvmMonitor "firecracker"; QEMU is not used)` : qemuVersion(findQemu())));
  const kernel = check(() => {
    const version = join(dir, 'kernel/version');
    if (!existsSync(join(dir, 'kernel/vmlinuz')) || !existsSync(version)) throw new Error(`no guest kernel in ${dir}/kernel; fix: scripts/guest/kernel.sh (as root)`);
    return `${readFileSync(version, 'utf8').trim()} (${dir}/kernel/vmlinuz)`;
  });
  const runtimes = check(() => {
    const image = join(dir, 'runtimes.ext4');
    if (!existsSync(image)) throw new Error(`no runtime image ${image}; fix: scripts/guest/runtime-image.sh (as root)`);
    const packages = existsSync(join(dir, 'runtimes.packages')) ? readFileSync(join(dir, 'runtimes.packages'), 'utf8').trim().split('\n').length : 0;
    return `${image} (${packages} packages)`;
  });
  return {
    isolation: options.isolation,
    isolations: [...options.isolations],
    ok: options.isolation !== 'microvm' || (accelerator.ok && qemu.ok && kernel.ok && runtimes.ok),
    accelerator,
    qemu,
    kernel,
    runtimes,
    pool: { vms: options.microvm.pool, memoryMiB: options.microvm.memoryMiB },
    monitor: options.microvm.monitor,
    snapshot: firecracker
      ? 'off under Firecracker (snapshots need its API socket, which cylo does not open): every VM boots'
      : options.microvm.snapshot
      ? `restore from a template snapshot (one VM booted and saved, a new one every ${options.microvm.snapshotRestores} restores; each restore reseeded); cold boots instead if the snapshot cannot be made (logged, and in stats().microvm.starts)`
      : 'off (microvmSnapshot false): every VM cold-boots',
  };
}
