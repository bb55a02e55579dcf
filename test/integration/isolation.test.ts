// Integration tests with real sandboxes: each isolation layer is proven by a probe that would
// succeed (and so fail the test) if that layer were removed. Where one layer hides another
// (seccomp and Landlock both refuse some things), the probe is also run with the layer relaxed
// to show that the test tells the layers apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createConnection, createServer, type AddressInfo, type Server } from 'node:net';
import { createSocket } from 'node:dgram';
import { CyloError } from '../../src/errors.js';
import { LAYERS } from '../../src/api/result.js';
import { HELPER_IN_SANDBOX } from '../../src/sandbox/bwrap-argv.js';
import { defaultHelperPath, landlockAbi } from '../../src/sandbox/host-check.js';
import { run, startAndWaitReady } from '../support/cylo.js';
import { slow } from '../support/slow.js';
import { skipWithoutPreflight } from '../support/preflight.js';
import { type HostProcess, processesWith, readProcess, uniqueMarker } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const T = { timeout: slow(20_000) };

/** Python helpers for the probes: `sc(nr, *args)` makes a raw syscall and returns
 *  [result, errno name or None]; `attempt(fn)` returns "ok" or the errno name. */
const PY_PRELUDE = `
import ctypes, errno, json, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
def sc(*args):
    ctypes.set_errno(0)
    r = libc.syscall(*[ctypes.c_long(a) for a in args])
    return [r, errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno())) if r < 0 else None]
def attempt(fn):
    try:
        fn()
        return 'ok'
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
out = {}
`;
const PY_END = '\nprint(json.dumps(out))\n';

async function probe(body: string, relax: Array<'seccomp' | 'landlock'> = []): Promise<Record<string, unknown>> {
  const r = await run({ language: 'python', code: PY_PRELUDE + body + PY_END, limits: { timeoutMs: slow(5000) } }, { relax });
  assert.equal(r.status, 'ok', `probe failed: ${r.run.message ?? ''} ${r.run.stderr}`);
  // The result lists exactly the layers that were in force.
  assert.deepEqual(r.layers, LAYERS.filter((l) => !(relax as string[]).includes(l)));
  return JSON.parse(r.run.stdout) as Record<string, unknown>;
}

async function listen(server: Server, ...args: unknown[]): Promise<void> {
  (server.listen as (...a: unknown[]) => void)(...args);
  await once(server, 'listening');
}

// ------------------------------------------------------------------------------------------
// network
// ------------------------------------------------------------------------------------------

test('network: listeners on the host loopback (TCP v4/v6, UDP, abstract unix) are unreachable; only lo exists inside', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  let accepted = 0;
  const onConn = (s: { destroy(): void }): void => {
    accepted++;
    s.destroy();
  };
  const tcp4 = createServer(onConn);
  await listen(tcp4, 0, '127.0.0.1');
  const tcp6 = createServer(onConn);
  let port6: number | undefined;
  try {
    await listen(tcp6, 0, '::1');
    port6 = (tcp6.address() as AddressInfo).port;
  } catch {
    // no IPv6 loopback on this host
  }
  const abstractName = `\0${uniqueMarker('cylo-abstract-')}`;
  const unix = createServer(onConn);
  await listen(unix, abstractName);
  let datagrams = 0;
  const udp = createSocket('udp4');
  udp.on('message', () => datagrams++);
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  try {
    const port4 = (tcp4.address() as AddressInfo).port;
    const udpPort = udp.address().port;
    // Positive control: the same probes work from the host, so a failure inside is the sandbox.
    for (const options of [{ host: '127.0.0.1', port: port4 }, { path: abstractName }]) {
      const c = createConnection(options);
      await once(c, 'connect');
      c.destroy();
    }
    await waitFor('the control connections', () => accepted >= 2);
    accepted = 0;

    const body = `
s4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s4.settimeout(1)
out['tcp4'] = attempt(lambda: s4.connect(('127.0.0.1', ${port4})))
${port6 === undefined ? "out['tcp6'] = 'skipped'" : `s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); s6.settimeout(1)\nout['tcp6'] = attempt(lambda: s6.connect(('::1', ${port6})))`}
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
out['udp'] = attempt(lambda: [u.sendto(b'ping', ('127.0.0.1', ${udpPort})) for _ in range(3)])
ux = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
out['abstract'] = attempt(lambda: ux.connect(${JSON.stringify(abstractName).replace('\\u0000', '\\0')}))
out['netdev'] = sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:])
out['ifs'] = sorted(n for _, n in socket.if_nameindex())
out['sys_class_net'] = os.path.exists('/sys/class/net')
`;
    const out = await probe(body);
    // EACCES: Landlock refuses the TCP connect; ECONNREFUSED: the sandbox's own loopback has no listener.
    assert.ok(['EACCES', 'ECONNREFUSED'].includes(out.tcp4 as string), `tcp4 connect: ${String(out.tcp4)}`);
    if (port6 !== undefined) assert.ok(['EACCES', 'ECONNREFUSED', 'EADDRNOTAVAIL', 'ENETUNREACH'].includes(out.tcp6 as string), `tcp6 connect: ${String(out.tcp6)}`);
    else t.diagnostic('no IPv6 loopback on this host: the ::1 probe was not run');
    assert.equal(out.abstract, 'ECONNREFUSED', 'abstract unix sockets are per network namespace');
    assert.deepEqual(out.netdev, ['lo']);
    assert.deepEqual(out.ifs, ['lo']);
    assert.equal(out.sys_class_net, false);
    // The datagrams were sent (to the sandbox's own lo) but none reached the host.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(accepted, 0, 'the host listeners saw no connection');
    assert.equal(datagrams, 0, 'the host UDP socket saw no datagram');
    // The interface check is meaningful only if the host has more than lo.
    const hostIfs = readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).map((l) => l.split(':')[0]?.trim()).filter(Boolean);
    if (hostIfs.length > 1) assert.ok(hostIfs.some((n) => n !== 'lo'));
    else t.diagnostic('the host itself has only lo: the interface check cannot tell the namespace apart here');
  } finally {
    tcp4.close();
    tcp6.close();
    unix.close();
    udp.close();
  }
});

// ------------------------------------------------------------------------------------------
// filesystem and environment
// ------------------------------------------------------------------------------------------

test('filesystem: host /tmp, /root, /home, /var, /run, /sys and /etc secrets are invisible', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const canary = `/tmp/${uniqueMarker('cylo-canary-')}`;
  writeFileSync(canary, 'secret');
  try {
    const hidden = ['/root', '/home', '/var', '/run', '/sys', '/etc/shadow', '/etc/passwd', '/etc/hostname', '/etc/ssh', '/boot', '/work/main', canary];
    // Positive control: these exist on the host, so their absence inside is the sandbox's doing.
    for (const p of ['/root', '/etc/shadow', '/var', canary]) assert.ok(existsSync(p), `${p} exists on the host`);
    const out = await probe(`
out['exists'] = {p: os.path.lexists(p) for p in ${JSON.stringify(hidden)}}
out['tmp_link'] = os.readlink('/tmp')
out['tmp_list'] = os.listdir('/tmp')
out['usr'] = attempt(lambda: open('/usr/bin/env', 'rb').read(4))
out['cwd'] = os.getcwd()
`);
    assert.deepEqual(out.exists, Object.fromEntries(hidden.map((p) => [p, false])));
    assert.equal(out.tmp_link, '/work/.tmp', '/tmp inside is the capped workspace, not the host /tmp');
    assert.deepEqual(out.tmp_list, []);
    assert.equal(out.usr, 'ok');
    assert.equal(out.cwd, '/work');
  } finally {
    rmSync(canary, { force: true });
  }
});

test('environment: a variable of the cylo process never reaches the sandbox', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  process.env.CYLO_TEST_CANARY = 'secret123';
  try {
    const r = await run({ language: 'python', code: "import os, json\nprint(json.dumps(dict(os.environ)))\nprint(open('/proc/self/environ','rb').read().decode())", env: { MINE: 'yes' } });
    assert.equal(r.status, 'ok', r.run.stderr);
    assert.ok(!r.run.stdout.includes('secret123'), 'the canary value is absent');
    assert.ok(!r.run.stdout.includes('CYLO_TEST_CANARY'), 'the canary name is absent');
    const env = JSON.parse(r.run.stdout.split('\n')[0] as string) as Record<string, string>;
    // Exactly the allowlist, the runtime's variables and the request's own.
    // (PWD is set by bubblewrap's --chdir.)
    assert.deepEqual(Object.keys(env).sort(), ['HOME', 'LANG', 'LC_ALL', 'MINE', 'PATH', 'PWD', 'PYTHONDONTWRITEBYTECODE', 'PYTHONIOENCODING', 'TMPDIR', 'USER']);
    assert.equal(env.MINE, 'yes');
    assert.equal(env.HOME, '/work');
    assert.equal(env.PWD, '/work');
  } finally {
    delete process.env.CYLO_TEST_CANARY;
  }
});

// ------------------------------------------------------------------------------------------
// identity
// ------------------------------------------------------------------------------------------

/** The sandbox's process chain as the host sees it: program, inner helper, bwrap (up to cylo). */
function chainOf(marker: string, program: string): HostProcess[] {
  // The program is the child of the inner helper (a forked copy of it on its way to exec'ing
  // `sleep` carries the same command line, hence the parent check).
  const found = processesWith(marker).filter((p) => p.cmdline[0] === program && readProcess(p.ppid)?.cmdline[0] === HELPER_IN_SANDBOX);
  assert.equal(found.length, 1, `exactly one ${program} process, child of the inner helper, carries the marker`);
  const chain: HostProcess[] = [];
  let p: HostProcess | undefined = found[0];
  // cylo's side ends it: this process, or its spawner (a child of it started by cylo that forks
  // the sandboxes: src/sandbox/spawner.ts, option spawner), both root and outside the sandbox.
  const isCylo = (q: HostProcess): boolean => q.pid === process.pid || (q.ppid === process.pid && q.cmdline[1] === 'spawner');
  while (p !== undefined && !isCylo(p)) {
    chain.push(p);
    if (chain.length > 10) break;
    p = readProcess(p.ppid);
  }
  assert.ok(p !== undefined && isCylo(p), 'the chain leads back to this process (or its spawner)');
  return chain;
}

test('identity: from the host, every sandbox process runs as an unprivileged uid, a different one per execution', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  process.env.CYLO_TEST_CANARY = 'secret123';
  const controller = new AbortController();
  const markers = [uniqueMarker(), uniqueMarker()];
  const runs = markers.map((m) => startAndWaitReady({ language: 'bash', code: 'echo ready; sleep 30; true', args: [m], limits: { timeoutMs: slow(15_000) } }, { signal: controller.signal }));
  try {
    await Promise.all(runs.map((r) => r.ready));
    const uids = markers.map((m) => {
      const chain = chainOf(m, '/usr/bin/bash');
      // program <- inner helper (PID 1 inside) <- bubblewrap <- cylo (or its spawner): none of the
      // first three is root.
      assert.ok(chain.length >= 3, `chain: ${chain.map((p) => p.cmdline[0]).join(' <- ')}`);
      assert.equal(chain.at(-1)?.cmdline[0], '/usr/bin/bwrap');
      const uid = chain[0]?.uids[0] as number;
      for (const p of chain) {
        assert.deepEqual(p.uids, [uid, uid, uid, uid], `${p.cmdline[0]} (pid ${p.pid}) real/effective/saved/fs uid`);
        assert.equal(p.noNewPrivs, 1, `${p.cmdline[0]} has NoNewPrivs`);
        const environ = readFileSync(`/proc/${p.pid}/environ`, 'utf8');
        assert.ok(!environ.includes('secret123'), `${p.cmdline[0]} environment holds no host variable`);
      }
      assert.ok(uid >= 2_000_000_000, `uid ${uid} is in the unprivileged sandbox range`);
      return uid;
    });
    assert.notEqual(uids[0], uids[1], 'two concurrent executions have different uids');
  } finally {
    delete process.env.CYLO_TEST_CANARY;
    controller.abort();
  }
  for (const r of runs) await assert.rejects(r.result, (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_CANCELLED');
  for (const m of markers) assert.deepEqual(processesWith(m), []);
});

test('identity: no capabilities, NoNewPrivs and a seccomp filter inside', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const code = "print(open('/proc/self/status').read())";
  const r = await run({ language: 'python', code });
  assert.equal(r.status, 'ok', r.run.stderr);
  const field = (name: string): string | undefined => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(r.run.stdout)?.[1]?.trim();
  for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.equal(field(cap), '0000000000000000', cap);
  assert.equal(field('NoNewPrivs'), '1');
  assert.equal(field('Seccomp'), '2', 'seccomp filter mode');
  assert.equal(field('Uid'), '1000\t1000\t1000\t1000', 'an ordinary uid inside the user namespace');
  // Relaxing seccomp really removes the filter (so the check above is about cylo's filter).
  const relaxed = await run({ language: 'python', code }, { relax: ['seccomp'] });
  assert.equal(/^Seccomp:\s*(\d)/m.exec(relaxed.run.stdout)?.[1], '0');
});

test('namespaces: every namespace of the sandbox differs from the host\'s; hostname and session are its own', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const kinds = ['user', 'pid', 'net', 'ipc', 'uts', 'cgroup', 'mnt'];
  const out = await probe(`
out['ns'] = {k: os.readlink(f'/proc/self/ns/{k}') for k in ${JSON.stringify(kinds)}}
out['hostname'] = socket.gethostname()
out['sid'] = os.getsid(0)
out['cgroup'] = open('/proc/self/cgroup').read().split()
`);
  const inside = out.ns as Record<string, string>;
  for (const kind of kinds) {
    const host = readlinkSync(`/proc/self/ns/${kind}`);
    assert.match(inside[kind] ?? '', new RegExp(`^${kind}:\\[\\d+\\]$`));
    assert.notEqual(inside[kind], host, `${kind} namespace is the sandbox's own`);
  }
  assert.equal(out.hostname, 'cylo');
  assert.notEqual(hostname(), 'cylo', 'the host has another name, so the check means something');
  // --new-session: the supervisor (PID 1) leads the program's session; without it the session
  // leader would be outside the PID namespace and show as 0.
  assert.equal(out.sid, 1);
  // The cgroup namespace hides the host's cgroup tree: every path is the root.
  for (const line of out.cgroup as string[]) assert.match(line, /:\/$/, line);
});

test('rlimits are set for the program', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const names = ['CORE', 'FSIZE', 'NOFILE', 'STACK', 'NPROC', 'CPU', 'MSGQUEUE'];
  const r = await run({
    language: 'python',
    code: `import json, resource\nprint(json.dumps({n: resource.getrlimit(getattr(resource, 'RLIMIT_' + n)) for n in ${JSON.stringify(names)}}))`,
    limits: { pids: 20, workspaceBytes: 4 * 1024 * 1024, cpuTimeMs: 1500, timeoutMs: slow(5000) },
  });
  assert.equal(r.status, 'ok', r.run.stderr);
  const limits = JSON.parse(r.run.stdout) as Record<string, [number, number]>;
  const both = (v: number): [number, number] => [v, v];
  assert.deepEqual(limits, {
    CORE: both(0),
    // 1 TiB whatever the workspace: the workspace's own size cap is what a write meets (ENOSPC).
    FSIZE: both(2 ** 40),
    NOFILE: both(1024),
    STACK: both(64 * 1024 * 1024),
    NPROC: both(28),
    CPU: both(3),
    MSGQUEUE: both(0),
  });
});

// ------------------------------------------------------------------------------------------
// processes and file descriptors
// ------------------------------------------------------------------------------------------

test('/proc shows only the sandbox (PID 1 and the program); only fds 0-2 are open', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const out = await probe(`
out['pid'] = os.getpid()
out['procs'] = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
out['fds'] = {e.name: os.readlink(e.path) for e in os.scandir('/proc/self/fd')}
out['pid1'] = attempt(lambda: open('/proc/1/environ', 'rb').read())
out['pid1_fd'] = attempt(lambda: os.listdir('/proc/1/fd'))
`);
  assert.deepEqual(out.procs, [1, out.pid]);
  const fds = out.fds as Record<string, string>;
  const extra = Object.keys(fds).filter((fd) => !['0', '1', '2'].includes(fd));
  // The only other fd is the one os.scandir opened to list the directory.
  assert.equal(extra.length, 1, JSON.stringify(fds));
  assert.equal(fds[extra[0] as string], `/proc/${String(out.pid)}/fd`);
  // The supervisor is not dumpable: the program cannot read its environment or fds.
  assert.equal(out.pid1, 'EACCES');
  assert.equal(out.pid1_fd, 'EACCES');
});

// ------------------------------------------------------------------------------------------
// seccomp, user namespaces and Landlock, each proven on its own
// ------------------------------------------------------------------------------------------

const SYSCALL_PROBES = `
out['unshare_user'] = sc(272, 0x10000000)
out['unshare_mount'] = sc(272, 0x00020000)
out['clone_newuser'] = sc(56, 0x10000000 | 17, 0, 0, 0, 0)
if out['clone_newuser'][0] == 0:
    os._exit(0)  # the child of a clone that should never have worked
out['setns'] = sc(308, 0, 0)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
ctypes.set_errno(0)
r = libc.mount(b'none', b'/work', b'tmpfs', 0, None)
out['mount'] = [r, errno.errorcode.get(ctypes.get_errno()) if r < 0 else None]
fsname = ctypes.create_string_buffer(b'tmpfs')
out['fsopen'] = sc(430, ctypes.addressof(fsname), 0)
out['ptrace_traceme'] = sc(101, 0, 0, 0, 0)
child = os.fork()
if child == 0:
    import time
    time.sleep(5)
    os._exit(0)
out['ptrace_attach'] = sc(101, 16, child, 0, 0)
os.kill(child, 9)
os.waitpid(child, 0)
out['keyctl'] = sc(250, 0, -3, 0)
params = ctypes.create_string_buffer(120)
out['io_uring_setup'] = sc(425, 1, ctypes.addressof(params))
out['personality_norand'] = sc(135, 0x0040000)
out['personality_query'] = sc(135, 0xffffffff)
out['bpf'] = sc(321, 0, 0, 0)
out['userfaultfd'] = sc(323, 0)
out['open_by_handle_at'] = sc(304, -100, 0, 0)
`;

test('seccomp: namespaces, mount, ptrace, keyctl, io_uring, bpf and personality are refused with EPERM', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const out = await probe(SYSCALL_PROBES);
  const eperm = [-1, 'EPERM'];
  for (const name of ['unshare_user', 'unshare_mount', 'clone_newuser', 'setns', 'mount', 'fsopen', 'ptrace_traceme', 'ptrace_attach', 'keyctl', 'io_uring_setup', 'personality_norand', 'bpf', 'userfaultfd', 'open_by_handle_at']) {
    assert.deepEqual(out[name], eperm, `${name}: ${JSON.stringify(out[name])}`);
  }
  assert.deepEqual(out.personality_query, [0, null], 'querying the persona stays allowed');
});

test('seccomp is proven on its own: with the layer relaxed the same probes get through', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // probe() also asserts status ok with the whole output: after PTRACE_TRACEME the supervisor
  // (PID 1) is the program's tracer, and its ptrace-stops must not be reported as an exit.
  const out = await probe(SYSCALL_PROBES, ['seccomp']);
  // Without the filter these succeed: the EPERMs above are seccomp's, not another layer's.
  assert.deepEqual(out.ptrace_traceme, [0, null]);
  assert.deepEqual(out.ptrace_attach, [0, null]);
  assert.ok((out.keyctl as [number, unknown])[0] > 0, `keyctl: ${JSON.stringify(out.keyctl)}`);
  assert.ok((out.io_uring_setup as [number, unknown])[0] >= 0, `io_uring_setup: ${JSON.stringify(out.io_uring_setup)}`);
  assert.deepEqual(out.personality_norand, [0, null]);
  // The nested user namespace is still refused, by bwrap's --disable-userns (a separate layer):
  // max_user_namespaces is 0 inside, which the kernel reports as ENOSPC.
  assert.deepEqual(out.unshare_user, [-1, 'ENOSPC']);
  assert.deepEqual(out.clone_newuser, [-1, 'ENOSPC']);
  // Mounting still needs a capability the sandbox does not have.
  assert.deepEqual(out.mount, [-1, 'EPERM']);
});

test('nested user namespaces: the unshare binary fails too', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  if (!existsSync('/usr/bin/unshare')) {
    t.skip('/usr/bin/unshare is not installed (util-linux)');
    return;
  }
  const r = await run({ language: 'bash', code: 'unshare -U true; echo "rc=$?"; unshare -Ur id; echo "rc=$?"' });
  assert.equal(r.status, 'ok');
  assert.match(r.run.stdout, /^rc=1\nrc=1\n$/);
  assert.match(r.run.stderr, /unshare failed: Operation not permitted/);
});

const LANDLOCK_PROBES = `
def write(path):
    with open(path, 'w') as f:
        f.write('x')
out['proc_comm'] = attempt(lambda: write('/proc/self/comm'))
out['proc_oom'] = attempt(lambda: write('/proc/self/oom_score_adj'))
out['dev_shm'] = attempt(lambda: write('/dev/shm/x'))
out['usr_new'] = attempt(lambda: write('/usr/x'))
out['root_new'] = attempt(lambda: write('/x'))
out['work'] = attempt(lambda: write('/work/x'))
out['tmp'] = attempt(lambda: write('/tmp/x'))
out['read_usr'] = attempt(lambda: open('/usr/bin/env', 'rb').read(1))
out['list_root'] = attempt(lambda: os.listdir('/'))
out['signal_pid1'] = attempt(lambda: os.kill(1, 0))
s = socket.socket(); s.settimeout(1)
out['tcp'] = attempt(lambda: s.connect(('127.0.0.1', 9)))
`;

test('Landlock: writes outside the workspace fail even where the mount allows them; /usr reads and /work writes work', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const on = await probe(LANDLOCK_PROBES);
  // procfs is mounted read-write: only Landlock stops these writes.
  assert.equal(on.proc_comm, 'EACCES');
  assert.equal(on.proc_oom, 'EACCES');
  assert.equal(on.dev_shm, 'EROFS', '/dev is read-only');
  assert.equal(on.usr_new, 'EROFS', '/usr is a read-only bind');
  assert.equal(on.root_new, 'EROFS', 'the root is read-only');
  assert.equal(on.work, 'ok');
  assert.equal(on.tmp, 'ok');
  assert.equal(on.read_usr, 'ok');
  assert.equal(on.list_root, 'EACCES', 'the root directory is not even listable');
  // Landlock's TCP rules need ABI 4 (Linux 6.7); below it (the cgroup-v2 guest's 6.1 has ABI
  // 2) only the network namespace stops the connect: nothing listens on its own lo.
  if (landlockAbi(defaultHelperPath()) >= 4) assert.equal(on.tcp, 'EACCES', 'Landlock refuses TCP connect');
  else assert.equal(on.tcp, 'ECONNREFUSED', 'Landlock ABI < 4: the namespace\'s own lo refuses');
  // Landlock ABI 6 scoping: no signal to a process outside the domain, not even the supervisor.
  if (landlockAbi(defaultHelperPath()) >= 6) assert.equal(on.signal_pid1, 'EPERM');
  else t.diagnostic('Landlock ABI < 6 on this kernel: signal scoping is not checked');
});

test('Landlock is proven on its own: with the layer relaxed the same writes succeed', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const off = await probe(LANDLOCK_PROBES, ['landlock']);
  assert.equal(off.proc_comm, 'ok', 'without Landlock the procfs write gets through');
  assert.equal(off.list_root, 'ok');
  assert.equal(off.signal_pid1, 'ok', 'without Landlock scoping the supervisor can be signalled (PID 1 ignores it)');
  // The network namespace still holds without Landlock: nothing listens on the sandbox's own lo.
  assert.equal(off.tcp, 'ECONNREFUSED');
  // The mount layer holds without Landlock.
  assert.equal(off.dev_shm, 'EROFS');
  assert.equal(off.usr_new, 'EROFS');
  assert.equal(off.root_new, 'EROFS');
  assert.equal(off.work, 'ok');
});

// ------------------------------------------------------------------------------------------
// nothing persists
// ------------------------------------------------------------------------------------------

test('a file written in one run is absent in the next (workspace, /tmp, /dev/shm)', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const name = uniqueMarker('persist-');
  const paths = [`/work/${name}`, `/tmp/${name}`, `/dev/shm/${name}`, `/work/.tmp/${name}2`];
  const first = await probe(`
for p in ${JSON.stringify(paths)}:
    def w(p=p):
        with open(p, 'w') as f:
            f.write('left behind')
    out[p] = attempt(w)
`);
  assert.equal(first[`/work/${name}`], 'ok');
  assert.equal(first[`/tmp/${name}`], 'ok');
  assert.notEqual(first[`/dev/shm/${name}`], 'ok', '/dev/shm is not writable');
  const second = await probe(`
out['exists'] = [os.path.lexists(p) for p in ${JSON.stringify(paths)}]
out['work'] = sorted(os.listdir('/work'))
`);
  assert.deepEqual(second.exists, [false, false, false, false]);
  assert.deepEqual(second.work, ['.tmp', 'main.py']);
  // Nothing landed on the host either.
  assert.equal(existsSync(`/tmp/${name}`), false);
  assert.ok(!readdirSync('/tmp').some((f) => f.includes(name)));
});
