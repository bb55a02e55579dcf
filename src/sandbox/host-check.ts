// Checks, layer by layer, whether this host can run cylo's sandbox, and says how to fix what is
// missing. Used by `cylo doctor` and, before the first execution, by the engine, which refuses
// to run when a required layer is missing (no security fallbacks).
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Layer } from '../api/result.js';
import { cachedAnswer, kernelIdentity } from '../util/probe-cache.js';
import { openCgroups, type CgroupDriver } from './cgroups.js';

export type RelaxableLayer = 'landlock' | 'seccomp';
export const RELAXABLE_LAYERS: readonly RelaxableLayer[] = ['landlock', 'seccomp'];

export interface LayerCheck {
  layer: Layer | 'platform' | 'bubblewrap' | 'helper';
  ok: boolean;
  /** What was found. */
  detail: string;
  /** How to fix it, when not ok. */
  fix?: string;
  /** True when the operator relaxed this layer (it is then not required). */
  relaxed?: boolean;
}

/** The helper binary built by `npm run build:native` (dist/native/cylo-helper). */
export function defaultHelperPath(): string {
  // This file is dist/src/sandbox/host-check.js once compiled.
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'cylo-helper');
}

const BWRAP_CANDIDATES = ['/usr/bin/bwrap', '/usr/local/bin/bwrap', '/bin/bwrap'];

export function findBwrap(): string | undefined {
  return BWRAP_CANDIDATES.find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function versionAtLeast(version: string, min: [number, number, number]): boolean {
  const parts = version.split('.').map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < 3; i++) {
    const a = parts[i] ?? 0;
    const b = min[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

/** The Landlock ABI the running kernel offers, as the helper reports it (0: none or unknown);
 *  cached per boot and helper binary (util/probe-cache.ts: a spawn less at every start). */
export function landlockAbi(helperPath: string): number {
  try {
    return Number(cachedAnswer('landlock-abi', helperPath, kernelIdentity(), () => execFileSync(helperPath, ['landlock-abi'], { encoding: 'utf8', timeout: 5000 }).trim())) || 0;
  } catch {
    return 0;
  }
}

export interface HostCheckOptions {
  helperPath?: string;
  bwrapPath?: string;
  relax?: readonly RelaxableLayer[];
  cgroupRoot?: string;
}

export interface HostReport {
  checks: LayerCheck[];
  ok: boolean;
  bwrapPath: string | undefined;
  helperPath: string;
  landlockAbi: number;
  cgroups: CgroupDriver | undefined;
}

/** Static checks (no sandbox is started), one per layer; the doctor adds a real smoke run. */
export function checkHost(options: HostCheckOptions = {}): HostReport {
  const relax = new Set(options.relax ?? []);
  const helperPath = options.helperPath ?? defaultHelperPath();
  const linux = process.platform === 'linux';
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const bwrapPath = options.bwrapPath ?? findBwrap();
  const helperOk = existsSync(helperPath);
  const abi = helperOk ? landlockAbi(helperPath) : 0;
  const cgroups = linux && root ? checkCgroups(options.cgroupRoot) : { check: { layer: 'cgroups', ok: false, detail: 'not checked (needs Linux and root)', fix: 'run cylo as root on Linux' } as LayerCheck, driver: undefined };
  const checks: LayerCheck[] = [
    linux ? { layer: 'platform', ok: true, detail: `Linux ${readKernel()}` } : { layer: 'platform', ok: false, detail: process.platform, fix: 'cylo needs Linux (namespaces, cgroups, seccomp and Landlock are Linux kernel features); run it in a Linux VM or container' },
    root
      ? { layer: 'identity', ok: true, detail: 'running as root: each execution gets its own unprivileged uid' }
      : { layer: 'identity', ok: false, detail: `running as uid ${process.getuid?.() ?? '?'}`, fix: 'run cylo as root (it needs to switch each sandbox to its own unprivileged uid and to manage cgroups), e.g. sudo cylo ...' },
    checkBubblewrap(bwrapPath),
    helperOk ? { layer: 'helper', ok: true, detail: helperPath } : { layer: 'helper', ok: false, detail: `${helperPath} is missing`, fix: 'build the native helper: npm run build:native (needs gcc: apt-get install -y gcc libc6-dev)' },
    checkNamespaces(),
    checkLandlock(abi, helperOk, relax.has('landlock')),
    checkSeccomp(relax.has('seccomp')),
    cgroups.check,
  ];
  const ok = checks.every((c) => c.ok);
  return { checks, ok, bwrapPath, helperPath, landlockAbi: abi, cgroups: cgroups.driver };
}

function checkBubblewrap(bwrapPath: string | undefined): LayerCheck {
  if (bwrapPath === undefined) return { layer: 'bubblewrap', ok: false, detail: 'bwrap not found', fix: 'install bubblewrap >= 0.8.0: apt-get install -y bubblewrap' };
  let version = '?';
  try {
    // cached per bwrap binary (util/probe-cache.ts): a spawn less at every start
    version = cachedAnswer('bwrap-version', bwrapPath, [], () => execFileSync(bwrapPath, ['--version'], { encoding: 'utf8', timeout: 5000 }).trim().split(/\s+/).pop() ?? '?');
  } catch {
    // reported below
  }
  if (versionAtLeast(version, [0, 8, 0])) return { layer: 'bubblewrap', ok: true, detail: `${bwrapPath} ${version}` };
  return { layer: 'bubblewrap', ok: false, detail: `${bwrapPath} ${version}`, fix: 'bubblewrap 0.8.0 or newer is needed (--disable-userns, --ro-bind-fd); apt-get install -y bubblewrap' };
}

function checkNamespaces(): LayerCheck {
  const usernsMax = readNumber('/proc/sys/user/max_user_namespaces');
  const apparmorRestrict = readNumber('/proc/sys/kernel/apparmor_restrict_unprivileged_userns');
  const legacyClone = readNumber('/proc/sys/kernel/unprivileged_userns_clone');
  if (usernsMax === 0 || legacyClone === 0) {
    return { layer: 'namespaces', ok: false, detail: 'user namespaces are disabled', fix: 'enable them: sysctl -w user.max_user_namespaces=15000 (and kernel.unprivileged_userns_clone=1 on Debian kernels that have it)' };
  }
  if (apparmorRestrict === 1) {
    return { layer: 'namespaces', ok: false, detail: 'AppArmor restricts unprivileged user namespaces', fix: 'allow bwrap an AppArmor userns profile, or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0' };
  }
  return { layer: 'namespaces', ok: true, detail: `user, pid, mount, net, ipc, uts, cgroup (max_user_namespaces=${usernsMax ?? '?'})` };
}

function checkLandlock(abi: number, helperOk: boolean, relaxed: boolean): LayerCheck {
  if (abi >= 1) return { layer: 'landlock', ok: true, detail: `ABI ${abi}${abi >= 6 ? ' (signal and abstract-socket scoping on)' : ' (no scoping: needs ABI 6, Linux 6.12)'}` };
  return { layer: 'landlock', ok: relaxed, relaxed, detail: helperOk ? 'not available on this kernel' : 'unknown (helper missing)', fix: 'use Linux >= 5.13 with Landlock enabled (lsm=landlock,...), or relax the layer explicitly: relax: ["landlock"]' };
}

function checkSeccomp(relaxed: boolean): LayerCheck {
  if (/^Seccomp:\s*(\d)/m.test(safeRead('/proc/self/status'))) return { layer: 'seccomp', ok: true, detail: 'seccomp-BPF filters available' };
  return { layer: 'seccomp', ok: relaxed, relaxed, detail: 'the kernel has no seccomp support', fix: 'use a kernel built with CONFIG_SECCOMP_FILTER, or relax the layer explicitly: relax: ["seccomp"]' };
}

function checkCgroups(root: string | undefined): { check: LayerCheck; driver: CgroupDriver | undefined } {
  try {
    const driver = openCgroups(root);
    return { check: { layer: 'cgroups', ok: true, detail: `${driver.version}: ${driver.baseDirs.join(', ')}` }, driver };
  } catch (error) {
    return { check: { layer: 'cgroups', ok: false, detail: (error as Error).message, fix: 'see the message; cylo needs the memory, pids and cpu(acct) controllers' }, driver: undefined };
  }
}

function readKernel(): string {
  return safeRead('/proc/sys/kernel/osrelease').trim();
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function readNumber(path: string): number | undefined {
  const text = safeRead(path).trim();
  return text === '' ? undefined : Number(text);
}
