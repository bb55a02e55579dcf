// Which accelerator a microVM runs on, decided once per instance, never by falling back:
//   KVM  when the host has hardware virtualisation: the kvm_intel or kvm_amd module is loaded
//        (/sys/module/kvm_intel|kvm_amd) and /dev/kvm exists. A working KVM_CREATE_VM alone
//        proves nothing: a paravirtual /dev/kvm (kvm_pvm) opens and creates VMs but cannot boot
//        a stock guest kernel.
//   TCG  QEMU's software emulation, only when the operator allowed it (microvmAllowTcg, from
//        CYLO_MICROVM_ALLOW_TCG=1 or the config file): slow, but still a separate guest kernel.
// Otherwise the microvm backend is refused, naming KVM and the fix.
import { existsSync } from 'node:fs';
import { CyloError } from '../errors.js';

export type Accelerator = 'kvm' | 'tcg';

export interface AcceleratorProbe {
  /** /sys/module, /dev: where the facts are read (tests point them elsewhere). */
  sysModule?: string;
  devKvm?: string;
}

/** The host's hardware-virtualisation module, or null (none, or only a paravirtual one). */
export function hardwareKvm(probe: AcceleratorProbe = {}): 'kvm_intel' | 'kvm_amd' | null {
  const sys = probe.sysModule ?? '/sys/module';
  if (!existsSync(probe.devKvm ?? '/dev/kvm')) return null;
  if (existsSync(`${sys}/kvm_intel`)) return 'kvm_intel';
  if (existsSync(`${sys}/kvm_amd`)) return 'kvm_amd';
  return null;
}

/** The accelerator to use. Throws CYLO_E_SANDBOX_UNAVAILABLE (layer `kvm`) when there is no
 *  hardware KVM and software emulation is not allowed. */
export function chooseAccelerator(allowTcg: boolean, probe: AcceleratorProbe = {}): Accelerator {
  if (hardwareKvm(probe) !== null) return 'kvm';
  if (allowTcg) return 'tcg';
  const pvm = existsSync(`${probe.sysModule ?? '/sys/module'}/kvm_pvm`) ? ' (this host has only kvm_pvm, a paravirtual /dev/kvm that cannot boot the guest kernel)' : '';
  throw new CyloError(
    'CYLO_E_SANDBOX_UNAVAILABLE',
    `isolation "microvm" is unavailable: kvm: no hardware virtualisation (neither kvm_intel nor kvm_amd is loaded)${pvm}. Fix: run on a host with KVM (modprobe kvm_intel or kvm_amd; nested virtualisation on a cloud VM), or allow QEMU's slow software emulation with CYLO_MICROVM_ALLOW_TCG=1 (config key microvmAllowTcg), or use isolation "namespaces"`,
    { layer: 'kvm' },
  );
}
