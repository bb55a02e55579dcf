/**
 * The microVM side of a cylo instance: its own pool of VMs (each used for one execution), its
 * own gate and lifecycle over the instance's compile cache, set up on the first request for it
 * (never as a fallback for the namespace sandbox). `createCylo` routes each request to this gate
 * or the namespace one with `isolationOf`.
 */
import type { ExecuteRequest, ValidationPolicy } from '../api/request.js';
import { ExecutionGate } from '../gate/execution-gate.js';
import { Lifecycle } from '../engine/lifecycle.js';
import { ExecutionPool, type PoolStats } from '../engine/pool.js';
import type { HostSetup } from '../host-setup.js';
import type { NormalizedOptions } from '../options.js';
import type { RuntimeRegistry } from '../runtimes/registry.js';
import { CyloError } from '../errors.js';
import type { MicrovmBackend, MicrovmSlot, VmStarts } from './microvm-backend.js';

/** `stats().microvm`: the pool's counts plus the VMs' (null before the first microVM request). */
export type MicrovmStats = PoolStats & { warmVms: number; coldVms: number; bootedIdle: number; bootMs: number[]; starts: VmStarts };

export interface MicrovmSide {
  gate: ExecutionGate<MicrovmSlot>;
  /** Boots the pool's VMs ahead (warm()). */
  warm(): Promise<void>;
  compilesRun(): number;
  stats(): MicrovmStats | null;
  /** Removes the VMs' directories (the sockets, the initramfs copies); synchronous, for 'exit'. */
  removeFiles(): void;
}

/** Builds the microVM side; nothing is set up until a request (or warm()) needs a VM. */
export function createMicrovmSide(options: NormalizedOptions, ready: () => Promise<HostSetup>, registry: RuntimeRegistry, policy: ValidationPolicy): MicrovmSide {
  let backend: Promise<MicrovmBackend> | undefined;
  let setUp: MicrovmBackend | undefined;
  const backendReady = (): Promise<MicrovmBackend> => {
    if (backend === undefined) {
      backend = ready().then(async (h) => {
        const { setUpMicrovm } = await import('./setup.js');
        return (setUp = setUpMicrovm(options.microvm, { ...h.shared, identities: h.range.identities }, options.log));
      });
      backend.catch(() => (backend = undefined));
    }
    return backend;
  };
  const pool = new ExecutionPool<MicrovmSlot>({ concurrency: options.microvm.pool, queueLimit: options.queueLimit, createSlot: async () => (await backendReady()).createSlot() });
  let lifecycle: Lifecycle<MicrovmSlot> | undefined;
  const gate = new ExecutionGate<MicrovmSlot>({ registry, policy, pool, lifecycle: async () => (lifecycle ??= new Lifecycle(await backendReady(), (await ready()).compileCache)) });
  return {
    gate,
    async warm() {
      await backendReady();
      await pool.warm();
    },
    compilesRun: () => lifecycle?.compilesRun ?? 0,
    stats() {
      const counts = setUp?.stats();
      if (counts === undefined) return null;
      return { ...pool.stats(), warmVms: counts.prepared, coldVms: counts.startedOnDemand, bootedIdle: setUp?.warmVms() ?? 0, bootMs: [...(setUp?.bootMs ?? [])], starts: { ...(setUp as MicrovmBackend).starts } };
    },
    removeFiles: () => setUp?.host.image.remove(),
  };
}

/**
 * The isolation a request runs under: its `isolation`, else the configured default.
 * @throws CyloError CYLO_E_UNSUPPORTED when the operator does not offer it (never replaced by the
 *   other), or when the request names an environment for a microVM (the VM's runtime image has
 *   only the standard runtimes; environments are read-only layers of the namespace sandbox).
 */
export function isolationOf(request: ExecuteRequest, options: NormalizedOptions): 'namespaces' | 'microvm' {
  const shaped = request as { isolation?: unknown; environment?: unknown } | null;
  const asked = shaped?.isolation ?? options.isolation;
  if ((asked === 'namespaces' || asked === 'microvm') && !options.isolations.includes(asked)) {
    throw new CyloError('CYLO_E_UNSUPPORTED', `isolation: "${asked}" is not offered by this cylo (it offers ${options.isolations.map((i) => `"${i}"`).join(', ')})`, { field: 'isolation' });
  }
  if (asked === 'microvm' && shaped?.environment !== undefined) {
    throw new CyloError('CYLO_E_UNSUPPORTED', 'environment: not available with isolation "microvm" (the VM has only the standard runtimes); leave out environment, or use isolation "namespaces"', { field: 'environment' });
  }
  return asked === 'microvm' ? 'microvm' : 'namespaces';
}
