// Setting up the host for one cylo instance, once, on first use: check every isolation layer
// (refusing, with the layer and the fix, when one is missing: there is no fallback), remove
// what crashed cylo processes left behind, and build the backend. Also the doctor report,
// which runs the same checks and reports instead of refusing.
import { Spawner } from './sandbox/spawner.js';
import { ZygotePool, zygoteDir } from './sandbox/zygote.js';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { v1CpuShareError } from './sandbox/cgroups/v1.js';
import { CyloError } from './errors.js';
import { CompileCache } from './engine/compile-cache.js';
import type { NormalizedOptions } from './options.js';
import { checkHost, type HostReport } from './sandbox/host-check.js';
import { NamespaceBackend } from './sandbox/namespace-backend.js';
import { cleanOrphans, findOrphans, type OrphanReport } from './sandbox/orphans.js';
import { buildSeccompProgram } from './sandbox/seccomp/program.js';
import { DEFAULT_UID_BASE } from './sandbox/identity.js';
import { AUTO_UIDS, claimUidRange, type UidRange } from './sandbox/uid-range.js';
import { sweepStaleLocks } from './sandbox/range-lock.js';

export interface HostSetup {
  backend: NamespaceBackend;
  /** The compile cache, opened when a compiled language first runs. */
  compileCache: () => CompileCache | undefined;
  /** What this instance removed at its start (crash recovery). */
  cleanedAtStart: OrphanReport;
  /** This instance's sandbox uid range; release() at close. */
  range: UidRange;
  /** The process that starts this instance's sandboxes (option spawner); close() at close. */
  spawner: Spawner | undefined;
  /** This instance's Python zygotes (option zygote); close() at close. */
  zygotes: ZygotePool | undefined;
  /** What the microVM backend shares with the namespace backend (src/microvm/setup.ts). */
  shared: { helperPath: string; bwrapPath: string; cgroups: NonNullable<HostReport['cgroups']> };
}

/** Checks the host, claims the uid range (uid-range.ts) and builds the backend. Throws
 *  CYLO_E_SANDBOX_UNAVAILABLE naming the missing layer and its fix, CYLO_E_CONFIG when a pinned
 *  uid range is held by another live instance. `cleanAtStart` false (doctor without --clean):
 *  crash leftovers are left in place. */
export async function setUpHost(options: NormalizedOptions, cleanAtStart = true): Promise<HostSetup> {
  const report = checkHost(options.host);
  const failed = report.checks.find((c) => !c.ok);
  if (failed !== undefined || report.bwrapPath === undefined || report.cgroups === undefined) {
    const c = failed ?? { layer: 'cgroups', detail: 'unavailable', fix: 'run cylo doctor' };
    throw new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', `sandbox unavailable: ${c.layer}: ${c.detail}. Fix: ${c.fix ?? 'run cylo doctor'}`, { layer: c.layer });
  }
  // cpuShare is refused where it cannot be enforced, before anything is claimed.
  if (options.cpuShare !== undefined && report.cgroups.version === 'v1') throw v1CpuShareError();
  const range = claimUidRange(options.uidCount, options.uidBasePinned ? options.uidBase : undefined);
  const cleanedAtStart = cleanAtStart ? await recoverFromCrashes(report.cgroups, range, options) : { cgroups: [], others: [], processes: [] };
  let cache: CompileCache | undefined;
  const seccompProgram = options.relax.has('seccomp') ? undefined : buildSeccompProgram();
  const zygotes = options.zygote ? zygotePool(options, report.helperPath, seccompProgram) : undefined;
  const spawner = options.spawner ? new Spawner(report.helperPath) : undefined;
  const backend = new NamespaceBackend({
    // The workspace a default request gets (src/api/request.ts fits it to the memory limits).
    prepareWorkspaceBytes: options.prepare ? Math.min(options.defaultLimits.workspaceBytes, options.defaultLimits.memoryBytes, options.defaultLimits.compileMemoryBytes) : undefined,
    bwrapPath: report.bwrapPath,
    helperPath: report.helperPath,
    prestartDir: options.prepare && options.prestart ? prestartDir(report.helperPath) : undefined,
    spawner,
    zygotes,
    cgroups: report.cgroups,
    identities: range.identities,
    seccompProgram,
    landlockAbi: report.landlockAbi,
    relax: options.relax,
    cpuShare: options.cpuShare,
  });
  // An unsafe cache directory is refused (CYLO_E_CONFIG) rather than used.
  const { cacheDir, cacheMaxBytes } = options;
  const compileCache = (): CompileCache | undefined => {
    if (cacheDir !== false) cache ??= CompileCache.open({ dir: cacheDir, maxBytes: cacheMaxBytes });
    return cache;
  };
  return { backend, compileCache, cleanedAtStart, range, spawner, zygotes, shared: { helperPath: report.helperPath, bwrapPath: report.bwrapPath, cgroups: report.cgroups } };
}

/** Crash recovery: what a SIGKILLed cylo left behind (execution cgroups named after an owner
 *  that is gone, with any process still inside) is killed and removed before this instance
 *  runs anything, and reported through `log`. */
async function recoverFromCrashes(cgroups: NonNullable<HostReport['cgroups']>, range: UidRange, options: NormalizedOptions): Promise<OrphanReport> {
  try {
    const cleaned = await cleanOrphans(cgroups, range.base, range.count);
    if (cleaned.cgroups.length > 0) {
      options.log('warn', `cleaned ${cleaned.cgroups.length} cgroup(s) left by crashed cylo processes, with every process inside: ${cleaned.cgroups.join(', ')}`, { cgroups: cleaned.cgroups });
    }
    if (cleaned.processes.length > 0) {
      options.log('warn', `${cleaned.processes.length} process(es) run as a sandbox uid outside any live cylo cgroup (not killed: they may belong to another cylo; see cylo doctor): ${cleaned.processes.map((p) => p.pid).join(', ')}`, { processes: cleaned.processes });
    }
    return cleaned;
  } catch (error) {
    options.log('error', `cleaning what crashed cylo processes left behind failed: ${(error as Error).message}`);
    return { cgroups: [], others: [], processes: [] };
  }
}

/** The host report plus leftovers of crashed cylo processes (removed with `clean`; else nothing
 *  is changed) and the cgroups of other live instances. Sandbox-uid processes are looked for in
 *  the pinned range, else in every automatic range. */
export async function inspectHost(options: NormalizedOptions, clean: boolean): Promise<HostReport & { orphans: OrphanReport & { cleaned: boolean; staleLocks: number } }> {
  const report = checkHost(options.host);
  let orphans = { cgroups: [] as string[], others: [] as string[], processes: [] as OrphanReport['processes'], cleaned: false };
  const [base, count] = options.uidBasePinned ? [options.uidBase, options.uidCount] : [DEFAULT_UID_BASE, AUTO_UIDS];
  if (report.cgroups !== undefined) {
    orphans = clean ? { ...(await cleanOrphans(report.cgroups, base, count)), cleaned: true } : { ...findOrphans(report.cgroups, base, count), cleaned: false };
  }
  // After the cgroups: their ownership is read from these locks. Only with `clean` (each file
  // costs a flock(1) probe); a live instance's lock is never removed.
  const staleLocks = clean ? sweepStaleLocks() : 0;
  return { ...report, orphans: { ...orphans, staleLocks } };
}

/** The pre-start stubs next to the helper (scripts/build-native.js copies native/prestart
 *  there). Missing stubs are refused rather than silently running every runtime cold. */
function prestartDir(helperPath: string): string {
  const dir = join(dirname(helperPath), 'prestart');
  if (!existsSync(join(dir, 'python', 'sitecustomize.py'))) {
    throw new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', `sandbox unavailable: prestart: the pre-start stubs are missing at ${dir}. Fix: npm run build:native (it copies native/prestart next to the helper), or set prestart: false`, { layer: 'prestart' });
  }
  return dir;
}

/** The instance's zygotes (option zygote). Throws CYLO_E_CONFIG when pre-started runtimes are
 *  off (a zygote makes only those) or cylo was built without the zygote module. */
function zygotePool(options: NormalizedOptions, helperPath: string, seccompProgram: Buffer | undefined): ZygotePool {
  if (!options.prepare || !options.prestart) throw new CyloError('CYLO_E_CONFIG', 'option zygote needs prepare and prestart (a zygote forks pre-started runtimes): turn them on, or zygote off');
  const dir = zygoteDir(helperPath);
  if (dir === undefined) throw new CyloError('CYLO_E_CONFIG', `option zygote: the zygote module is missing (${join(dirname(helperPath), 'zygote', '_cylo_zygote.so')}). Fix: apt-get install -y python3-dev, then npm run build:native; or turn zygote off`);
  return new ZygotePool(dir, [prestartDir(helperPath)], seccompProgram, (message) => options.log('warn', `zygote: ${message}; Python runtimes are pre-started by PID 1 instead`));
}
