// Hostile corpus, network: egress over TCP (IPv4 and IPv6), UDP, abstract and pathname unix
// sockets, aimed at canary listeners this test opens on the host's loopback and at the service's
// own port; and the "link-local metadata address" row, proven by the absence of any route.
//
// SAFETY: every probe targets loopback only (127.0.0.0/8, ::1, or a unix socket this test
// owns). No packet is ever addressed to a private, link-local or public address, not even to
// show it is blocked: the metadata row reads the routing tables and the interface list instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { rmSync } from 'node:fs';
import { getCylo } from '../support/cylo.js';
import { skipWithoutPreflight } from '../support/preflight.js';
import { uniqueMarker } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { assertHostClean, attack, attackAll, attackRequest, LANGS, parseProbe, T, useService } from './attacks.js';
import { slow } from '../support/slow.js';
import { defaultHelperPath, landlockAbi } from '../../src/sandbox/host-check.js';

// Landlock refuses TCP connect and bind from ABI 4 (Linux 6.7) on: EACCES. Below it (the
// cgroup-v2 guest's 6.1 has ABI 2) the network namespace alone stops them: a connect meets the
// sandbox's own lo, where nothing listens (ECONNREFUSED), and a bind succeeds there, harmlessly.
const TCP_REFUSED = landlockAbi(defaultHelperPath()) >= 4 ? 'EACCES' : 'ECONNREFUSED';

const service = useService();

interface Canaries {
  tcp4: number;
  tcp6: number;
  udp: number;
  abstract: string;
  pathname: string;
  /** Connections and datagrams the canaries received. */
  seen: () => number;
  reset: () => void;
  close: () => void;
}

async function listen(server: Server, ...args: unknown[]): Promise<void> {
  (server.listen as (...a: unknown[]) => void)(...args);
  await once(server, 'listening');
}

/** Listeners on the host's loopback: TCP on 127.0.0.1 and ::1, UDP on 127.0.0.1, an abstract
 *  unix socket `\0cylo-canary-<rand>` and a pathname socket under the host's /tmp. */
async function openCanaries(): Promise<Canaries> {
  let seen = 0;
  const onConnection = (s: Socket): void => {
    seen++;
    s.destroy();
  };
  const tcp4 = createServer(onConnection);
  await listen(tcp4, 0, '127.0.0.1');
  const tcp6 = createServer(onConnection);
  let tcp6Port = 0;
  try {
    await listen(tcp6, 0, '::1');
    tcp6Port = (tcp6.address() as AddressInfo).port;
  } catch {
    // no IPv6 loopback on this host: the ::1 probes are skipped (port 0)
  }
  const abstract = uniqueMarker('cylo-canary-');
  const abstractServer = createServer(onConnection);
  await listen(abstractServer, `\0${abstract}`);
  const pathname = `/tmp/${uniqueMarker('cylo-canary-')}.sock`;
  const pathServer = createServer(onConnection);
  await listen(pathServer, pathname);
  const udp: UdpSocket = createSocket('udp4');
  udp.on('message', () => seen++);
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  const canaries: Canaries = {
    tcp4: (tcp4.address() as AddressInfo).port,
    tcp6: tcp6Port,
    udp: udp.address().port,
    abstract,
    pathname,
    seen: () => seen,
    reset: () => {
      seen = 0;
    },
    close: () => {
      for (const s of [tcp4, tcp6, abstractServer, pathServer]) s.close();
      udp.close();
      rmSync(pathname, { force: true });
    },
  };
  // Positive control: from the host, every canary is reachable, so silence later means the
  // sandbox could not reach it.
  for (const options of [{ host: '127.0.0.1', port: canaries.tcp4 }, { path: `\0${abstract}` }, { path: pathname }, ...(tcp6Port > 0 ? [{ host: '::1', port: tcp6Port }] : [])]) {
    const c = createConnection(options);
    await once(c, 'connect');
    c.destroy();
  }
  const probe = createSocket('udp4');
  await new Promise<void>((resolve) => probe.send('control', canaries.udp, '127.0.0.1', () => resolve()));
  probe.close();
  const expected = tcp6Port > 0 ? 5 : 4;
  await waitFor('the canaries to see the host\'s probes', () => seen >= expected).catch(() => undefined);
  assert.equal(seen, expected, 'the canaries are reachable from the host');
  seen = 0;
  return canaries;
}

const netArgs = (c: Canaries, tcp4 = c.tcp4): string[] => [String(tcp4), String(c.tcp6), String(c.udp), c.abstract, c.pathname];

test('TCP v4/v6, UDP, abstract and pathname unix sockets to the host\'s loopback canaries fail (all five languages); the canaries see nothing', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const canaries = await openCanaries();
  try {
    const r = await attackAll(service, LANGS, 'net', netArgs(canaries), { timeoutMs: slow(8000) });
    const v6 = canaries.tcp6 > 0;
    if (!v6) t.diagnostic('no IPv6 loopback on this host: the ::1 probes were not run');
    for (const lang of LANGS) {
      const a = r[lang];
      assert.equal(a.result.status, 'ok', `${lang}: ${a.run.message ?? ''} ${a.run.stderr}`);
      // Landlock refuses every TCP connect (ABI >= 4); under it, the empty network namespace.
      assert.equal(a.out.tcp4_canary, TCP_REFUSED, `${lang}: tcp4`);
      if (v6) assert.equal(a.out.tcp6_canary, TCP_REFUSED, `${lang}: tcp6`);
      // UDP: the datagrams went to the sandbox's own lo, where nothing listens.
      assert.equal(a.out.udp_canary, 'ECONNREFUSED', `${lang}: udp`);
      if (lang !== 'bash') {
        // Abstract unix sockets belong to a network namespace: the host's is another one.
        assert.equal(a.out.unix_abstract, 'ECONNREFUSED', `${lang}: abstract unix`);
        // The host's /tmp is not in the sandbox (its /tmp is the workspace).
        assert.equal(a.out.unix_pathname, 'ENOENT', `${lang}: pathname unix`);
      }
    }
    assert.equal(r.c.out.tcp4_other_loopback, TCP_REFUSED, '127.0.0.2');
    if (TCP_REFUSED === 'EACCES') assert.equal(r.c.out.tcp_bind, 'EACCES', 'binding a TCP listener is refused too');
    else t.diagnostic('Landlock ABI < 4: TCP bind is not refused (a listener on the sandbox\'s own lo reaches nothing)');
    assert.equal(r.c.out.raw_socket, 'EPERM', 'no raw sockets');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(canaries.seen(), 0, 'no connection or datagram reached a canary');
    await assertHostClean(service, Object.values(r).map((a) => a.marker));
  } finally {
    canaries.close();
  }
});

test('the service\'s own port and the canaries stay unreachable with Landlock relaxed: the network namespace alone holds (ECONNREFUSED)', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const canaries = await openCanaries();
  const servicePort = Number(new URL(service.base).port);
  try {
    // Through the service: its own API port is refused like any other loopback port.
    const [c, py] = await Promise.all([attack(service, 'c', 'net', netArgs(canaries, servicePort)), attack(service, 'python', 'net', netArgs(canaries, servicePort))]);
    assert.equal(c.out.tcp4_canary, TCP_REFUSED, 'the control plane is not reachable from a sandbox (CVE-2024-29021)');
    assert.equal(py.out.tcp4_canary, TCP_REFUSED);
    // Without Landlock: the sandbox's loopback is its own, nothing listens there.
    const relaxed = getCylo(['landlock']);
    const markers = [c.marker, py.marker];
    for (const lang of ['c', 'python'] as const) {
      for (const port of [canaries.tcp4, servicePort]) {
        const marker = uniqueMarker();
        markers.push(marker);
        const r = await relaxed.execute(attackRequest(lang, 'net', netArgs(canaries, port), marker, { timeoutMs: slow(8000) }));
        assert.equal(r.status, 'ok', JSON.stringify(r.run));
        const out = parseProbe(r.run?.stdout ?? '');
        assert.equal(out.tcp4_canary, 'ECONNREFUSED', `${lang} -> 127.0.0.1:${port} without Landlock`);
        if (canaries.tcp6 > 0) assert.equal(out.tcp6_canary, 'ECONNREFUSED', `${lang} -> [::1] without Landlock`);
        assert.equal(out.unix_abstract, 'ECONNREFUSED');
        assert.equal(out.unix_pathname, 'ENOENT');
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(canaries.seen(), 0, 'no connection or datagram reached a canary');
    await assertHostClean(service, markers);
  } finally {
    canaries.close();
  }
});

test('metadata addresses: no route leads anywhere (only lo, no IPv4 route, no IPv6 default route)', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // Proven without sending a packet: the interface list and the routing tables.
  const [py, sh] = await Promise.all([attack(service, 'python', 'routes'), attack(service, 'bash', 'routes')]);
  assert.deepEqual(py.out, { interfaces: 'lo', ipv4_routes: '0', ipv6_default_routes: '0', ipv6_route_devices: 'lo', sys_class_net: 'absent' });
  assert.deepEqual(sh.out, { interfaces: 'lo', ipv4_routes: '0', ipv6_route_devices: 'lo' });
  await assertHostClean(service, [py.marker, sh.marker]);
});

test('TCP Fast Open (sendto MSG_FASTOPEN), which skips Landlock\'s connect hook, is refused by seccomp', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  // Loopback only: the program's own listener in its own network namespace.
  const py = await attack(service, 'python', 'fastopen');
  // proves: the seccomp send-flags check (program.ts h_send_flags3): without it the implicit
  // connect reaches the listener ('ok') even where Landlock refuses connect() (EACCES), the
  // review's finding N2 (a build with network could reach any TCP port through slirp)
  assert.equal(py.out.fastopen, 'EPERM', JSON.stringify(py.out));
  // the plain connect to the same listener: Landlock's rule refuses it from ABI 4 (EACCES); below
  // it (the cgroup-v2 guest's 6.1) nothing refuses a connect to the program's own loopback
  assert.equal(py.out.connect, TCP_REFUSED === 'EACCES' ? 'EACCES' : 'ok', JSON.stringify(py.out));
  await assertHostClean(service, [py.marker]);
});
