// QEMU's jail, like Firecracker's jailer: a guest that escapes into QEMU lands in a namespace
// sandbox with nothing to reach. The namespace backend's own outer helper (native/outer.c) joins
// the VM's cgroup (memory = guest RAM + QEMU's overhead, pids), mounts a small private tmpfs and
// drops to an unprivileged uid of this instance's range; bubblewrap then gives QEMU its own user,
// PID, network, IPC, UTS and cgroup namespaces and a root holding only /usr (QEMU and its
// libraries), its own kernel, initramfs, runtime image and socket. Pure.
import { FD_STATUS, FD_WORKSPACE, workspaceInodes } from '../sandbox/bwrap-argv.js';
import type { VmPlan } from './qemu-argv.js';
import { buildQemuArgv } from './qemu-argv.js';

export interface JailPlan {
  helperPath: string;
  bwrapPath: string;
  uid: number;
  gid: number;
  cgroupProcs: readonly string[];
  /** Merged-/usr links of the host (/lib -> usr/lib...), recreated inside. */
  symlinks: ReadonlyArray<{ target: string; link: string }>;
  /** A template's outgoing migration socket (the host listens and writes the snapshot file). */
  migrationSocket?: string | undefined;
  /** /dev/kvm is bound only with the KVM accelerator. */
  vm: VmPlan;
}

/** QEMU's scratch tmpfs (/tmp inside): it writes nothing of size there. */
export const JAIL_TMP_BYTES = 4 * 1024 * 1024;

export function buildJailArgv(plan: JailPlan): string[] {
  const argv = [plan.helperPath, 'outer', '--status-fd', String(FD_STATUS), '--uid', String(plan.uid), '--gid', String(plan.gid)];
  argv.push('--workspace', `${FD_WORKSPACE}:${JAIL_TMP_BYTES}:${workspaceInodes(JAIL_TMP_BYTES)}`);
  for (const procs of plan.cgroupProcs) argv.push('--cgroup-procs', procs); // every fork of QEMU is inside its limits
  const vm = plan.vm;
  const b = [plan.bwrapPath];
  b.push(
    '--unshare-user', // its own user namespace: QEMU's ids map to nothing on the host
    '--disable-userns', // no nested user namespace to undo the read-only mounts
    '--unshare-pid', // sees only its own process: cannot signal or ptrace host processes
    '--unshare-net', // no network at all: an escaped guest has no route anywhere
    '--unshare-ipc', // no host SysV IPC or POSIX queues
    '--unshare-uts',
    '--unshare-cgroup', // the host's cgroup tree is hidden
    '--die-with-parent', // QEMU dies with cylo, even when cylo is SIGKILLed
    '--new-session', // setsid(): no TIOCSTI into a terminal
    '--cap-drop', 'ALL', // no capabilities inside either
    '--clearenv', // none of the service's variables (secrets) reach QEMU
    '--ro-bind', '/usr', '/usr', // QEMU, its libraries and firmware, read-only
  );
  for (const link of plan.symlinks) b.push('--symlink', link.target, link.link);
  // A small capped tmpfs, private to this jail (its /tmp), before the binds below: the VM's
  // files may live under the host's /tmp, and are bound on top of it.
  b.push('--bind-fd', String(FD_WORKSPACE), '/tmp');
  b.push(
    '--ro-bind', vm.kernel, vm.kernel, // its guest's kernel, initramfs and runtimes, read-only
    '--ro-bind', vm.initramfs, vm.initramfs,
    '--ro-bind', vm.runtimes, vm.runtimes,
    '--ro-bind', vm.socket, vm.socket, // its own job socket, nothing else of the host
    '--proc', '/proc', // a /proc of its own PID namespace
    '--dev', '/dev', // null, zero, urandom...: no disks, no /dev/mem
  );
  if (vm.nodePackages !== null) b.push('--ro-bind', vm.nodePackages, vm.nodePackages); // the npm packages image, read-only
  // The monitor's socket (snapshot steps) and a template's migration socket, host-made like the
  // job socket: QEMU connects to them, it creates nothing the host later opens.
  if (vm.qmpSocket !== undefined) b.push('--ro-bind', vm.qmpSocket, vm.qmpSocket);
  if (plan.migrationSocket !== undefined) b.push('--ro-bind', plan.migrationSocket, plan.migrationSocket);
  if (vm.accelerator === 'kvm') b.push('--dev-bind', '/dev/kvm', '/dev/kvm'); // only the hypervisor device
  b.push(
    '--remount-ro', '/',
    '--chdir', '/tmp',
    '--',
    ...buildQemuArgv(vm),
  );
  argv.push('--', ...b);
  return argv;
}
