// The monitor's jail (QEMU's or Firecracker's), like Firecracker's jailer: a guest that escapes
// into its monitor lands in a namespace sandbox with nothing to reach. The namespace backend's own
// outer helper (native/outer.c) joins the VM's cgroup (memory = guest RAM + the monitor's
// overhead, pids), mounts a small private tmpfs and drops to an unprivileged uid of this
// instance's range; bubblewrap then gives the monitor its own user,
// PID, network, IPC, UTS and cgroup namespaces and a root holding only /usr (the monitor and its
// libraries), its own kernel, initramfs, runtime image and socket. The same jail for every
// monitor; a MonitorLaunch says which files and which command differ. Pure.
import { FD_STATUS, FD_WORKSPACE, workspaceInodes } from '../sandbox/bwrap-argv.js';
import type { VmPlan } from './qemu-argv.js';
import { buildQemuArgv } from './qemu-argv.js';

/** What the jail needs to know about the monitor it holds (QEMU: qemu-argv.ts; Firecracker:
 *  firecracker.ts): its own files, bound in, and its command line. */
export interface MonitorLaunch {
  /** bubblewrap bind arguments for the monitor's own files (each read-only, or its sockets). */
  binds: string[];
  /** The monitor's argv inside the jail. */
  command: string[];
  /** Bind /dev/kvm (the hardware accelerator): the only device the monitor gets. */
  kvm: boolean;
}

/** The jail around any monitor: who it runs as and in which cgroup. */
export interface JailBase {
  helperPath: string;
  bwrapPath: string;
  uid: number;
  gid: number;
  cgroupProcs: readonly string[];
  /** Merged-/usr links of the host (/lib -> usr/lib...), recreated inside. */
  symlinks: ReadonlyArray<{ target: string; link: string }>;
}

export interface JailPlan extends JailBase {
  /** A template's outgoing migration socket (the host listens and writes the snapshot file). */
  migrationSocket?: string | undefined;
  /** /dev/kvm is bound only with the KVM accelerator. */
  vm: VmPlan;
}

/** QEMU's scratch tmpfs (/tmp inside): it writes nothing of size there. */
export const JAIL_TMP_BYTES = 4 * 1024 * 1024;

/** QEMU in its jail. */
export function buildJailArgv(plan: JailPlan): string[] {
  return buildMonitorJail(plan, qemuLaunch(plan.vm, plan.migrationSocket));
}

/** The outer helper's and bubblewrap's argv around `launch` (the same jail for every monitor). */
export function buildMonitorJail(plan: JailBase, launch: MonitorLaunch): string[] {
  const argv = [plan.helperPath, 'outer', '--status-fd', String(FD_STATUS), '--uid', String(plan.uid), '--gid', String(plan.gid)];
  argv.push('--workspace', `${FD_WORKSPACE}:${JAIL_TMP_BYTES}:${workspaceInodes(JAIL_TMP_BYTES)}`);
  for (const procs of plan.cgroupProcs) argv.push('--cgroup-procs', procs); // every fork of the monitor is inside its limits
  const b = [plan.bwrapPath];
  b.push(
    '--unshare-user', // its own user namespace: the monitor's ids map to nothing on the host
    '--disable-userns', // no nested user namespace to undo the read-only mounts
    '--unshare-pid', // sees only its own process: cannot signal or ptrace host processes
    '--unshare-net', // no network at all: an escaped guest has no route anywhere
    '--unshare-ipc', // no host SysV IPC or POSIX queues
    '--unshare-uts',
    '--unshare-cgroup', // the host's cgroup tree is hidden
    '--die-with-parent', // the monitor dies with cylo, even when cylo is SIGKILLed
    '--new-session', // setsid(): no TIOCSTI into a terminal
    '--cap-drop', 'ALL', // no capabilities inside either
    '--clearenv', // none of the service's variables (secrets) reach the monitor
    '--ro-bind', '/usr', '/usr', // the monitor, its libraries and firmware, read-only
  );
  for (const link of plan.symlinks) b.push('--symlink', link.target, link.link);
  // A small capped tmpfs, private to this jail (its /tmp), before the binds below: the VM's
  // files may live under the host's /tmp, and are bound on top of it.
  b.push('--bind-fd', String(FD_WORKSPACE), '/tmp');
  b.push(
    '--proc', '/proc', // a /proc of its own PID namespace
    '--dev', '/dev', // null, zero, urandom...: no disks, no /dev/mem
  );
  b.push(...launch.binds);
  if (launch.kvm) b.push('--dev-bind', '/dev/kvm', '/dev/kvm'); // only the hypervisor device
  b.push('--remount-ro', '/', '--chdir', '/tmp', '--', ...launch.command);
  argv.push('--', ...b);
  return argv;
}

/** QEMU's own files in the jail, and its argv (qemu-argv.ts). */
export function qemuLaunch(vm: VmPlan, migrationSocket: string | undefined): MonitorLaunch {
  const binds = [
    '--ro-bind', vm.kernel, vm.kernel, // its guest's kernel, initramfs and runtimes, read-only
    '--ro-bind', vm.initramfs, vm.initramfs,
    '--ro-bind', vm.runtimes, vm.runtimes,
    '--ro-bind', vm.socket, vm.socket, // its own job socket, nothing else of the host
  ];
  if (vm.nodePackages !== null) binds.push('--ro-bind', vm.nodePackages, vm.nodePackages); // the npm packages image, read-only
  // The monitor's socket (snapshot steps) and a template's migration socket, host-made like the
  // job socket: QEMU connects to them, it creates nothing the host later opens.
  if (vm.qmpSocket !== undefined) binds.push('--ro-bind', vm.qmpSocket, vm.qmpSocket);
  if (migrationSocket !== undefined) binds.push('--ro-bind', migrationSocket, migrationSocket);
  return { binds, command: buildQemuArgv(vm), kvm: vm.accelerator === 'kvm' };
}
