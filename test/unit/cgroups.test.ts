// Tests for the cgroup driver on the real host (v1/hybrid or v2): an execution cgroup gets its
// memory limit without swap and its pids limit, can be reconfigured and reset for reuse, and is
// gone after remove(). Skipped visibly when not root on Linux.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCgroups, type CgroupDriver } from '../../src/sandbox/cgroups.js';
import { rootSkipReason } from '../support/host.js';
import { MiB } from '../support/units.js';

/** The cgroup driver, or undefined after a visible skip: this test needs cgroups (root on
 *  Linux), not a host that can run whole sandboxes. */
function driverOrSkip(t: TestContext): CgroupDriver | undefined {
  const reason = rootSkipReason();
  if (reason !== undefined) {
    t.skip(`${reason}: creates real cgroups`);
    return undefined;
  }
  try {
    return openCgroups();
  } catch (error) {
    t.skip(`cgroups unavailable on this host: ${(error as Error).message}`);
    return undefined;
  }
}

const read = (path: string): string => readFileSync(path, 'utf8').trim();

/** The limit files of an execution cgroup, found from its cgroup.procs files. */
function limitFiles(driver: CgroupDriver, procsFiles: string[]): { memory: string; memsw: string | undefined; pids: string } {
  const dirs = procsFiles.map((p) => p.replace(/\/cgroup\.procs$/, ''));
  if (driver.version === 'v2') {
    const dir = dirs[0] as string;
    return { memory: join(dir, 'memory.max'), memsw: existsSync(join(dir, 'memory.swap.max')) ? join(dir, 'memory.swap.max') : undefined, pids: join(dir, 'pids.max') };
  }
  const memDir = dirs.find((d) => existsSync(join(d, 'memory.limit_in_bytes'))) as string;
  const pidsDir = dirs.find((d) => existsSync(join(d, 'pids.max'))) as string;
  const memsw = join(memDir, 'memory.memsw.limit_in_bytes');
  return { memory: join(memDir, 'memory.limit_in_bytes'), memsw: existsSync(memsw) ? memsw : undefined, pids: join(pidsDir, 'pids.max') };
}

test('an execution cgroup gets its memory (no swap) and pids limits, and is gone after remove()', async (t) => {
  const driver = driverOrSkip(t);
  if (driver === undefined) return;
  // Named like an execution cgroup of this (live) process, so that no orphan sweep takes it.
  const name = `x-${process.pid}-${900_000_000 + (Date.now() % 100_000_000)}`;
  const cgroup = driver.create(name, { memoryBytes: 48 * MiB, pids: 7 });
  try {
    assert.ok(driver.list().includes(name));
    assert.equal(cgroup.procsFiles.length, driver.version === 'v2' ? 1 : 3);
    const files = limitFiles(driver, cgroup.procsFiles);
    assert.equal(read(files.pids), '7');
    assert.equal(Number(read(files.memory)), 48 * MiB);
    // No swap: v1 memsw equals the memory limit, v2 swap.max is 0.
    if (files.memsw !== undefined) assert.equal(read(files.memsw), driver.version === 'v2' ? '0' : String(48 * MiB));
    assert.deepEqual(cgroup.pids(), []);
    const stats = cgroup.stats();
    assert.equal(stats.oomKilled, false);
    assert.ok(stats.cpuMs >= 0);

    // Reuse with other limits: raising and lowering both work (v1 memsw ordering).
    cgroup.configure({ memoryBytes: 96 * MiB, pids: 9 });
    assert.equal(Number(read(files.memory)), 96 * MiB);
    assert.equal(read(files.pids), '9');
    cgroup.configure({ memoryBytes: 16 * MiB, pids: 3 });
    assert.equal(Number(read(files.memory)), 16 * MiB);
    if (files.memsw !== undefined && driver.version === 'v1') assert.equal(read(files.memsw), String(16 * MiB));
    await cgroup.reset();
    assert.equal(cgroup.stats().cpuMs, 0);
    assert.equal(await cgroup.killAll(), true, 'an empty cgroup is already empty');
  } finally {
    await cgroup.remove();
  }
  assert.equal(driver.list().includes(name), false);
  for (const procs of cgroup.procsFiles) assert.equal(existsSync(procs), false, `${procs} is removed`);
  // remove() twice is harmless.
  await cgroup.remove();
});

test('the cylo subtree lies under this process\'s own cgroup', (t) => {
  const driver = driverOrSkip(t);
  if (driver === undefined) return;
  const own = readFileSync('/proc/self/cgroup', 'utf8');
  for (const base of driver.baseDirs) {
    assert.ok(base.endsWith('/cylo'), base);
    assert.ok(existsSync(base), `${base} exists`);
    // v2: the first test's driver already moved this process into the cylo-service leaf; this
    // second driver must work from the leaf's parent, not nest a leaf per instance.
    if (driver.version === 'v2') assert.ok(!base.includes('/cylo-service/'), `${base} is nested under the service leaf`);
  }
  if (driver.version === 'v1') {
    // e.g. memory:/some/path -> /sys/fs/cgroup/memory/some/path/cylo
    const memLine = own.split('\n').find((l) => l.split(':')[1]?.split(',').includes('memory'));
    const memPath = memLine?.split(':').slice(2).join(':') ?? '/';
    assert.ok(driver.baseDirs.some((b) => b.endsWith(join(memPath, 'cylo'))), `${driver.baseDirs.join(', ')} vs ${memPath}`);
  }
});

test('cpuShare: v2 writes cpu.max as quota and period (max when unset); v1 refuses it', async (t) => {
  // Proves the share reaches the kernel's file (v2) and is never silently dropped (v1): the
  // behaviour (a busy loop held to its share) is test/integration/cpu-share.test.ts.
  const driver = driverOrSkip(t);
  if (driver === undefined) return;
  const name = `x-${process.pid}-${800_000_000 + (Date.now() % 100_000_000)}`;
  if (driver.version === 'v1') {
    assert.throws(() => driver.create(name, { memoryBytes: 48 * MiB, pids: 7, cpuShare: 0.5 }), /cpuShare needs cgroup v2/);
    assert.equal(driver.list().includes(name), false, 'nothing is left behind');
    return;
  }
  const cgroup = driver.create(name, { memoryBytes: 48 * MiB, pids: 7, cpuShare: 0.5 });
  try {
    const cpuMaxFile = join(cgroup.procsFiles[0]?.replace(/\/cgroup\.procs$/, '') ?? '', 'cpu.max');
    assert.equal(read(cpuMaxFile), '50000 100000');
    cgroup.configure({ memoryBytes: 48 * MiB, pids: 7, cpuShare: 2 });
    assert.equal(read(cpuMaxFile), '200000 100000');
    cgroup.configure({ memoryBytes: 48 * MiB, pids: 7 });
    assert.equal(read(cpuMaxFile), 'max 100000', 'no share: no cap');
    cgroup.configure({ memoryBytes: 48 * MiB, pids: 7, cpuShare: 0.001 });
    assert.equal(read(cpuMaxFile), '1000 100000', "the kernel's smallest quota (1 ms)");
  } finally {
    await cgroup.remove();
  }
});
