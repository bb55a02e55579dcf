// The exact argv of one guest VM's QEMU, each flag with the reason it is there. Pure.
import type { Accelerator } from './accelerator.js';

/** Where a restored VM's QEMU finds its snapshot file (opened read-only by the host). */
export const FD_SNAPSHOT = 5;

export interface VmPlan {
  qemuPath: string;
  accelerator: Accelerator;
  /** Guest RAM in MiB: the memory limit of everything in the guest. */
  memoryMiB: number;
  kernel: string;
  initramfs: string;
  runtimes: string;
  /** The npm packages image (guest-image.ts), or null. */
  nodePackages: string | null;
  /** The Unix socket (listened on by the host) the job port connects to. */
  socket: string;
  /** Host TSC frequency in kHz (TCG: a guest that calibrates the TSC itself hangs at times). */
  tscKhz: number | null;
  /** Random bytes (hex) mixed into the guest's entropy pool at boot. */
  seedHex: string;
  /** The Unix socket (listened on by the host) QEMU's QMP monitor connects to: only for the
   *  snapshot steps (saving the template, knowing when a restored VM runs). */
  qmpSocket?: string | undefined;
  /** Start by restoring the snapshot QEMU finds open at fd FD_SNAPSHOT (read-only). */
  incoming?: boolean | undefined;
  /** Tests only: the guest agent panics the guest kernel when a stage arrives. */
  panicOnStage?: boolean | undefined;
}

/** The kernel command line. */
export function kernelCmdline(plan: VmPlan): string {
  const args = [
    'console=ttyS0', // boot messages on the serial line (read by the host, capped, for diagnostics)
    'panic=-1', // a guest kernel panic reboots at once, and -no-reboot turns that into QEMU's exit
    'oops=panic', // an oops (a guest kernel bug reached) is a panic: no half-dead kernel runs on
    'quiet',
    'loglevel=1',
    'cgroup_no_v1=all', // the agent's stage cgroups are v2 only
    'random.trust_cpu=on', // seed the pool from RDRAND at once (and cylo.seed below, per boot)
    `cylo.seed=${plan.seedHex}`,
  ];
  if (plan.tscKhz !== null && plan.accelerator === 'tcg') args.push(`tsc_early_khz=${plan.tscKhz}`);
  if (plan.panicOnStage === true) args.push('cylo.panic=1');
  return args.join(' ');
}

export function buildQemuArgv(plan: VmPlan): string[] {
  const a = [plan.qemuPath];
  a.push(
    // microvm: no PCI, no ACPI tables to parse, no legacy devices: the smallest machine QEMU has
    // (least device-emulation code reachable from the guest). rtc=on: TCG needs it as a timer.
    '-M', 'microvm,rtc=on',
    '-accel', plan.accelerator,
    '-cpu', plan.accelerator === 'kvm' ? 'host' : 'max',
    '-m', String(plan.memoryMiB), // guest RAM: the memory limit of the whole guest
    '-smp', '1',
    '-nodefaults', // no default NIC, VGA, floppy, CD-ROM, parallel port or monitor
    '-no-user-config', // no configuration file of the host is read
    '-no-reboot', // a guest reboot or panic ends QEMU: a VM never comes back in another state
    '-nographic',
    '-display', 'none',
    // QEMU's own seccomp filter: no obsolete syscalls, no setuid/setgid, no fork/exec (no helper
    // program can be started by a compromised QEMU), no scheduler or resource-limit changes.
    '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    '-serial', 'stdio', // the guest console on QEMU's stdout (boot diagnostics)
    '-kernel', plan.kernel,
    '-initrd', plan.initramfs,
    '-append', kernelCmdline(plan),
    // The runtimes: a raw image, read-only (QEMU opens it O_RDONLY: the guest cannot write it).
    '-drive', `file=${plan.runtimes},if=none,format=raw,readonly=on,id=rt`,
    // serial=: the guest's /init finds each disk by it, not by its probe order.
    '-device', 'virtio-blk-device,drive=rt,serial=cylo-usr',
    // The job channel: one virtio-serial port, named, to the host's Unix socket.
    '-device', 'virtio-serial-device',
    '-chardev', `socket,id=job,path=${plan.socket}`,
    '-device', 'virtserialport,chardev=job,name=cylo.job',
    // No -netdev/-nic: the guest has no network device at all (only its loopback).
  );
  // The runtimes' npm packages (TypeScript's compiler), read-only like the runtimes.
  if (plan.nodePackages !== null) a.push('-drive', `file=${plan.nodePackages},if=none,format=raw,readonly=on,id=np`, '-device', 'virtio-blk-device,drive=np,serial=cylo-node');
  // The monitor, host side only (the guest has no path to it): saves a template, reports when a
  // restored VM runs. Client mode: QEMU connects to the host's socket, it creates no file.
  if (plan.qmpSocket !== undefined) a.push('-chardev', `socket,id=qmp,path=${plan.qmpSocket}`, '-mon', 'chardev=qmp,mode=control');
  // A restore reads the snapshot from an fd the host opened read-only: QEMU cannot change the
  // template every other VM starts from, and needs no path to it (exec: is denied by -sandbox).
  if (plan.incoming === true) a.push('-incoming', `fd:${FD_SNAPSHOT}`);
  return a;
}

/** The host's TSC frequency in kHz from /proc/cpuinfo's "cpu MHz", or null. */
export function hostTscKhz(cpuinfo: string): number | null {
  const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo);
  return m === null ? null : Math.round(Number(m[1]) * 1000);
}
