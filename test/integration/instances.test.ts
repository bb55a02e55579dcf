// Several cylo instances on one host: each claims its own sandbox uid range (a lock a crashed
// process releases), an explicit range another live instance holds is refused, orphan cleanup
// and doctor never take another live instance's executions for leftovers (also when that
// instance runs in another PID namespace), and doctor without --clean changes nothing.
// The second instances are real processes (test/support/instance-child.ts), started plainly or
// inside `unshare --pid --fork --mount-proc`.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { existsSync, writeFileSync } from 'node:fs';
import { createCylo, type Cylo } from '../../src/cylo.js';
import { CyloError } from '../../src/errors.js';
import { openCgroups } from '../../src/sandbox/cgroups.js';
import { processStartTime } from '../../src/sandbox/cgroup-name.js';
import { DEFAULT_UID_BASE } from '../../src/sandbox/identity.js';
import { readProcess } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { TEST_UID_BASE, TIGHT_LIMITS } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';

const CHILD = fileURLToPath(new URL('../support/instance-child.js', import.meta.url));
const children: ChildProcess[] = [];
const instances: Cylo[] = [];
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const c of instances) await c.close({ graceMs: 0 });
});

interface Child {
  child: ChildProcess;
  /** The next JSON line it prints. */
  next: () => Promise<Record<string, unknown>>;
}

/** Starts test/support/instance-child.js with these CyloOptions, behind `prefix` (e.g. unshare). */
function startChild(options: Record<string, unknown>, prefix: string[] = []): Child {
  const argv = [...prefix, process.execPath, CHILD, JSON.stringify(options)];
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  return {
    child,
    next: async () => {
      const r = await lines.next();
      if (r.done === true) throw new Error('the child instance ended without a line');
      return JSON.parse(r.value as string) as Record<string, unknown>;
    },
  };
}

const newCylo = (options: Parameters<typeof createCylo>[0] = {}): Cylo => {
  const c = createCylo({ defaultLimits: { ...TIGHT_LIMITS }, concurrency: 2, ...options });
  instances.push(c);
  return c;
};
/** Runs one execution, then returns the host uids of the processes in this instance's execution
 *  cgroups (named after its uid block): its idle slots' prepared sandboxes, which run as the
 *  slot's uid (inside, the program sees a mapped uid, not the host one). */
async function hostUids(cylo: Cylo): Promise<number[]> {
  const result = await cylo.execute({ language: 'bash', code: 'true' });
  assert.equal(result.status, 'ok', JSON.stringify(result));
  const range = cylo.stats().uidRange;
  assert.ok(range !== null);
  const driver = openCgroups();
  const uids = (): number[] => {
    const mine = driver.list().filter((n) => n.startsWith(`x-${process.pid}-`) && n.endsWith(`-r${range.base}.${range.count}`));
    return mine.flatMap((n) => driver.open(n).pids()).map((pid) => readProcess(pid)?.uids[0]).filter((u): u is number => u !== undefined);
  };
  return waitFor('its idle slot to prepare a sandbox', () => (uids().length > 0 ? uids() : undefined));
}
const inRange = (uids: number[], range: { base: number; count: number } | null): boolean => range !== null && uids.every((u) => u >= range.base && u < range.base + range.count);
const childCgroups = (pid: number): string[] => openCgroups().list().filter((n) => n.startsWith(`x-${pid}-`));

// Proves: without explicit ranges, two instances of one process never share a uid (before, both
// used 2,000,000,000 + n); close() frees the range.
test('two instances without explicit ranges get disjoint uid ranges', async (t) => {
  if (skipWithoutSandbox(t)) return;
  const a = newCylo();
  const b = newCylo();
  const [ua, ub] = [await hostUids(a), await hostUids(b)];
  const ra = a.stats().uidRange;
  const rb = b.stats().uidRange;
  assert.ok(ra !== null && rb !== null);
  assert.ok(ra.base + ra.count <= rb.base || rb.base + rb.count <= ra.base, `disjoint: ${JSON.stringify([ra, rb])}`);
  assert.ok(inRange(ua, ra), `a's sandboxes run as ${ua.join(', ')}, in its range`);
  assert.ok(inRange(ub, rb), `b's sandboxes run as ${ub.join(', ')}, in its range`);
  assert.ok(!ua.some((u) => ub.includes(u)), 'no uid shared');
  assert.ok(ra.base >= DEFAULT_UID_BASE && rb.base >= DEFAULT_UID_BASE);
  await a.close();
  assert.equal(a.stats().uidRange, null, 'closed: no range held');
});

// Proves: an explicit range held by another live process is refused, naming the range and the
// owner; once that process is SIGKILLed (no close(), no cleanup of its own) the kernel has
// released its lock and the same range is claimed.
test('an explicit range held by a live instance is refused; a crashed instance frees it', async (t) => {
  if (skipWithoutSandbox(t)) return;
  const range = { uidBase: TEST_UID_BASE + 128, uidCount: 64 };
  const holder = startChild(range);
  const hello = await holder.next();
  assert.deepEqual(hello.uidRange, { base: range.uidBase, count: range.uidCount }, JSON.stringify(hello));
  const second = newCylo(range);
  await assert.rejects(second.execute({ language: 'bash', code: 'true' }), (error: unknown) => {
    assert.ok(error instanceof CyloError && error.code === 'CYLO_E_CONFIG', String(error));
    assert.match(error.message, new RegExp(`${range.uidBase}\\.\\.${range.uidBase + 63}`));
    assert.match(error.message, new RegExp(`held by another live cylo instance \\(range [0-9.]+, pid ${holder.child.pid} `));
    return true;
  });
  holder.child.kill('SIGKILL');
  await once(holder.child, 'exit');
  const uids = await hostUids(second);
  assert.ok(inRange(uids, second.stats().uidRange), `runs as ${uids.join(', ')}`);
  assert.deepEqual(second.stats().uidRange, { base: range.uidBase, count: range.uidCount });
  // Its execution cgroups (prepared sandboxes gone with it) were the crashed holder's: the new
  // holder of the range removed them at its start.
  assert.deepEqual(childCgroups(holder.child.pid as number), []);
  await second.close();
});

// Proves: a live instance in another PID namespace (its cgroup names carry a pid of that
// namespace, which in ours is another process or none) is not taken for a crashed one: a new
// instance's start-up cleanup leaves its cgroups and their processes alone, doctor lists them as
// another instance's work, not as orphans, and that instance still runs executions afterwards.
test('a live instance in another PID namespace: not cleaned, not an orphan', async (t) => {
  if (skipWithoutSandbox(t)) return;
  if (spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status !== 0) {
    t.skip('unshare --pid --fork --mount-proc does not work here');
    return;
  }
  const other = startChild({}, ['unshare', '--pid', '--fork', '--mount-proc']);
  const hello = await other.next();
  assert.equal(typeof hello.pid, 'number', JSON.stringify(hello));
  const innerPid = hello.pid as number;
  assert.ok(innerPid !== other.child.pid, `its pid inside its namespace (${innerPid}) is not the one we see`);
  const theirs = childCgroups(innerPid);
  assert.ok(theirs.length > 0, 'it holds execution cgroups');
  const driver = openCgroups();
  // Once each of their prepared sandboxes waits in its helper (PID 1 inside), their processes
  // stay until used (before that, bubblewrap's setup processes come and go).
  const sandboxRoots = (): number[] => theirs.flatMap((n) => driver.open(n).pids());
  const ready = (): boolean => theirs.every((n) => driver.open(n).pids().some((pid) => readProcess(pid)?.cmdline[0] === '/.cylo/helper'));
  const before = await waitFor('their prepared sandboxes', () => (ready() ? sandboxRoots() : undefined));

  const mine = newCylo();
  await hostUids(mine); // sets the host up: removes crash leftovers
  const report = await mine.doctor({ clean: false });
  for (const name of theirs) {
    assert.ok(driver.list().includes(name), `${name} is still there`);
    assert.ok(!report.orphans.cgroups.includes(name), `${name} is not reported as an orphan`);
    assert.ok(report.orphans.others.includes(name), `${name} is listed as another live instance's`);
  }
  const after = new Set(sandboxRoots());
  assert.deepEqual(before.filter((pid) => !after.has(pid)), [], 'none of their processes was killed');
  other.child.stdin?.write('run\n');
  const ran = await other.next();
  assert.equal(ran.status, 'ok', JSON.stringify(ran));
  const theirRange = hello.uidRange as { base: number; count: number };
  const myRange = mine.stats().uidRange as { base: number; count: number };
  assert.ok(theirRange.base + theirRange.count <= myRange.base || myRange.base + myRange.count <= theirRange.base, 'their ranges are disjoint');
  other.child.stdin?.end();
  await once(other.child, 'exit');
});

// Proves: doctor without --clean changes nothing (its smoke run sets an instance up without the
// start-up cleanup): a planted dead-owner cgroup, with a process inside, is still there after it
// and reported; doctor --clean removes it. The legacy name (no uid block, an owner pid that does
// not exist) is one the start-up cleanup always removed.
test('doctor without --clean changes nothing; --clean removes leftovers', async (t) => {
  if (skipWithoutSandbox(t)) return;
  const driver = openCgroups();
  const name = `x-${4_000_000 + (process.pid % 100_000)}-${processStartTime('self') ?? '1'}-1`;
  const planted = driver.create(name, { memoryBytes: 64 * 1024 * 1024, pids: 4 });
  const sleeper = spawn('/usr/bin/sleep', ['1000'], { stdio: 'ignore' });
  children.push(sleeper);
  await once(sleeper, 'spawn');
  const sleeperExit = once(sleeper, 'exit');
  for (const procs of planted.procsFiles) writeFileSync(procs, String(sleeper.pid));
  try {
    const report = await newCylo().doctor({ clean: false });
    assert.equal(report.smoke.ok, true, report.smoke.detail);
    assert.ok(report.orphans.cgroups.includes(name), 'reported as a leftover');
    assert.equal(report.orphans.cleaned, false);
    assert.ok(driver.list().includes(name), 'still there after doctor');
    assert.deepEqual(planted.pids(), [sleeper.pid], 'its process untouched');
    const cleaned = await newCylo().doctor({ clean: true });
    assert.ok(cleaned.orphans.cgroups.includes(name) && cleaned.orphans.cleaned);
    assert.ok(!driver.list().includes(name), 'removed by --clean');
    const [, signal] = await sleeperExit;
    assert.equal(signal, 'SIGKILL');
  } finally {
    if (driver.list().includes(name)) await planted.remove().catch(() => {});
  }
});

// Proves: /run/cylo/ranges does not grow with every instance ever started. A released range's
// lock file is removed by its holder; a crashed holder's stays (the kernel drops the lock, not
// the file) until `doctor --clean` sweeps it; a live holder's file is never swept. Fails when
// release only closes the descriptor, or when the sweep ignores the lock.
test('a released range leaves no lock file; --clean sweeps a dead holder\'s, never a live one\'s', async (t) => {
  if (skipWithoutSandbox(t)) return;
  const lockFile = (base: number, count: number): string => `/run/cylo/ranges/${base}-${count}.lock`;
  const released = { uidBase: TEST_UID_BASE + 192, uidCount: 16 };
  const own = newCylo(released);
  assert.equal((await own.execute({ language: 'bash', code: 'true' })).status, 'ok');
  assert.ok(existsSync(lockFile(released.uidBase, released.uidCount)), 'held: its lock file exists');
  await own.close();
  assert.equal(existsSync(lockFile(released.uidBase, released.uidCount)), false, 'released: its lock file is gone');

  const dead = { uidBase: TEST_UID_BASE + 208, uidCount: 16 };
  const crashed = startChild(dead);
  await crashed.next();
  crashed.child.kill('SIGKILL');
  await once(crashed.child, 'exit');
  assert.ok(existsSync(lockFile(dead.uidBase, dead.uidCount)), 'a crashed holder leaves its file');
  const live = { uidBase: TEST_UID_BASE + 224, uidCount: 16 };
  const holder = startChild(live);
  await holder.next();
  const report = await newCylo().doctor({ clean: true });
  assert.ok(report.orphans.staleLocks >= 1, `swept ${report.orphans.staleLocks}`);
  assert.equal(existsSync(lockFile(dead.uidBase, dead.uidCount)), false, 'the dead holder\'s file is swept');
  assert.ok(existsSync(lockFile(live.uidBase, live.uidCount)), 'the live holder\'s file is kept');
  // And still held: another claim of that range is refused.
  await assert.rejects(newCylo(live).execute({ language: 'bash', code: 'true' }), (error: unknown) => error instanceof CyloError && error.code === 'CYLO_E_CONFIG');
});
