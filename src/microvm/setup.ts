// Building the microVM backend on first use of isolation "microvm": the accelerator (KVM, or
// TCG only when allowed), QEMU, the guest's files, and the host pieces shared with the namespace
// backend (the helper, bubblewrap, cgroups, this instance's uid range). Refuses with
// CYLO_E_SANDBOX_UNAVAILABLE naming what is missing and the fix; never falls back.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CyloError } from '../errors.js';
import type { CgroupDriver } from '../sandbox/cgroups.js';
import { filesystemLayout } from '../sandbox/filesystem.js';
import type { IdentityPool } from '../sandbox/identity.js';
import { chooseAccelerator, hardwareKvm } from './accelerator.js';
import { findFirecracker, requireKvmForFirecracker } from './firecracker.js';
import { extractVmlinux } from './vmlinux.js';
import { prepareGuestImage } from './guest-image.js';
import { MicrovmBackend } from './microvm-backend.js';

export interface MicrovmSettings {
  allowTcg: boolean;
  memoryMiB: number;
  bootTimeoutMs: number;
  /** Restore pool VMs from a template snapshot. */
  snapshot: boolean;
  /** Restores per template snapshot before a new one is made. */
  snapshotRestores: number;
  /** The virtual machine monitor. */
  monitor: 'qemu' | 'firecracker';
  /** Tests only: the first N VMs panic when a stage arrives. */
  testPanicVms: number;
}

export interface SharedHost {
  helperPath: string;
  bwrapPath: string;
  cgroups: CgroupDriver;
  identities: IdentityPool;
}

/** QEMU's x86-64 system emulator on PATH, or a refusal naming the package. */
export function findQemu(): string {
  for (const dir of (process.env.PATH ?? '/usr/bin').split(':')) {
    const p = `${dir}/qemu-system-x86_64`;
    if (dir !== '' && existsSync(p)) return p;
  }
  throw new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', 'isolation "microvm" is unavailable: qemu: qemu-system-x86_64 is not installed. Fix: apt-get install qemu-system-x86 (scripts/setup.sh does)', { layer: 'qemu' });
}

/** The QEMU version line ("QEMU emulator version 7.2.x"), for doctor. */
export function qemuVersion(qemuPath: string): string {
  try {
    return execFileSync(qemuPath, ['--version'], { encoding: 'utf8', timeout: 10_000 }).split('\n')[0]?.trim() ?? '';
  } catch (error) {
    return `unknown (${(error as Error).message})`;
  }
}

export function setUpMicrovm(settings: MicrovmSettings, shared: SharedHost, log: (level: 'info' | 'warn', message: string) => void): MicrovmBackend {
  // Firecracker: its binary, then hardware KVM (it has no software emulation); refused with the
  // fix otherwise, never replaced by QEMU.
  const firecrackerPath = settings.monitor === 'firecracker' ? findFirecracker() : undefined;
  if (firecrackerPath !== undefined) requireKvmForFirecracker(hardwareKvm() === null ? 'tcg' : 'kvm');
  const accelerator = chooseAccelerator(settings.allowTcg);
  const qemuPath = firecrackerPath === undefined ? findQemu() : ''; // QEMU is not used under Firecracker
  const image = prepareGuestImage(shared.helperPath);
  let firecracker: { path: string; vmlinux: string } | undefined;
  if (firecrackerPath !== undefined) {
    try {
      // The uncompressed kernel Firecracker boots, beside this instance's initramfs (0644: the
      // jail's uid reads it; removed with the work directory).
      const vmlinux = join(dirname(image.initramfs), 'vmlinux');
      writeFileSync(vmlinux, extractVmlinux(readFileSync(image.kernel)), { flag: 'wx', mode: 0o644 });
      firecracker = { path: firecrackerPath, vmlinux };
    } catch (error) {
      image.remove();
      throw error;
    }
  }
  return new MicrovmBackend({
    helperPath: shared.helperPath,
    bwrapPath: shared.bwrapPath,
    qemuPath,
    accelerator,
    image,
    cgroups: shared.cgroups,
    identities: shared.identities,
    memoryMiB: settings.memoryMiB,
    bootTimeoutMs: settings.bootTimeoutMs,
    workDir: dirname(image.initramfs),
    symlinks: filesystemLayout([]).symlinks,
    testPanicVms: settings.testPanicVms,
    snapshot: settings.snapshot,
    snapshotRestores: settings.snapshotRestores,
    firecracker,
    log,
  });
}
