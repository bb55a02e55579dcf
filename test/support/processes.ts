// Host-side views of processes and cgroups, to prove that nothing of an execution outlives it:
// processes found by a marker on their command line or by sandbox uid, zombies, and this
// process's (or a service's) execution cgroups that still hold a program.
import { settled } from './wait.js';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { openCgroups } from '../../src/sandbox/cgroups.js';
import { HELPER_IN_SANDBOX } from '../../src/sandbox/bwrap-argv.js';
import { PRESTART_IN_SANDBOX } from '../../src/sandbox/prestart.js';

/**
 * A unique token to find a test's processes from the host: `prefix` and 15 random digits. Give
 * it to a program as an argument (the security attack programs ignore a trailing "cylomark..."
 * argument), or, with the prefix '', as the fraction of a number (`sleep 30.<marker>`), which
 * puts it on the command line of the sleep itself.
 */
export function uniqueMarker(prefix = 'cylomark'): string {
  let digits = '';
  while (digits.length < 15) digits += String(randomInt(0, 1_000_000_000)).padStart(9, '0');
  return `${prefix}${digits.slice(0, 15)}`;
}

export interface HostProcess {
  pid: number;
  ppid: number;
  /** Real, effective, saved and filesystem uid as the host sees them. */
  uids: number[];
  cmdline: string[];
  noNewPrivs: number | undefined;
}

/** Reads a process as the host sees it; undefined when it has gone away. */
export function readProcess(pid: number): HostProcess | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '';
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (cmdline.at(-1) === '') cmdline.pop();
    const nnp = field('NoNewPrivs');
    return { pid, ppid: Number(field('PPid')), uids: field('Uid').split(/\s+/).map(Number), cmdline, noNewPrivs: nnp === '' ? undefined : Number(nnp) };
  } catch {
    return undefined;
  }
}

/** Every process id on the host (the numeric entries of /proc). */
export function pids(): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

/** Living host processes (other than this one) whose command line contains `marker`. */
export function processesWith(marker: string): HostProcess[] {
  const out: HostProcess[] = [];
  for (const pid of pids()) {
    if (pid === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // gone
    }
    if (!cmdline.includes(marker)) continue;
    const p = readProcess(pid);
    // A zombie has an empty cmdline, so anything found here is alive.
    if (p !== undefined) out.push(p);
  }
  return out;
}

/** True for a zombie: dead, holding nothing but its pid until its parent reaps it. */
export function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

const inRange = (pid: number, uidBase: number, uidCount: number): boolean => {
  const uid = readProcess(pid)?.uids[0];
  return uid !== undefined && uid >= uidBase && uid < uidBase + uidCount;
};

/** Zombies of a sandbox uid range (e.g. a killed service's sandboxes, re-parented to the host's
 *  init until it reaps them). */
export function sandboxZombies(uidBase: number, uidCount: number): number[] {
  return pids().filter((pid) => inRange(pid, uidBase, uidCount) && isZombie(pid));
}

/** True for the processes of a sandbox started ahead of time that waits for its job: the
 *  bubblewrap monitor and the helper (PID 1 inside), and the language runtime it may have
 *  pre-started (isPrestartedRuntime). An idle pool slot keeps one such sandbox. */
export function isPreparedSandboxProcess(pid: number): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv[0]?.endsWith('/bwrap') === true || (argv[0] === HELPER_IN_SANDBOX && argv[1] === 'inner') || isPrestartedRuntime(pid);
  } catch {
    return false; // gone
  }
}

/** True for a language runtime started with a pre-start stub (src/sandbox/prestart.ts): Node
 *  with the stub on its command line, Python with the stub's directory in its initial
 *  environment (/proc/PID/environ, which only the host's root reads here). */
export function isPrestartedRuntime(pid: number): boolean {
  try {
    if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`${PRESTART_IN_SANDBOX}/`)) return true;
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`PYTHONPATH=${PRESTART_IN_SANDBOX}/python`);
  } catch {
    return false; // gone, or not readable
  }
}

const isBwrap = (p: HostProcess | undefined): boolean => /bwrap$/.test(p?.cmdline[0] ?? '');
/** cylo's helper on the host side, which joins the execution cgroup and then execs bubblewrap. */
const isOuterHelper = (p: HostProcess | undefined): boolean => /(^|\/)cylo-helper$/.test(p?.cmdline[0] ?? '') && p?.cmdline[1] === 'outer';

/**
 * True when `procs` (the processes of one cgroup) are an idle sandbox started ahead of time for
 * a pool slot: bubblewrap, a child of `ownerPid`, and at most one child of it, the inner helper
 * waiting for its job or bubblewrap still starting (its command line bubblewrap's, or empty),
 * plus at most one child of that inner helper, the runtime it pre-started (or its fork before
 * the exec: the helper's own command line, or empty); or, earlier still, the outer helper alone (a
 * child of `ownerPid` that has joined the cgroup and not yet exec'd bubblewrap). A process left
 * over by an execution is never such a pair: its bubblewrap is gone, so it was re-parented.
 */
/** True when the service `ownerPid` started P: its own child, or a child of its spawner (the
 *  helper process that forks sandboxes for it: src/sandbox/spawner.ts). */
function startedBy(p: HostProcess, ownerPid: number): boolean {
  if (p.ppid === ownerPid) return true;
  const parent = readProcess(p.ppid);
  return parent !== undefined && parent.ppid === ownerPid && parent.cmdline[1] === 'spawner';
}

function isIdlePrepared(procs: Array<HostProcess | undefined>, ownerPid: number): boolean {
  if (procs.length === 1 && procs[0] !== undefined && startedBy(procs[0], ownerPid) && isOuterHelper(procs[0])) return true;
  const bwrap = procs.find((p) => p !== undefined && startedBy(p, ownerPid) && isBwrap(p));
  if (bwrap === undefined) return false;
  const isInner = (p: HostProcess): boolean => p.cmdline[0] === HELPER_IN_SANDBOX && p.cmdline[1] === 'inner';
  const inner = procs.find((p) => p !== undefined && p.ppid === bwrap.pid && isInner(p));
  const runtime = inner === undefined ? undefined : procs.find((p) => p !== undefined && p.ppid === inner.pid && (isPrestartedRuntime(p.pid) || p.cmdline[0] === HELPER_IN_SANDBOX || p.cmdline.length === 0));
  const others = procs.filter((p) => p !== bwrap && p !== runtime);
  // The child may also show an empty command line: bubblewrap's child between its steps (a
  // process without a memory map, exiting or mid-exec), which runs nothing of a program.
  return others.length <= 1 && others.every((p) => p !== undefined && p.ppid === bwrap.pid && (isInner(p) || isBwrap(p) || p.cmdline.length === 0));
}

function pidsCgroupOf(pid: number): string | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /^\d+:(.*,)?pids(,.*)?:/.test(l) || l.startsWith('0::'));
    return line?.split(':').slice(2).join(':');
  } catch {
    return undefined;
  }
}

/**
 * Living processes running as a sandbox uid of [uidBase, uidBase + uidCount) that are not an idle
 * prepared sandbox of a pool slot of `servicePid` (see isIdlePrepared), as readable lines.
 */
export function strayProcesses(uidBase: number, uidCount: number, servicePid = process.pid): string[] {
  const byCgroup = new Map<string, number[]>();
  for (const pid of pids()) {
    if (!inRange(pid, uidBase, uidCount) || isZombie(pid)) continue;
    const cg = pidsCgroupOf(pid) ?? `?${pid}`;
    byCgroup.set(cg, [...(byCgroup.get(cg) ?? []), pid]);
  }
  const stray: string[] = [];
  for (const group of byCgroup.values()) {
    const procs = group.map((pid) => readProcess(pid));
    if (isIdlePrepared(procs, servicePid)) continue;
    for (const p of procs) if (p !== undefined) stray.push(`${p.pid} (uid ${p.uids[0]}, ppid ${p.ppid}): ${p.cmdline.join(' ').slice(0, 120)}`);
  }
  return stray;
}

/**
 * The execution cgroups of `ownerPid` (cylo names them x-<pid>-...) that hold a process other
 * than an idle prepared sandbox, each as "name: what it holds". The pool keeps its slots'
 * cgroups for reuse (one per worker), each with the sandbox it started ahead, so "clean" means
 * no program left, not gone.
 */
export function busyCgroups(ownerPid = process.pid): string[] {
  const driver = openCgroups();
  const prefix = `x-${ownerPid}-`;
  const busy: string[] = [];
  for (const name of driver.list().filter((n) => n.startsWith(prefix))) {
    const members = driver.open(name).pids();
    const procs = members.map((pid) => readProcess(pid));
    if (members.length === 0 || isIdlePrepared(procs, ownerPid)) continue;
    // The name, then what it holds (for the failure message).
    busy.push(`${name}: ${members.map((pid, i) => `${pid} (ppid ${procs[i]?.ppid ?? '?'}) ${procs[i]?.cmdline.join(' ').slice(0, 80) ?? 'gone'}`).join('; ')}`);
  }
  return busy;
}

/** busyCgroups() once the pool's slot resets have settled (at most `timeoutMs`): right after a
 *  result, a slot may still be starting its next sandbox or Node may not yet have reaped a
 *  bubblewrap that exited (a zombie child of this process, still listed in a v1 cgroup). A
 *  process the execution really left behind (a daemon's `sleep 30`) is still there after it. */
export async function settledBusyCgroups(ownerPid = process.pid, timeoutMs = 10_000): Promise<string[]> {
  return settled(() => busyCgroups(ownerPid), (busy) => busy.length === 0, timeoutMs);
}

/** Cgroup directories anywhere under /sys/fs/cgroup whose name starts with `prefix` (for a
 *  service in another process: cylo names them x-<service pid>-...). */
export function cgroupsNamed(prefix: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 6) return;
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e);
      if (e.startsWith(prefix)) found.push(p);
      else walk(p, depth + 1);
    }
  };
  if (existsSync('/sys/fs/cgroup')) walk('/sys/fs/cgroup', 0);
  return found;
}

/** This process's open fds, each with what it points to (sockets and pipes by inode). */
export function fdTargets(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      out.push(`${fd} -> ${readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch {
      // closed meanwhile (the readdir fd itself)
    }
  }
  return out;
}
