// The microVM backend's pure parts: the host end of the guest channel (bounds on what an
// untrusted guest sends), QEMU's argv (what must never be there), the accelerator choice (no
// fallback), the stage frame the agent parses, and the outcome of a VM that died mid-stage.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeChunks, encodeFrame, FRAME_MAX, FrameDecoder, parseDone, CHUNK_BYTES } from '../../src/microvm/channel.js';
import { buildQemuArgv, FD_SNAPSHOT, kernelCmdline, hostTscKhz, type VmPlan } from '../../src/microvm/qemu-argv.js';
import { buildJailArgv } from '../../src/microvm/jail.js';
import { chooseAccelerator, hardwareKvm } from '../../src/microvm/accelerator.js';
import { stageFrame } from '../../src/microvm/microvm-backend.js';
import { classifyStage } from '../../src/engine/outcome.js';
import { CyloError } from '../../src/errors.js';

const frame = (ch: string, payload: Buffer): Buffer => Buffer.concat([Buffer.from(ch, 'latin1'), Buffer.from(new Uint32Array([payload.length]).buffer), payload]);

test('guest frames are split across chunk boundaries and delivered whole', () => {
  // Proves: a frame cut anywhere by the socket is reassembled, in order.
  const got: string[] = [];
  const d = new FrameDecoder((ch, p) => got.push(`${ch}:${p.toString()}`));
  const bytes = Buffer.concat([frame('O', Buffer.from('hello')), frame('E', Buffer.from('')), frame('T', Buffer.from('R 5\n'))]);
  for (const b of bytes) d.push(Buffer.from([b]));
  assert.deepEqual(got, ['O:hello', 'E:', 'T:R 5\n']);
  assert.equal(d.error, null);
});

test('a guest frame longer than FRAME_MAX or on an unknown channel is refused, nothing read past it', () => {
  // Proves: an untrusted guest cannot make the host buffer without bound or parse garbage.
  let delivered = 0;
  const big = new FrameDecoder(() => (delivered += 1));
  const header = Buffer.alloc(5);
  header.write('O', 0, 'latin1');
  header.writeUInt32LE(FRAME_MAX + 1, 1);
  big.push(header);
  assert.match(big.error ?? '', /frame of \d+ bytes/);
  big.push(frame('O', Buffer.from('after')));
  assert.equal(delivered, 0);
  const unknown = new FrameDecoder(() => (delivered += 1));
  unknown.push(frame('Z', Buffer.from('x')));
  assert.match(unknown.error ?? '', /unknown channel/);
  assert.equal(delivered, 0);
});

test('host frames: header, chunking, bound', () => {
  // Proves: what the agent reads is u8 channel + u32 LE length, data cut at CHUNK_BYTES.
  assert.deepEqual([...encodeFrame('P')], [0x50, 0, 0, 0, 0]);
  const chunks = encodeChunks('B', Buffer.alloc(CHUNK_BYTES * 2 + 1));
  assert.equal(chunks.length, 3);
  assert.equal(chunks[2]?.readUInt32LE(1), 1);
  assert.deepEqual(encodeChunks('I', Buffer.alloc(0)), []);
  assert.throws(() => encodeFrame('B', Buffer.alloc(FRAME_MAX + 1)), RangeError);
});

test("the end-of-stage frame is parsed strictly", () => {
  // Proves: only the agent's exact format yields counters (a malformed one is a lost isolation).
  assert.deepEqual(parseDone(Buffer.from('oom=1 pids=0 peak=1048576 code=0')), { oomKills: 1, pidsMax: 0, memoryPeakBytes: 1048576 });
  assert.equal(parseDone(Buffer.from('oom=1 pids=0 peak=1 code=0 extra')), null);
  assert.equal(parseDone(Buffer.from('oom=99999999999999999999 pids=0 peak=1 code=0')), null);
});

const plan: VmPlan = { qemuPath: '/usr/bin/qemu-system-x86_64', accelerator: 'tcg', memoryMiB: 384, kernel: '/k', initramfs: '/i', runtimes: '/r.ext4', nodePackages: null, socket: '/s/job.sock', tscKhz: 2100000, seedHex: 'ab'.repeat(32) };

test('QEMU argv: no network device, QEMU seccomp on, runtime disk read-only, no defaults', () => {
  // Proves: the flags the VM's isolation rests on are there, and no NIC can be.
  const argv = buildQemuArgv(plan);
  const joined = argv.join(' ');
  assert.ok(!/-net|-nic|netdev|virtio-net/.test(joined), joined);
  assert.ok(argv.includes('-nodefaults') && argv.includes('-no-user-config') && argv.includes('-no-reboot'));
  assert.equal(argv[argv.indexOf('-sandbox') + 1], 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny');
  assert.match(argv[argv.indexOf('-drive') + 1] ?? '', /readonly=on/);
  assert.equal(argv[argv.indexOf('-M') + 1], 'microvm,rtc=on');
  assert.match(kernelCmdline(plan), /panic=-1/);
  assert.match(kernelCmdline(plan), /cylo\.seed=(ab){32}/);
  assert.doesNotMatch(kernelCmdline(plan), /cylo\.panic/);
  assert.match(kernelCmdline({ ...plan, panicOnStage: true }), /cylo\.panic=1/);
  assert.equal(hostTscKhz('cpu MHz\t\t: 2100.000\n'), 2100000);
});

test('snapshot argv: a restore reads fd 5, the monitor and migration sockets are host-made and bound read-only, disks found by serial', () => {
  // Proves: a restored VM gets its snapshot only as an inherited fd (-incoming fd:5, never exec:
  // which -sandbox spawn=deny forbids, never a path QEMU could write), the monitor is a client
  // connection to the host's socket, and the npm packages disk is read-only like the runtimes.
  const restored = buildQemuArgv({ ...plan, qmpSocket: '/s/qmp.sock', incoming: true, nodePackages: '/n.ext4' });
  assert.equal(restored[restored.indexOf('-incoming') + 1], `fd:${FD_SNAPSHOT}`);
  assert.ok(restored.includes('socket,id=qmp,path=/s/qmp.sock') && restored.includes('chardev=qmp,mode=control'));
  assert.ok(restored.includes('file=/n.ext4,if=none,format=raw,readonly=on,id=np'));
  assert.ok(restored.includes('virtio-blk-device,drive=rt,serial=cylo-usr') && restored.includes('virtio-blk-device,drive=np,serial=cylo-node'));
  const booted = buildQemuArgv(plan);
  assert.ok(!booted.includes('-incoming') && !booted.includes('-mon'), 'a plain VM has no monitor and no incoming migration');
  const jail = buildJailArgv({ helperPath: '/h', bwrapPath: '/usr/bin/bwrap', uid: 2000000001, gid: 2000000001, cgroupProcs: [], symlinks: [], migrationSocket: '/s/migration.sock', vm: { ...plan, qmpSocket: '/s/qmp.sock' } });
  for (const path of ['/s/qmp.sock', '/s/migration.sock']) assert.equal(jail[jail.indexOf(path) - 1], '--ro-bind', path);
});

test("QEMU's jail: unprivileged uid, cgroup first, every namespace, /dev/kvm only with KVM", () => {
  // Proves: QEMU is started by the outer helper (cgroup, uid drop) into bubblewrap's namespaces.
  const jail = { helperPath: '/h', bwrapPath: '/usr/bin/bwrap', uid: 2000000001, gid: 2000000001, cgroupProcs: ['/cg/cgroup.procs'], symlinks: [{ target: 'usr/lib', link: '/lib' }] };
  const argv = buildJailArgv({ ...jail, vm: plan });
  assert.deepEqual(argv.slice(0, 2), ['/h', 'outer']);
  assert.equal(argv[argv.indexOf('--uid') + 1], '2000000001');
  assert.equal(argv[argv.indexOf('--cgroup-procs') + 1], '/cg/cgroup.procs');
  for (const flag of ['--unshare-user', '--unshare-pid', '--unshare-net', '--unshare-ipc', '--die-with-parent', '--clearenv', '--new-session']) assert.ok(argv.includes(flag), flag);
  assert.ok(!argv.includes('/dev/kvm'));
  assert.ok(buildJailArgv({ ...jail, vm: { ...plan, accelerator: 'kvm' } }).includes('/dev/kvm'));
});

test('accelerator: KVM only with kvm_intel/kvm_amd, TCG only when allowed, otherwise refused', () => {
  // Proves: no fallback: a paravirtual KVM (kvm_pvm) is not KVM, and without TCG allowed the
  // refusal names KVM and the fix.
  const root = mkdtempSync(join(tmpdir(), 'cylo-accel-'));
  try {
    const sys = join(root, 'module');
    const dev = join(root, 'kvm');
    mkdirSync(join(sys, 'kvm_pvm'), { recursive: true });
    writeFileSync(dev, '');
    assert.equal(hardwareKvm({ sysModule: sys, devKvm: dev }), null);
    assert.equal(chooseAccelerator(true, { sysModule: sys, devKvm: dev }), 'tcg');
    assert.throws(() => chooseAccelerator(false, { sysModule: sys, devKvm: dev }), (e: CyloError) => e.code === 'CYLO_E_SANDBOX_UNAVAILABLE' && e.layer === 'kvm' && /kvm_pvm/.test(e.message) && /CYLO_MICROVM_ALLOW_TCG=1/.test(e.message));
    mkdirSync(join(sys, 'kvm_amd'));
    assert.equal(chooseAccelerator(false, { sysModule: sys, devKvm: dev }), 'kvm');
    rmSync(dev);
    assert.equal(hardwareKvm({ sysModule: sys, devKvm: dev }), null);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("the stage frame: the guest cgroup's limits, then the helper's inner argv", () => {
  // Proves: the agent gets the request's memory/pids/workspace limits and runs only the helper.
  const f = stageFrame({ limits: { timeoutMs: 1, cpuTimeMs: 1, memoryBytes: 64 << 20, pids: 12, outputBytes: 1, workspaceBytes: 1 << 20 } }).toString('utf8');
  const [header, rest] = [f.slice(0, f.indexOf('\n')), f.slice(f.indexOf('\n') + 1)];
  assert.equal(header, `mem=${64 << 20} pids=12 ws=${1 << 20}`);
  const argv = rest.split('\0');
  assert.equal(argv.pop(), '');
  assert.deepEqual(argv.slice(0, 2), ['/.cylo/helper', 'inner']);
  assert.ok(argv.includes('--landlock') && argv.includes('--rw') && argv[argv.indexOf('--rw') + 1] === '/work');
});

test('a VM that died mid-stage is internal_error naming why; a stop by cylo is not', () => {
  // Proves: classifyStage reports a lost isolation (a guest kernel panic) as internal_error with
  // the reason, and a timeout stop still wins over it.
  const base = { stopReason: null, setupError: null, exit: null, oomKilled: false, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), stdoutTruncated: false, stderrTruncated: false, wallMs: 1, cpuMs: 1, memoryBytes: 1 } as const;
  const limits = { timeoutMs: 1000, cpuTimeMs: 1000, memoryBytes: 1, pids: 1, outputBytes: 1, workspaceBytes: 1 };
  const lost = classifyStage({ ...base, isolationLost: 'QEMU exited (code 0); guest console: Kernel panic - not syncing: sysrq triggered crash' }, 'run', limits, 'utf8');
  assert.equal(lost.status, 'internal_error');
  assert.match(lost.message ?? '', /Kernel panic/);
  assert.equal(classifyStage({ ...base, stopReason: 'timeout', isolationLost: 'x' }, 'run', limits, 'utf8').status, 'timeout');
});
