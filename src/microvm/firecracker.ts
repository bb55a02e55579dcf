// Firecracker as the microVM's monitor (microvmMonitor "firecracker"): the same guest (the kernel,
// uncompressed by vmlinux.ts; the same initramfs through boot-source initrd_path; the same
// read-only runtime disks) and the same agent protocol (channel.ts), with the job channel over
// virtio-vsock instead of a virtio-serial port. Pure, except findFirecracker.
//
// How the pieces are wired, and why:
// * Configured by a file (`--config-file`, the JSON objects of Firecracker's API: boot-source,
//   drives, machine-config, vsock) with `--no-api`: Firecracker opens no API socket at all, so the
//   host never connects to a socket the jailed monitor created (a compromised monitor could put a
//   link there and turn the host's connect against another service). The file is host-made,
//   bound read-only.
// * The job channel is guest-initiated: the agent connects to the host (CID 2) on VSOCK_PORT, and
//   Firecracker forwards that to the Unix socket `${uds_path}_${VSOCK_PORT}`, which is the host's
//   own listening job socket bound in at that path (as QEMU's chardev connects to it). The same
//   host code accepts the one connection. Firecracker's own listener (uds_path) is in the jail's
//   private tmpfs, never opened by the host.
// * Firecracker's default seccomp filters stay on (never `--no-seccomp`), inside the same jail as
//   QEMU (jail.ts): own uid, namespaces, cgroup, only its files.
// * No snapshots: they need Firecracker's API socket; every VM cold-boots (on KVM in a few hundred
//   ms), each with its own kernel layout and randomness.
import { existsSync } from 'node:fs';
import { CyloError } from '../errors.js';
import type { MonitorLaunch } from './jail.js';

/** The vsock port the guest agent connects to on the host (CID 2). */
export const VSOCK_PORT = 1024;
/** The guest's vsock context id (any >= 3; each VM has its own Firecracker). */
export const GUEST_CID = 3;
/** Firecracker's vsock listener inside the jail (its private /tmp): the host never opens it. */
export const JAIL_VSOCK = '/tmp/cylo.vsock';

export interface FirecrackerPlan {
  firecrackerPath: string;
  /** Guest RAM in MiB. */
  memoryMiB: number;
  /** The uncompressed kernel (vmlinux, ELF). */
  vmlinux: string;
  initramfs: string;
  runtimes: string;
  nodePackages: string | null;
  /** The host's listening job socket (bound in at `${JAIL_VSOCK}_${VSOCK_PORT}`). */
  socket: string;
  /** The config file (host-made, written from firecrackerConfig). */
  configFile: string;
  /** The guest kernel command line (qemu-argv.ts kernelCmdline with the vsock settings). */
  bootArgs: string;
}

/** The kernel command line's additions under Firecracker: the agent's transport, and how the
 *  guest reboots (the keyboard controller's reset, which ends Firecracker: like -no-reboot). */
export function firecrackerBootArgs(base: string): string {
  return `${base} reboot=k pci=off cylo.vsock=${VSOCK_PORT}`;
}

/** The --config-file JSON: Firecracker's API objects, built from the VM's plan. */
export function firecrackerConfig(plan: FirecrackerPlan): Record<string, unknown> {
  const drives = [{ drive_id: 'cylo-usr', path_on_host: plan.runtimes, is_root_device: false, is_read_only: true }];
  if (plan.nodePackages !== null) drives.push({ drive_id: 'cylo-node', path_on_host: plan.nodePackages, is_root_device: false, is_read_only: true });
  return {
    // The same initramfs as under QEMU (no root disk): /init and the agent.
    'boot-source': { kernel_image_path: plan.vmlinux, initrd_path: plan.initramfs, boot_args: plan.bootArgs },
    // Read-only: Firecracker opens them O_RDONLY and the guest cannot write the runtimes.
    drives,
    // One vCPU, guest RAM = the memory limit of everything in the guest; no SMT.
    'machine-config': { vcpu_count: 1, mem_size_mib: plan.memoryMiB, smt: false },
    vsock: { guest_cid: GUEST_CID, uds_path: JAIL_VSOCK },
    // No network interface at all (only the guest's loopback).
    'network-interfaces': [],
  };
}

/** Firecracker's files in the jail and its argv. */
export function firecrackerLaunch(plan: FirecrackerPlan): MonitorLaunch {
  const binds = [
    '--ro-bind', plan.vmlinux, plan.vmlinux, // the guest kernel, initramfs, runtimes and config, read-only
    '--ro-bind', plan.initramfs, plan.initramfs,
    '--ro-bind', plan.runtimes, plan.runtimes,
    '--ro-bind', plan.configFile, plan.configFile,
    // The host's job socket where Firecracker connects a guest-initiated vsock connection.
    '--ro-bind', plan.socket, `${JAIL_VSOCK}_${VSOCK_PORT}`,
  ];
  if (plan.nodePackages !== null) binds.push('--ro-bind', plan.nodePackages, plan.nodePackages);
  // A binary outside /usr (CYLO_FIRECRACKER): bound read-only at its own path.
  if (!plan.firecrackerPath.startsWith('/usr/')) binds.push('--ro-bind', plan.firecrackerPath, plan.firecrackerPath);
  // No --no-seccomp: Firecracker's built-in seccomp filters (per thread) stay on.
  const command = [plan.firecrackerPath, '--no-api', '--config-file', plan.configFile, '--level', 'Warning'];
  return { binds, command, kvm: true };
}

/** The firecracker binary: CYLO_FIRECRACKER, else `firecracker` on PATH. Throws
 *  CYLO_E_SANDBOX_UNAVAILABLE (layer `firecracker`) naming the fix when there is none. */
export function findFirecracker(env: NodeJS.ProcessEnv = process.env): string {
  const fix = 'Fix: install Firecracker (a release binary from github.com/firecracker-microvm/firecracker) on PATH or set CYLO_FIRECRACKER=/path/to/firecracker, or use microvmMonitor "qemu"';
  const explicit = env.CYLO_FIRECRACKER;
  if (explicit !== undefined && explicit !== '') {
    if (!explicit.startsWith('/') || !existsSync(explicit)) throw firecrackerUnavailable(`CYLO_FIRECRACKER=${explicit} is not an existing absolute path. ${fix}`);
    return explicit;
  }
  for (const dir of (env.PATH ?? '/usr/bin').split(':')) {
    if (dir.startsWith('/') && existsSync(`${dir}/firecracker`)) return `${dir}/firecracker`;
  }
  throw firecrackerUnavailable(`no firecracker binary on PATH. ${fix}`);
}

/** Firecracker runs only on KVM: software emulation is QEMU's alone. */
export function requireKvmForFirecracker(accelerator: 'kvm' | 'tcg'): void {
  if (accelerator !== 'kvm') {
    throw firecrackerUnavailable('Firecracker needs hardware KVM (kvm_intel or kvm_amd) and has no software emulation; microvmAllowTcg applies to QEMU only. Fix: run on a host with KVM, or use microvmMonitor "qemu"');
  }
}

function firecrackerUnavailable(detail: string): CyloError {
  return new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', `isolation "microvm" is unavailable: firecracker: ${detail}`, { layer: 'firecracker' });
}
