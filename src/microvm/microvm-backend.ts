// The microVM backend: every execution behind its own guest kernel. A slot is one VM, booted
// ahead of time (the warm pool: the pool's idle slots), used by exactly ONE execution (its
// compile and run stages) and then destroyed; the slot's reset() boots its next VM in the
// background, so the boot is never on a request's path when the pool is warm.
// Each stage runs the namespace helper's inner mode inside the guest (native/guest/agent.c).
import { readFileSync } from 'node:fs';
import type { Layer } from '../api/result.js';
import type { SandboxBackend, StageReport, StageSpec } from '../backend/backend.js';
import { WORKSPACE } from '../backend/backend.js';
import { encodeBundle, encodeJob } from '../backend/file-bundle.js';
import type { PoolSlot } from '../engine/pool.js';
import { buildInnerArgv, HELPER_IN_SANDBOX } from '../sandbox/bwrap-argv.js';
import type { CgroupDriver } from '../sandbox/cgroups.js';
import { cgroupName } from '../sandbox/cgroup-name.js';
import type { IdentityPool } from '../sandbox/identity.js';
import { rlimitsFor } from '../sandbox/namespace-backend.js';
import type { Accelerator } from './accelerator.js';
import type { GuestImage } from './guest-image.js';
import { hostTscKhz } from './qemu-argv.js';
import { VmStageRun } from './stage-run.js';
import { GuestVm, type VmOptions } from './vm.js';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { saveSnapshot, type Snapshot } from './snapshot.js';
import { imageIdentity, TemplateRotation } from './template.js';

/** What the guest keeps for itself beyond the largest stage: its kernel, the initramfs (unpacked
 *  in RAM), the agent and the helper, in MiB. */
export const GUEST_OVERHEAD_MIB = 96;
/** QEMU's own memory beyond the guest's RAM (its code, TCG's translation cache, buffers), MiB. */
export const QEMU_OVERHEAD_MIB = 160;

/** Layers in force on this backend (the guest kernel is the boundary; inside it the helper adds
 *  identity, Landlock, rlimits, the guest cgroup and the capped workspace). */
const LAYERS: readonly Layer[] = ['namespaces', 'identity', 'filesystem', 'landlock', 'cgroups', 'rlimits', 'environment', 'limits', 'output-caps'];

export interface MicrovmHost {
  helperPath: string;
  bwrapPath: string;
  qemuPath: string;
  accelerator: Accelerator;
  image: GuestImage;
  cgroups: CgroupDriver;
  identities: IdentityPool;
  /** Guest RAM in MiB: the largest memory limit a stage may have is this minus GUEST_OVERHEAD_MIB. */
  memoryMiB: number;
  bootTimeoutMs: number;
  /** Where VM directories are made (the image's private directory). */
  workDir: string;
  symlinks: ReadonlyArray<{ target: string; link: string }>;
  /** Tests only: the first N VMs booted panic their guest kernel when a stage arrives. */
  testPanicVms: number;
  /** Start VMs by restoring a template snapshot (snapshot.ts); false: every VM cold-boots. */
  snapshot: boolean;
  /** Restores per template before a new one is made (template.ts: a new guest KASLR layout). */
  snapshotRestores: number;
  /** Firecracker instead of QEMU (firecracker.ts): its binary and the uncompressed kernel.
   *  Snapshots are then off (they need its API socket): every VM boots. */
  firecracker?: { path: string; vmlinux: string } | undefined;
  log: (level: 'info' | 'warn', message: string) => void;
}

/** How this backend starts its VMs, for doctor and stats. */
export interface VmStarts {
  /** "restore" (from the template snapshot), "cold" (snapshots off or failed), or "pending". */
  mode: 'restore' | 'cold' | 'pending';
  /** Why VMs cold-boot when snapshots are on (the template's failure), or null. */
  reason: string | null;
  restores: number;
  coldBoots: number;
  /** The last template's boot-and-save time in ms, or null. */
  templateMs: number | null;
  /** Templates made (a new one every microvmSnapshotRestores restores). */
  templates: number;
}

/** One VM, booting or booted, for one execution. */
export class MicrovmSlot implements PoolSlot {
  vm: Promise<GuestVm>;
  private current: GuestVm | undefined;
  private used = false;
  private destroyed = false;
  private resetting: Promise<void> | undefined;

  constructor(private readonly boot: () => Promise<GuestVm>, private readonly release: () => void) {
    this.vm = this.start();
  }

  /** True when this slot's VM has booted and no execution took it yet (a warm VM). */
  get warmVm(): boolean {
    return !this.used && this.current !== undefined && this.current.endReason === null;
  }

  private start(): Promise<GuestVm> {
    this.current = undefined;
    const booting = this.boot().then((vm) => (this.current = vm));
    booting.catch(() => undefined); // reported to the stage that awaits it
    return booting;
  }

  /** The VM for this execution's stages; marks it used (it is destroyed at the reset). */
  take(): Promise<GuestVm> {
    this.used = true;
    return this.vm;
  }

  /** A used (or dead) VM is destroyed and the next one boots in the background (not once the
   *  slot is destroyed: a reset still destroying its old VM when the instance closes must not
   *  boot a VM after the close, which would outlive it with its directory). */
  reset(): Promise<void> {
    const resetting = this.resetOnce();
    this.resetting = resetting.catch(() => undefined);
    return resetting;
  }

  private async resetOnce(): Promise<void> {
    const vm = await this.vm.catch(() => undefined);
    if (!this.used && vm !== undefined && vm.endReason === null) return;
    this.used = false;
    await vm?.destroy();
    if (!this.destroyed) this.vm = this.start();
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    await this.resetting;
    const vm = await this.vm.catch(() => undefined);
    await vm?.destroy();
    this.release();
  }

  destroyIdleSync(): void {
    // QEMU dies with the service (--die-with-parent); the cgroup is cleaned at the next start.
  }

  get vmNow(): GuestVm | undefined {
    return this.current;
  }
}

export class MicrovmBackend implements SandboxBackend<MicrovmSlot> {
  readonly name = 'microvm' as const;
  readonly layers = LAYERS;
  private readonly counts = { prepared: 0, startedOnDemand: 0 };
  private readonly tscKhz = hostTscKhz(readFileSync('/proc/cpuinfo', 'utf8'));
  private boots = 0;
  private readonly slots = new Set<MicrovmSlot>();
  /** Start times (QEMU's start to the agent's hello, or to the restored agent's reseed reply) of
   *  the last VMs, in ms (newest last, at most 64). */
  readonly bootMs: number[] = [];
  private readonly templates: TemplateRotation;
  readonly starts: VmStarts = { mode: 'pending', reason: null, restores: 0, coldBoots: 0, templateMs: null, templates: 0 };
  /** The uid the next template boots as (the slot that needs it first). */
  private templateIdentity = { uid: 0, gid: 0 };

  constructor(readonly host: MicrovmHost) {
    if (host.firecracker !== undefined && host.snapshot) {
      this.starts.mode = 'cold';
      this.starts.reason = 'Firecracker: snapshots need its API socket, which cylo does not open (--no-api); every VM boots';
    }
    this.templates = new TemplateRotation((file) => this.makeTemplate(file), host.workDir, host.snapshotRestores, () => imageIdentity(host.image.runtimes));
  }

  /** The largest memory limit a stage may have, in bytes. */
  get maxStageMemoryBytes(): number {
    return (this.host.memoryMiB - GUEST_OVERHEAD_MIB) * 1024 * 1024;
  }

  createSlot(): MicrovmSlot {
    const identity = this.host.identities.acquire();
    const slot: MicrovmSlot = new MicrovmSlot(
      () => this.bootVm(identity.uid, identity.gid),
      () => {
        this.slots.delete(slot);
        identity.release();
      },
    );
    this.slots.add(slot);
    return slot;
  }

  /** VMs booted and waiting for an execution. */
  warmVms(): number {
    return [...this.slots].filter((s) => s.warmVm).length;
  }

  /** The next VM of a slot: restored from the template snapshot when there is one, else booted.
   *  A restore that fails is logged and that VM cold-boots instead. */
  private async bootVm(uid: number, gid: number): Promise<GuestVm> {
    this.boots += 1;
    // Test-hook VMs (a guest that panics) always boot: the hook is read from their own cmdline.
    if (this.boots <= this.host.testPanicVms) return this.startVm(uid, gid, { seedHex: randomBytes(32).toString('hex'), panic: true });
    this.templateIdentity = { uid, gid };
    const lease = this.host.snapshot && this.host.firecracker === undefined ? await this.templates.acquire() : null;
    if (lease !== null) {
      try {
        const vm = await this.startVm(uid, gid, { seedHex: lease.snapshot.seedHex, restoreFrom: lease.snapshot.file });
        // Its QEMU has opened the image: still the template's (template.ts imageIdentity), or
        // the guest would read a rebuilt image's blocks through the template's cached inodes.
        if (imageIdentity(this.host.image.runtimes) !== lease.image) {
          await vm.destroy();
          throw new Error('the runtime image was replaced while the VM was restored');
        }
        this.starts.restores += 1;
        return vm;
      } catch (error) {
        this.host.log('warn', `microvm: a VM could not be restored from the snapshot, booting it instead: ${(error as Error).message}`);
      } finally {
        lease.release(); // QEMU holds its own fd: a retired template's file may go
      }
    }
    // Fresh entropy for every booted guest: two VMs never start from the same random state.
    const vm = await this.startVm(uid, gid, { seedHex: randomBytes(32).toString('hex') });
    this.starts.coldBoots += 1;
    return vm;
  }

  /** Boots a template VM (as the uid of the slot that asked), saves its snapshot to `file` in
   *  the work directory and destroys it; null (logged, VMs then cold-boot) when that fails. */
  private async makeTemplate(file: string): Promise<Snapshot | null> {
    const started = performance.now();
    const { uid, gid } = this.templateIdentity;
    const snapshot = { file, seedHex: randomBytes(32).toString('hex') };
    let vm: GuestVm | undefined;
    try {
      vm = await this.startVm(uid, gid, { seedHex: snapshot.seedHex, qmp: true, migration: true }, false);
      await saveSnapshot(vm, snapshot.file, this.host.memoryMiB, this.host.bootTimeoutMs);
      this.starts.mode = 'restore';
      this.starts.templateMs = Math.round(performance.now() - started);
      this.starts.templates += 1;
      this.host.log('info', `microvm: template snapshot saved in ${this.starts.templateMs} ms; pool VMs start from it`);
      return snapshot;
    } catch (error) {
      rmSync(snapshot.file, { force: true });
      this.starts.mode = 'cold';
      this.starts.reason = (error as Error).message;
      this.host.log('warn', `microvm: no template snapshot, every VM cold-boots (slower, as safe): ${this.starts.reason}`);
      return null;
    } finally {
      await vm?.destroy();
    }
  }

  /** One VM in its own cgroup and jail: booted, or restored from `restoreFrom`. */
  private async startVm(uid: number, gid: number, how: { seedHex: string; panic?: boolean } & Pick<VmOptions, 'qmp' | 'migration' | 'restoreFrom'>, record = true): Promise<GuestVm> {
    const h = this.host;
    const cgroup = h.cgroups.create(cgroupName({ base: h.identities.base, count: h.identities.size }), { memoryBytes: (h.memoryMiB + QEMU_OVERHEAD_MIB) * 1024 * 1024, pids: 64 });
    const started = performance.now();
    try {
      const vm = await GuestVm.boot({
        parentDir: h.workDir,
        cgroup,
        bootTimeoutMs: h.bootTimeoutMs,
        qmp: how.qmp,
        migration: how.migration,
        restoreFrom: how.restoreFrom,
        firecracker: h.firecracker,
        jail: {
          helperPath: h.helperPath,
          bwrapPath: h.bwrapPath,
          uid,
          gid,
          cgroupProcs: cgroup.procsFiles,
          symlinks: h.symlinks,
          vm: {
            qemuPath: h.qemuPath,
            accelerator: h.accelerator,
            memoryMiB: h.memoryMiB,
            kernel: h.image.kernel,
            initramfs: h.image.initramfs,
            runtimes: h.image.runtimes,
            nodePackages: h.image.nodePackages,
            tscKhz: this.tscKhz,
            seedHex: how.seedHex,
            panicOnStage: how.panic === true,
          },
        },
      });
      if (record) this.bootMs.push(Math.round(performance.now() - started));
      if (this.bootMs.length > 64) this.bootMs.shift();
      return vm;
    } catch (error) {
      await cgroup.remove().catch(() => undefined);
      throw error;
    }
  }

  async runStage(slot: MicrovmSlot, spec: StageSpec): Promise<StageReport> {
    const warm = slot.vmNow !== undefined && slot.vmNow.endReason === null;
    let vm: GuestVm;
    try {
      vm = await slot.take();
    } catch (error) {
      return setupFailed(`the guest VM could not be booted: ${(error as Error).message}`);
    }
    if (vm.endReason !== null) return setupFailed(`the guest VM is gone: ${vm.endReason}`);
    if (spec.limits.memoryBytes > this.maxStageMemoryBytes) {
      return setupFailed(`the memory limit ${spec.limits.memoryBytes} is above what this VM holds (${this.maxStageMemoryBytes} bytes; raise microvmMemoryMiB)`);
    }
    if (warm) this.counts.prepared += 1;
    else this.counts.startedOnDemand += 1;
    const stage = stageFrame(spec);
    const job = encodeJob({ argv: spec.argv, env: spec.env, rlimits: rlimitsFor(spec.limits), stderrToStdout: spec.stderrToStdout === true });
    return new Promise<StageReport>((resolve) => new VmStageRun(vm, spec, resolve).start(stage, [job, ...encodeBundle(spec.files)]));
  }

  stats(): { prepared: number; startedOnDemand: number } {
    return { ...this.counts };
  }
}

/** The 'S' frame: the guest cgroup's limits, then the helper's inner argv (NUL-terminated). */
export function stageFrame(spec: Pick<StageSpec, 'limits' | 'emit' | 'outputs' | 'mkdirs'>): Buffer {
  const argv = buildInnerArgv({
    mkdirs: spec.mkdirs?.map((d) => `${WORKSPACE}/${d}`),
    emit: spec.emit === undefined ? undefined : { paths: [...spec.emit.paths], maxBytes: spec.emit.maxBytes },
    outputs: spec.outputs === undefined || spec.outputs.patterns.length === 0 ? undefined : { ...spec.outputs, patterns: [...spec.outputs.patterns] },
    cpuCounter: { path: '/sys/fs/cgroup/stage/cpu.stat', format: 'v2' },
    // Landlock inside the guest: the runtimes and the guest's own tools read and execute, /etc
    // and /proc read, the workspace the only writable place.
    landlock: { mode: 'noscope', readOnly: ['/etc', '/proc'], readExec: ['/usr', '/bin', '/lib', '/lib64', '/sbin', '/.cylo'], devices: ['/dev'], readWrite: [WORKSPACE] },
  });
  if (argv[0] !== HELPER_IN_SANDBOX) throw new Error('the inner argv must start with the helper');
  const { memoryBytes, pids, workspaceBytes } = spec.limits;
  const header = `mem=${memoryBytes} pids=${pids} ws=${workspaceBytes}\n`;
  return Buffer.concat([Buffer.from(header, 'utf8'), ...argv.map((a) => Buffer.from(`${a}\0`, 'utf8'))]);
}

function setupFailed(why: string): StageReport {
  return { stopReason: null, setupError: why, exit: null, oomKilled: false, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), stdoutTruncated: false, stderrTruncated: false, wallMs: 0, cpuMs: 0, memoryBytes: 0 };
}
