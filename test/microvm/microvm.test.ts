// The microVM backend with real guests: QEMU boots Debian's cloud kernel with the guest agent,
// and every execution below ran behind its own guest kernel. On this machine /dev/kvm is a
// paravirtual one (kvm_pvm) that cannot boot the guest, so these run under QEMU's software
// emulation (TCG, allowed explicitly) and say so in their names; on a KVM host the same tests
// run with KVM. Sequential, one VM pool of 1 (the next VM boots while a test checks its result),
// generous one-sided time bounds only.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createCylo, type Cylo } from '../../src/index.js';
import { hardwareKvm } from '../../src/microvm/accelerator.js';
import { CyloError } from '../../src/errors.js';
import { TEST_UID_BASE } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { skipWithoutPreflight } from '../support/preflight.js';
import { cgroupsNamed, readProcess } from '../support/processes.js';
import { MiB } from '../support/units.js';
import { waitFor } from '../support/wait.js';

const GUEST = process.env.CYLO_GUEST_DIR ?? '/usr/local/lib/cylo/guest';
function microvmSkipReason(): string | undefined {
  const sandbox = sandboxSkipReason();
  if (sandbox !== undefined) return sandbox;
  if (!existsSync('/usr/bin/qemu-system-x86_64')) return 'qemu-system-x86_64 is not installed (scripts/setup.sh installs it)';
  if (!existsSync(join(GUEST, 'kernel/vmlinuz'))) return `no guest kernel in ${GUEST} (scripts/guest/kernel.sh)`;
  if (!existsSync(join(GUEST, 'runtimes.ext4'))) return `no runtime image in ${GUEST} (scripts/guest/runtime-image.sh)`;
  return undefined;
}
const skip = microvmSkipReason();
const accel = hardwareKvm() === null ? 'software emulation (TCG)' : 'KVM';
// Above the shared test instance's range (TEST_UID_BASE + 128 uids, used by the pre-flight).
const UID_BASE = TEST_UID_BASE + 128;
const LIMITS = { timeoutMs: 60_000, cpuTimeMs: 60_000, memoryBytes: 128 * MiB, pids: 32, outputBytes: 256 * 1024, workspaceBytes: 16 * MiB, compileTimeoutMs: 120_000, compileMemoryBytes: 256 * MiB };

function microCylo(extra: Parameters<typeof createCylo>[0] = {}): Cylo {
  return createCylo({ microvmAllowTcg: true, microvmMemoryMiB: 384, microvmPool: 1, concurrency: 1, defaultLimits: LIMITS, uidBase: UID_BASE, uidCount: 16, isolation: 'microvm', ...extra });
}

const guestDirs = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('cylo-guest-'));
/** Guest directories that existed before this file ran (another process's, or a killed run's
 *  leftovers): not this process's. Test files run one at a time (scripts/run-tests.js). */
const foreignGuestDirs = new Set(guestDirs());

/** The VM directories (socket, per VM) of this process's instances. */
function vmDirs(): string[] {
  const dirs: string[] = [];
  for (const d of guestDirs().filter((n) => !foreignGuestDirs.has(n))) {
    try {
      dirs.push(...readdirSync(join(tmpdir(), d)).filter((n) => n.startsWith('vm-')));
    } catch {
      // another process's, or gone
    }
  }
  return dirs;
}

/** QEMU processes descended from this process (through the outer helper and bubblewrap). */
function ourQemus(): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const p = readProcess(Number(entry));
    if (p === undefined || !(p.cmdline[0] ?? '').endsWith('qemu-system-x86_64')) continue;
    let pid = p.ppid;
    for (let depth = 0; depth < 8 && pid > 1; depth++) {
      if (pid === process.pid) found.push(p.pid);
      pid = readProcess(pid)?.ppid ?? 0;
    }
  }
  return found;
}

describe(`microVM backend, ${accel}`, { skip }, () => {
  const cylo = skip === undefined ? microCylo() : undefined;
  const c = (): Cylo => cylo as Cylo;
  after(async () => {
    await cylo?.close({ graceMs: 0 });
  });

  test(`hello world in Python, bash and JavaScript through the VM (${accel})`, async () => {
    // Proves: interpreted languages run in the guest from the read-only runtime image, and the
    // result names the backend that ran them.
    for (const [language, code] of [['python', 'print("hello from python")'], ['bash', 'echo "hello from bash"'], ['javascript', 'console.log("hello from javascript")']] as const) {
      const r = await c().execute({ language, code });
      assert.equal(r.status, 'ok', `${language}: ${JSON.stringify(r.run)}`);
      assert.equal(r.backend, 'microvm');
      assert.equal(r.run?.stdout, `hello from ${language}\n`);
    }
  });

  test(`a compiled language (C) compiles and runs in the VM (${accel})`, async () => {
    // Proves: the compile stage (gcc from the image) and the run stage both ran in the guest.
    const r = await c().execute({ language: 'c', code: '#include <stdio.h>\nint main(void){puts("hello from c");return 0;}' });
    assert.equal(r.status, 'ok', JSON.stringify({ compile: r.compile, run: r.run }));
    assert.equal(r.compile?.status, 'ok');
    assert.equal(r.run?.stdout, 'hello from c\n');
  });

  test(`the guest kernel is not the host's, no network but lo, host files invisible (${accel})`, async () => {
    // Proves: the program ran on another kernel (release and /proc/version differ from the
    // host's), the VM has no network device, and a file on the host is not there.
    const marker = join(tmpdir(), `cylo-microvm-marker-${process.pid}`);
    writeFileSync(marker, 'host secret');
    try {
      const code = ['import os, platform', 'print(platform.release())', 'print(open("/proc/version").read().strip())', 'print(",".join(sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:])))', `print(os.path.exists(${JSON.stringify(marker)}), os.path.exists(${JSON.stringify(join(process.cwd(), 'package.json'))}), os.path.exists("/home"))`].join('\n');
      const r = await c().execute({ language: 'python', code });
      assert.equal(r.status, 'ok', JSON.stringify(r.run));
      const [guestRelease, guestVersion, nets, files] = (r.run?.stdout ?? '').trim().split('\n');
      assert.notEqual(guestRelease, release(), 'uname -r inside equals the host kernel');
      assert.notEqual(guestVersion, readFileSync('/proc/version', 'utf8').trim());
      assert.match(guestRelease ?? '', /cloud/);
      assert.equal(nets, 'lo');
      assert.equal(files, 'False False False');
    } finally {
      rmSync(marker, { force: true });
    }
  });

  test(`QEMU runs as an unprivileged uid in its own namespaces (${accel})`, async () => {
    // Proves: the monitor is jailed: not root, not in the service's user/pid/net/mount namespaces.
    // The pool's next VM is booting or booted after the tests above.
    let qemus: number[] = [];
    for (let i = 0; i < 600 && qemus.length === 0; i++) {
      qemus = ourQemus();
      if (qemus.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(qemus.length > 0, 'no QEMU of this test process found');
    for (const pid of qemus) {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const uids = (/^Uid:\s+(.*)$/m.exec(status)?.[1] ?? '').split(/\s+/).map(Number);
      for (const uid of uids) assert.ok(uid >= UID_BASE && uid < UID_BASE + 16, `QEMU uid ${uid} is not one of this instance's unprivileged uids`);
      assert.match(status, /^CapEff:\s+0+$/m, 'QEMU has capabilities');
      for (const ns of ['user', 'pid', 'net', 'mnt', 'ipc']) {
        assert.notEqual(readlinkNs(pid, ns), readlinkNs(process.pid, ns), `QEMU shares the service's ${ns} namespace`);
      }
    }
  });

  test(`memory bomb, fork bomb, infinite loop and output flood each end right, nothing left (${accel})`, async (t) => {
    if (await skipWithoutPreflight(t)) return;
    // Proves: the guest cgroup's memory and pids limits, the host's wall-clock kill and the
    // host's output cap each end the program with the right status.
    const memory = await c().execute({ language: 'python', code: 'data = []\nwhile True:\n    data.append(bytearray(8 << 20))', limits: { memoryBytes: 64 * MiB } });
    assert.equal(memory.status, 'memory_limit', JSON.stringify(memory.run));
    const fork = await c().execute({ language: 'python', code: 'import os, time\nwhile True:\n    if os.fork() == 0:\n        time.sleep(30)\n        os._exit(0)', limits: { pids: 12 } });
    assert.equal(fork.status, 'runtime_error', JSON.stringify(fork.run));
    assert.equal(fork.run?.limit, 'pids');
    const loop = await c().execute({ language: 'python', code: 'while True:\n    pass', limits: { timeoutMs: 3000 } });
    assert.equal(loop.status, 'timeout', JSON.stringify(loop.run));
    assert.equal(loop.run?.limit, 'wall');
    // The CPU-time limit, held from the host against the guest's counter (wall limit far off).
    const spin = await c().execute({ language: 'python', code: 'while True:\n    pass', limits: { cpuTimeMs: 1500, timeoutMs: 60_000 } });
    assert.equal(spin.status, 'timeout', JSON.stringify(spin.run));
    assert.equal(spin.run?.limit, 'cpu');
    const flood = await c().execute({ language: 'python', code: 'while True:\n    print("x" * 1000)', limits: { outputBytes: 64 * 1024 } });
    assert.equal(flood.status, 'output_limit', JSON.stringify(flood.run));
    assert.equal(flood.run?.stdout.length, 64 * 1024);
    // Nothing of these VMs is left: at most the pool's next VM runs, one VM directory (its own).
    await waitFor('the stopped VMs to be gone', () => ourQemus().length <= 1 || undefined, 30_000);
    await waitFor('one VM directory at most', () => vmDirs().length <= 1 || undefined, 30_000);
  });

  test(`a microvm request is refused clearly where it cannot run (${accel})`, async () => {
    // Proves: no silent fallback: without KVM and without TCG allowed, CYLO_E_SANDBOX_UNAVAILABLE
    // names KVM and the fix; an isolation the operator does not offer is CYLO_E_UNSUPPORTED.
    const noTcg = createCylo({ microvmAllowTcg: false, uidBase: UID_BASE + 16, uidCount: 8, concurrency: 1 });
    try {
      if (hardwareKvm() === null) {
        await assert.rejects(noTcg.execute({ language: 'python', code: 'print(1)', isolation: 'microvm' }), (e: CyloError) => e.code === 'CYLO_E_SANDBOX_UNAVAILABLE' && /kvm/.test(e.message) && /CYLO_MICROVM_ALLOW_TCG=1/.test(e.message));
      }
    } finally {
      await noTcg.close();
    }
    const onlyNamespaces = createCylo({ isolations: ['namespaces'], uidBase: UID_BASE + 24, uidCount: 8, concurrency: 1 });
    try {
      await assert.rejects(onlyNamespaces.execute({ language: 'python', code: 'print(1)', isolation: 'microvm' }), (e: CyloError) => e.code === 'CYLO_E_UNSUPPORTED' && e.field === 'isolation');
    } finally {
      await onlyNamespaces.close();
    }
  });
});

describe(`microVM guest kernel panic, ${accel}`, { skip }, () => {
  test(`a guest kernel panic ends as internal_error and the pool recovers (${accel})`, async () => {
    // Proves: a crashed guest kernel is reported as internal_error with the panic named, and the
    // next execution gets a fresh VM that works. Only the first VM panics (a test-only option
    // that puts cylo.panic=1 on that guest's kernel command line; no request can).
    const cylo = microCylo({ microvmTestPanicVms: 1 });
    try {
      const crashed = await cylo.execute({ language: 'python', code: 'print("never")' });
      assert.equal(crashed.status, 'internal_error', JSON.stringify(crashed.run));
      assert.match(crashed.run?.message ?? '', /panic|QEMU exited|channel closed/i);
      const next = await cylo.execute({ language: 'python', code: 'print("recovered")' });
      assert.equal(next.status, 'ok', JSON.stringify(next.run));
      assert.equal(next.run?.stdout, 'recovered\n');
    } finally {
      await cylo.close({ graceMs: 0 });
    }
    // Proves: after close, no QEMU, VM cgroup or VM directory of this process is left.
    assert.deepEqual(ourQemus(), []);
    assert.deepEqual(cgroupsNamed(`x-${process.pid}-`).filter((name) => name.endsWith(`-r${UID_BASE}.16`)), []);
    assert.deepEqual(vmDirs(), []);
  });
});

/** The namespace of a process, e.g. "user:[4026531837]". */
function readlinkNs(pid: number, ns: string): string {
  return readlinkSync(`/proc/${pid}/ns/${ns}`);
}
