// Hostile corpus, kernel attack surface: nested user namespaces, mount (old and new API),
// pivot_root, ptrace, process_vm_readv, keyctl, bpf, perf_event_open, io_uring, userfaultfd,
// TIOCSTI (also with the high bits set, CVE-2019-10063), x32 and i386 syscalls, personality,
// AF_VSOCK, setns, module loading, the clock, identity changes. C and Go make raw syscalls, Python
// goes through ctypes, JavaScript and Bash through the binaries a program could run. Each probe
// asserts the exact errno; the relaxed run shows which errno is seccomp's own.
//
// SAFETY: every test calls skipWithoutPreflight(t) first, has a 20 s timeout and tight limits; every call
// is made with harmless arguments (e.g. reboot with a wrong magic number), so even a broken
// sandbox would not change the machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getCylo } from '../support/cylo.js';
import { skipWithoutPreflight } from '../support/preflight.js';
import { uniqueMarker } from '../support/processes.js';
import { assertHostClean, attack, attackRequest, parseProbe, T, useService } from './attacks.js';

const service = useService();

/** What the C program must see, probe by probe (x86_64). */
const C_EXPECTED: Record<string, string> = {
  // nested namespaces: unshare, clone and setns refused; clone3 made to fall back (ENOSYS)
  unshare_user: 'EPERM',
  unshare_mount: 'EPERM',
  unshare_net: 'EPERM',
  clone_newuser: 'EPERM',
  clone3: 'ENOSYS',
  setns: 'EPERM',
  // mounts, the old API and the new one
  mount: 'EPERM',
  mount_bind: 'EPERM',
  mount_remount_rw: 'EPERM',
  umount2: 'EPERM',
  pivot_root: 'EPERM',
  chroot: 'EPERM',
  fsopen: 'EPERM',
  fspick: 'EPERM',
  fsmount: 'EPERM',
  open_tree: 'EPERM',
  move_mount: 'EPERM',
  mount_setattr: 'EPERM',
  // other processes' memory
  ptrace_traceme: 'EPERM',
  ptrace_attach: 'EPERM',
  ptrace_seize: 'EPERM',
  process_vm_readv: 'EPERM',
  process_vm_writev: 'EPERM',
  kcmp: 'EPERM',
  ptrace_attach_pid1: 'EPERM',
  // keyrings, eBPF, perf, io_uring, userfaultfd, secret memory
  keyctl: 'EPERM',
  add_key: 'EPERM',
  request_key: 'EPERM',
  bpf: 'EPERM',
  perf_event_open: 'EPERM',
  io_uring_setup: 'EPERM',
  io_uring_enter: 'EPERM',
  io_uring_register: 'EPERM',
  userfaultfd: 'EPERM',
  memfd_secret: 'EPERM',
  // terminal injection, also with bits above 32 set (the kernel ignores them; the filter too)
  tiocsti: 'EPERM',
  tiocsti_high_bits: 'EPERM',
  tioclinux: 'EPERM',
  tioclinux_high_bits: 'EPERM',
  // the x32 ABI
  x32_getpid: 'ENOSYS',
  x32_unshare: 'ENOSYS',
  // personality: no weakening of ASLR or NX; querying is allowed
  personality_addr_no_randomize: 'EPERM',
  personality_read_implies_exec: 'EPERM',
  personality_high_bits: 'EPERM',
  personality_query: 'ok',
  // the hypervisor's sockets, raw packets
  socket_vsock: 'EPERM',
  socket_vsock_high_bits: 'EPERM',
  socketpair_vsock: 'EPERM',
  socket_packet: 'EPERM',
  // kernel modules, kexec, reboot, swap, accounting, the kernel log, the clock, I/O ports, handles
  init_module: 'EPERM',
  finit_module: 'EPERM',
  delete_module: 'EPERM',
  kexec_load: 'EPERM',
  reboot: 'EPERM',
  swapon: 'EPERM',
  acct: 'EPERM',
  syslog: 'EPERM',
  settimeofday: 'EPERM',
  clock_settime: 'EPERM',
  adjtimex: 'EPERM',
  iopl: 'EPERM',
  ioperm: 'EPERM',
  open_by_handle_at: 'EPERM',
  name_to_handle_at: 'EPERM',
  quotactl: 'EPERM',
  fanotify_init: 'EPERM',
  // identity: root is not even mapped in the sandbox's user namespace (EINVAL); no capabilities
  setuid_0: 'EINVAL',
  setgid_0: 'EINVAL',
  setresuid_0: 'EINVAL',
  setgroups: 'EPERM',
  capset_all: 'EPERM',
  no_new_privs: '1',
  uid: '1000',
  euid: '1000',
};

test('C, raw syscalls: every kernel-surface call fails with its exact errno', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  if (process.arch !== 'x64') {
    t.skip(`the probe table is for x86_64 (this is ${process.arch})`);
    return;
  }
  const a = await attack(service, 'c', 'syscalls');
  assert.equal(a.result.status, 'ok', `${a.run.message ?? ''} ${a.run.stderr}`);
  assert.deepEqual(a.out, C_EXPECTED);
  await assertHostClean(service, [a.marker]);
});

test('Go and Python, raw syscalls: the same calls fail with the same errno', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  if (process.arch !== 'x64') {
    t.skip(`raw syscall numbers are x86_64's (this is ${process.arch})`);
    return;
  }
  const [go, py] = await Promise.all([attack(service, 'go', 'syscalls'), attack(service, 'python', 'syscalls')]);
  for (const a of [go, py]) {
    assert.equal(a.result.status, 'ok', `${a.lang}: ${a.run.message ?? ''} ${a.run.stderr}`);
    assert.ok(Object.keys(a.out).length >= 20, `${a.lang}: ${a.run.stdout}`);
    for (const [name, value] of Object.entries(a.out)) assert.equal(value, C_EXPECTED[name], `${a.lang}: ${name}`);
  }
  for (const name of ['unshare_user', 'clone3', 'mount', 'pivot_root', 'fsopen', 'open_tree', 'move_mount', 'ptrace_attach', 'process_vm_readv', 'keyctl', 'bpf', 'perf_event_open', 'io_uring_setup', 'userfaultfd', 'tiocsti', 'tiocsti_high_bits', 'x32_getpid', 'personality_addr_no_randomize', 'socket_vsock', 'setns', 'setuid_0']) {
    assert.ok(name in go.out, `Go probed ${name}`);
    assert.ok(name in py.out, `Python probed ${name}`);
  }
  await assertHostClean(service, [go.marker, py.marker]);
});

test('JavaScript and Bash, through the binaries: unshare, mount, chroot, nsenter and setuid fail', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const [js, sh] = await Promise.all([attack(service, 'javascript', 'syscalls'), attack(service, 'bash', 'syscalls')]);
  assert.equal(js.result.status, 'ok', js.run.stderr);
  assert.deepEqual(js.out, { unshare_user: 'EPERM', unshare_mount: 'EPERM', unshare_net: 'EPERM', setuid_0: 'EINVAL', setgid_0: 'EINVAL', setgroups: 'EPERM' });
  assert.equal(sh.result.status, 'ok', sh.run.stderr);
  assert.deepEqual(sh.out, {
    unshare_user: 'EPERM',
    unshare_mount: 'EPERM',
    unshare_net: 'EPERM',
    unshare_map_root: 'EPERM',
    // mount is setuid root on the host; here it runs without root and refuses on its own
    mount_tmpfs: 'not-root',
    mount_bind: 'not-root',
    chroot: 'EPERM',
    // /proc/1/ns/*: the supervisor is not dumpable
    nsenter_pid1: 'EACCES',
  });
  await assertHostClean(service, [js.marker, sh.marker]);
});

test('the i386 ABI (int 0x80) on x86_64: the filter\'s architecture check kills the process (SIGSYS)', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  if (process.arch !== 'x64') {
    t.skip(`int 0x80 is x86_64's compatibility ABI (this is ${process.arch})`);
    return;
  }
  // Where the kernel cannot enter the i386 ABI at all (a PVM guest: int 0x80 faults before any
  // syscall entry, SIGSEGV even with no filter), there is no architecture check to exercise:
  // the same program with seccomp relaxed says which (asked in the sandbox, never on the host).
  const relaxed = await getCylo(['seccomp']).execute(attackRequest('c', 'int80', [], uniqueMarker()));
  if (relaxed.run?.signal === 'SIGSEGV') {
    t.skip('int 0x80 faults on this kernel even without seccomp (no i386 syscall entry, e.g. a PVM guest): the i386 ABI is unreachable here, so the filter\'s architecture check cannot be exercised');
    return;
  }
  const a = await attack(service, 'c', 'int80');
  assert.equal(a.result.status, 'runtime_error');
  assert.equal(a.run.signal, 'SIGSYS');
  assert.deepEqual(a.out, { before: 'ok' }, 'it never returned from the call');
  await assertHostClean(service, [a.marker]);
});

test('seccomp is proven on its own: with the layer relaxed, the same C probes get through or fail differently', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  if (process.arch !== 'x64') {
    t.skip(`the probe table is for x86_64 (this is ${process.arch})`);
    return;
  }
  const marker = uniqueMarker();
  const r = await getCylo(['seccomp']).execute(attackRequest('c', 'syscalls', [], marker));
  assert.equal(r.status, 'ok', JSON.stringify(r.run));
  assert.ok(!r.layers.includes('seccomp'));
  const out = parseProbe(r.run?.stdout ?? '');
  // TIOCSTI reaches the kernel, which only says stdin is no terminal: the EPERM above, also for
  // the high-bits variant, is the filter's (it compares the low 32 bits, as the kernel does).
  assert.equal(out.tiocsti, 'ENOTTY');
  assert.equal(out.tiocsti_high_bits, 'ENOTTY');
  for (const name of ['keyctl', 'add_key', 'io_uring_setup', 'ptrace_traceme', 'personality_addr_no_randomize']) {
    assert.equal(out[name], 'ok', `${name} gets through without seccomp`);
  }
  // AF_VSOCK reaches the kernel: a socket, or EAFNOSUPPORT where no vsock transport is loaded
  // (the cgroup-v2 guest's kernel has it as a module); never the filter's EPERM.
  assert.ok(['ok', 'EAFNOSUPPORT'].includes(out['socket_vsock'] ?? ''), `socket_vsock gets through without seccomp (${out['socket_vsock']})`);
  // The layers under seccomp still hold: bwrap's --disable-userns (ENOSPC), no capabilities.
  assert.equal(out.unshare_user, 'ENOSPC');
  assert.equal(out.clone_newuser, 'ENOSPC');
  assert.equal(out.mount, 'EPERM');
  assert.equal(out.pivot_root, 'EPERM');
  assert.equal(out.setuid_0, 'EINVAL');
  assert.equal(out.ptrace_attach_pid1, 'EPERM');
  t.diagnostic(`without seccomp: x32_getpid=${out.x32_getpid} (ENOSYS here means this kernel has no x32 ABI; the filter refuses it either way, see test/unit/seccomp.test.ts)`);
  await assertHostClean(service, [marker]);
});
