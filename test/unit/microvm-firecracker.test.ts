// Firecracker as the microVM monitor, its pure parts (this machine has no firecracker binary and
// no hardware KVM, so no Firecracker VM boots here: test/microvm/firecracker.test.ts has the
// integration tests, skipped visibly): the --config-file JSON built from a VM's plan, the jail
// around Firecracker (the same as QEMU's, its default seccomp kept), finding the binary, the KVM
// rule, the guest's kernel command line, and the uncompressed kernel taken from the real
// vmlinuz. Cost: about a second (the kernel's decompression).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CyloError } from '../../src/errors.js';
import { findFirecracker, firecrackerBootArgs, firecrackerConfig, firecrackerLaunch, GUEST_CID, JAIL_VSOCK, requireKvmForFirecracker, VSOCK_PORT, type FirecrackerPlan } from '../../src/microvm/firecracker.js';
import { buildMonitorJail } from '../../src/microvm/jail.js';
import { bzImagePayload, extractVmlinux } from '../../src/microvm/vmlinux.js';

const plan: FirecrackerPlan = {
  firecrackerPath: '/usr/local/bin/firecracker',
  memoryMiB: 352,
  vmlinux: '/w/vmlinux',
  initramfs: '/w/initramfs.gz',
  runtimes: '/g/runtimes.ext4',
  nodePackages: '/w/node.ext4',
  socket: '/w/vm-1/job.sock',
  configFile: '/w/vm-1/firecracker.json',
  bootArgs: firecrackerBootArgs('console=ttyS0 panic=-1 oops=panic'),
};

test("Firecracker's config: the VM's memory, one vCPU, read-only disks, the initramfs, vsock, no network", () => {
  // Proves: the JSON objects of Firecracker's API carry the job's guest RAM and nothing that
  // loosens the VM (a writable disk, a network interface, a root device).
  const config = firecrackerConfig(plan) as { 'boot-source': Record<string, string>; drives: Array<Record<string, unknown>>; 'machine-config': Record<string, unknown>; vsock: Record<string, unknown>; 'network-interfaces': unknown[] };
  assert.deepEqual(config['machine-config'], { vcpu_count: 1, mem_size_mib: 352, smt: false });
  assert.deepEqual(config['boot-source'], { kernel_image_path: '/w/vmlinux', initrd_path: '/w/initramfs.gz', boot_args: plan.bootArgs });
  assert.deepEqual(config.drives.map((d) => [d.drive_id, d.path_on_host, d.is_read_only, d.is_root_device]), [['cylo-usr', '/g/runtimes.ext4', true, false], ['cylo-node', '/w/node.ext4', true, false]]);
  assert.deepEqual(config.vsock, { guest_cid: GUEST_CID, uds_path: JAIL_VSOCK });
  assert.deepEqual(config['network-interfaces'], []);
  assert.equal((firecrackerConfig({ ...plan, nodePackages: null }) as { drives: unknown[] }).drives.length, 1);
  // The agent's transport and the reboot that ends Firecracker are on the command line.
  assert.match(plan.bootArgs, new RegExp(`(^| )cylo\\.vsock=${VSOCK_PORT}( |$)`));
  assert.match(plan.bootArgs, / reboot=k /);
});

test("Firecracker's jail: the same jail as QEMU's, no API socket, its seccomp kept, the job socket at the vsock path", () => {
  // Proves: Firecracker runs under the outer helper (uid drop, cgroup) in bubblewrap's namespaces
  // with /dev/kvm; `--no-seccomp` is never passed; no API socket is opened; the host's own
  // listening socket is where Firecracker connects the guest's vsock stream (uds_path_PORT).
  const argv = buildMonitorJail({ helperPath: '/h', bwrapPath: '/usr/bin/bwrap', uid: 2000000001, gid: 2000000001, cgroupProcs: ['/cg/cgroup.procs'], symlinks: [] }, firecrackerLaunch(plan));
  assert.deepEqual(argv.slice(0, 2), ['/h', 'outer']);
  assert.equal(argv[argv.indexOf('--uid') + 1], '2000000001');
  assert.equal(argv[argv.indexOf('--cgroup-procs') + 1], '/cg/cgroup.procs');
  for (const flag of ['--unshare-user', '--unshare-pid', '--unshare-net', '--unshare-ipc', '--die-with-parent', '--clearenv', '--new-session', '--disable-userns']) assert.ok(argv.includes(flag), flag);
  assert.equal(argv[argv.indexOf('/dev/kvm') - 1], '--dev-bind');
  const command = argv.slice(argv.lastIndexOf('--') + 1);
  assert.deepEqual(command.slice(0, 4), ['/usr/local/bin/firecracker', '--no-api', '--config-file', '/w/vm-1/firecracker.json']);
  assert.ok(!argv.includes('--no-seccomp') && !argv.includes('--seccomp-filter') && !argv.includes('--api-sock'));
  assert.equal(argv[argv.indexOf(`${JAIL_VSOCK}_${VSOCK_PORT}`) - 1], '/w/vm-1/job.sock');
  for (const file of ['/w/vmlinux', '/w/initramfs.gz', '/g/runtimes.ext4', '/w/node.ext4', '/w/vm-1/firecracker.json']) assert.equal(argv[argv.indexOf(file) - 1], '--ro-bind', file);
  // A binary outside /usr is bound read-only; one under /usr comes with /usr.
  const outside = buildMonitorJail({ helperPath: '/h', bwrapPath: '/usr/bin/bwrap', uid: 1, gid: 1, cgroupProcs: [], symlinks: [] }, firecrackerLaunch({ ...plan, firecrackerPath: '/opt/fc/firecracker' }));
  assert.equal(outside[outside.indexOf('/opt/fc/firecracker') - 1], '--ro-bind');
});

test('the firecracker binary: CYLO_FIRECRACKER, else PATH; absent is refused naming the layer and the fix', () => {
  // Proves: asking for Firecracker where it is not is CYLO_E_SANDBOX_UNAVAILABLE (layer
  // firecracker) with the fix, never a silent QEMU.
  const dir = mkdtempSync(join(tmpdir(), 'cylo-fc-test-'));
  try {
    const refused = (env: NodeJS.ProcessEnv, pattern: RegExp): void => {
      assert.throws(() => findFirecracker(env), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_SANDBOX_UNAVAILABLE' && e.layer === 'firecracker' && pattern.test(e.message) && /microvmMonitor "qemu"/.test(e.message));
    };
    refused({ PATH: dir }, /no firecracker binary on PATH.*CYLO_FIRECRACKER/);
    refused({ PATH: dir, CYLO_FIRECRACKER: join(dir, 'absent') }, /is not an existing absolute path/);
    refused({ PATH: dir, CYLO_FIRECRACKER: 'firecracker' }, /is not an existing absolute path/);
    const bin = join(dir, 'firecracker');
    writeFileSync(bin, '');
    chmodSync(bin, 0o755);
    assert.equal(findFirecracker({ PATH: `/nonexistent:${dir}` }), bin);
    assert.equal(findFirecracker({ PATH: '', CYLO_FIRECRACKER: bin }), bin);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Firecracker needs hardware KVM: software emulation is refused, naming KVM', () => {
  // Proves: microvmAllowTcg does not let Firecracker run (it has no TCG), and says what to do.
  assert.throws(() => requireKvmForFirecracker('tcg'), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_SANDBOX_UNAVAILABLE' && e.layer === 'firecracker' && /KVM/.test(e.message));
  assert.doesNotThrow(() => requireKvmForFirecracker('kvm'));
});

const VMLINUZ = join(process.env.CYLO_GUEST_DIR ?? '/usr/local/lib/cylo/guest', 'kernel/vmlinuz');

test('the uncompressed guest kernel: the ELF file inside the real vmlinuz', { skip: existsSync(VMLINUZ) ? undefined : `no guest kernel at ${VMLINUZ} (scripts/guest/kernel.sh)` }, () => {
  // Proves: the payload is found from the bzImage's setup header and decoded (Debian's is LZ4:
  // fails with a wrong offset) into an x86-64 ELF kernel, byte-identical to lz4's own output.
  const image = readFileSync(VMLINUZ);
  const vmlinux = extractVmlinux(image);
  assert.equal(vmlinux.readUInt32BE(0), 0x7f454c46, 'not an ELF file');
  assert.equal(vmlinux[4], 2, 'not a 64-bit ELF');
  assert.equal(vmlinux.readUInt16LE(18), 0x3e, 'not x86-64');
  assert.ok(vmlinux.length > image.length, 'no bigger than the compressed image');
  const payload = bzImagePayload(image);
  const lz4 = spawnSync('lz4', ['-dc'], { input: payload, maxBuffer: 512 * 1024 * 1024 });
  if (lz4.status === 0 && payload.readUInt32LE(0) === 0x184c2102) assert.ok(lz4.stdout.equals(vmlinux), 'differs from lz4 -dc');
});

test('not a bzImage, or a broken payload, is refused (layer firecracker)', () => {
  // Proves: a file without a setup header, or whose payload cannot be decompressed, is refused
  // with the layer named, not handed to Firecracker.
  const refused = (fn: () => unknown): void => assert.throws(fn, (e: unknown) => e instanceof CyloError && e.layer === 'firecracker');
  refused(() => extractVmlinux(Buffer.alloc(4096)));
  if (!existsSync(VMLINUZ)) return;
  const image = Buffer.from(readFileSync(VMLINUZ));
  const payload = bzImagePayload(image);
  payload.fill(0x55, 64, 4096); // a corrupted LZ4 stream
  refused(() => extractVmlinux(image));
});
