// `cylo env build --network` with real sandboxes and the real slirp4netns: a JavaScript
// environment downloaded from registry.npmjs.org and used by a program that itself has no
// network; an install script (the untrusted code of a build) that probes the host's loopback, a
// cloud-metadata address, a port other than 80/443 and slirp's DNS address at any port but UDP 53,
// and reaches none of them; the same probe
// without --network sees no interface but loopback; a missing slirp4netns refused with its fix.
// Network probes target loopback and never-routed addresses only; the one internet fetch is
// npm's own, from the registry (skipped, saying why, when the host cannot reach it).
// CI cost: about 10-20 s (three small builds, one program run; the CLI refusal starts no sandbox).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createCylo, type Cylo } from '../../src/cylo.js';
import { TEST_UID_BASE, TEST_UID_COUNT, TIGHT_LIMITS } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { slirpSkipReason } from '../support/network.js';
import { makeNpmTarball } from '../support/packages.js';

/** The registry as the host reaches it (npm's own configuration), or why not. */
function registrySkipReason(): string | undefined {
  const r = spawnSync('npm', ['view', 'is-number', 'version'], { encoding: 'utf8', timeout: 60_000 });
  return r.status === 0 ? undefined : `registry.npmjs.org is not reachable from this host (npm view is-number: ${(r.stderr ?? r.error?.message ?? '').trim().slice(0, 120)})`;
}

const skip = sandboxSkipReason() ?? slirpSkipReason();
const T = { skip: skip ?? false, timeout: 240_000 };
const UID_BASE = TEST_UID_BASE + TEST_UID_COUNT + 64;
let root: string;
let from: string;
let cylo: Cylo;
/** A listener on the host's 127.0.0.1 at a port the build's Landlock rules allow (443, else 80),
 *  counting the connections it receives; undefined when neither port is free. */
let listener: { server: Server; port: number; connections: number } | undefined;

async function listenOnLoopback(): Promise<typeof listener> {
  for (const port of [443, 80]) {
    const entry = { server: createServer(), port, connections: 0 };
    entry.server.on('connection', (s) => {
      entry.connections += 1;
      s.destroy();
    });
    const ok = await new Promise<boolean>((resolve) => {
      entry.server.once('error', () => resolve(false));
      entry.server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) return entry;
  }
  return undefined;
}

/** An install script's probe: the interfaces it sees, then a TCP connect to each target (5 s
 *  each at most), written into its own package directory, which the build brings back. */
function probeScript(port: number): string {
  return `const net = require('net'), fs = require('fs'), os = require('os');
const targets = { hostLoopback: ['10.0.2.2', ${port}], ownLoopback: ['127.0.0.1', ${port}], metadata: ['169.254.169.254', 80], otherPort: ['10.0.2.3', 53] };
const probe = ([host, port]) => new Promise((res) => {
  const s = net.connect({ host, port });
  const t = setTimeout(() => { s.destroy(); res('timeout'); }, 5000);
  s.on('connect', () => { clearTimeout(t); s.destroy(); res('connected'); });
  s.on('error', (e) => { clearTimeout(t); res(e.code); });
});
// A UDP connect() only looks the route up (policy rules included): no packet is sent.
const udpTargets = { dnsUdp: ['10.0.2.3', 53], dnsOtherUdp: ['10.0.2.3', 443], gatewayUdp: ['10.0.2.2', 53] };
const udpProbe = ([host, port]) => new Promise((res) => {
  const s = require('dgram').createSocket('udp4');
  s.on('error', (e) => { s.close(); res(e.code); });
  s.connect(port, host, (e) => { s.close(); res(e ? e.code : 'connected'); });
});
(async () => {
  const out = { interfaces: Object.keys(os.networkInterfaces()).sort() };
  for (const [k, v] of Object.entries(targets)) out[k] = await probe(v);
  for (const [k, v] of Object.entries(udpTargets)) out[k] = await udpProbe(v);
  fs.writeFileSync(__dirname + '/probe.json', JSON.stringify(out));
})();
`;
}

before(async () => {
  root = mkdtempSync('/tmp/cylo-envs-net-');
  from = join(root, 'from');
  mkdirSync(from);
  cylo = createCylo({ environmentsDir: join(root, 'environments'), defaultLimits: { ...TIGHT_LIMITS, timeoutMs: 20_000, cpuTimeMs: 20_000, memoryBytes: 256 * 1024 * 1024 }, uidBase: UID_BASE, uidCount: 8, concurrency: 1 });
  if (skip === undefined) listener = await listenOnLoopback();
  if (listener !== undefined) makeNpmTarball(from, 'netprobe', '1.0.0', probeScript(listener.port), { preinstall: 'node index.js' });
});

after(async () => {
  await cylo?.close({ graceMs: 0 });
  listener?.server.close();
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

function probeResult(env: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(root, 'environments', env, 'tree', 'node_modules', 'netprobe', 'probe.json'), 'utf8')) as Record<string, unknown>;
}

test('--network: is-number from registry.npmjs.org, used by a program that has no network itself', { ...T, skip: skip ?? registrySkipReason() ?? false }, async () => {
  const manifest = await cylo.buildEnvironment({ name: 'netjs', language: 'javascript', packages: ['is-number'], network: true });
  // proves: the build downloaded from the registry (no --from) and the manifest says it had network
  assert.equal(manifest.build.network, true);
  assert.equal(manifest.build.from, null);
  assert.ok(manifest.packages.some((p) => p.name === 'is-number'), JSON.stringify(manifest.packages));
  // UDP: Landlock has no UDP rules, so the routing table answers (TCP would meet Landlock first)
  const code = `const dgram = require('dgram'), os = require('os');
console.log(require('is-number')(5), JSON.stringify(Object.keys(os.networkInterfaces())));
const s = dgram.createSocket('udp4');
s.send('x', 53, '10.0.2.3', (e) => { console.log(e ? e.code : 'sent'); s.close(); });`;
  const r = await cylo.execute({ language: 'javascript', environment: 'netjs', code });
  assert.equal(r.status, 'ok', JSON.stringify(r.run));
  // proves: the program uses the package, and at run time has only loopback: no route anywhere
  assert.equal(r.run?.stdout, 'true ["lo"]\nENETUNREACH\n');
});

test('--network: an install script reaches neither the host\'s loopback, nor 169.254.169.254, nor ports other than 80/443', T, async (t) => {
  if (listener === undefined) return t.skip('ports 443 and 80 of 127.0.0.1 are both taken on this host');
  const before = listener.connections;
  const manifest = await cylo.buildEnvironment({ name: 'netprobe', language: 'javascript', packages: ['netprobe'], from, network: true });
  assert.equal(manifest.build.network, true);
  const probe = probeResult('netprobe');
  t.diagnostic(JSON.stringify(probe));
  // proves: the build had its network (slirp's tap0 in its namespace), so the refusals below are
  // the isolation's, not a missing network
  assert.deepEqual(probe.interfaces, ['lo', 'tap0']);
  // proves: the host's 127.0.0.1 (through slirp's gateway 10.0.2.2) is refused at a port Landlock
  // allows (--disable-host-loopback), and nothing arrived at the host's listener
  assert.notEqual(probe.hostLoopback, 'connected');
  assert.equal(listener.connections, before, 'a connection reached the listener on the host\'s 127.0.0.1');
  // proves: 127.0.0.1 inside is the sandbox's own loopback (nobody listens there)
  assert.equal(probe.ownLoopback, 'ECONNREFUSED');
  // proves: the metadata address is blackholed inside the namespace: the kernel refuses at once
  // (slirp would have answered with a refusal or a timeout, never these)
  assert.ok(['EINVAL', 'ENETUNREACH', 'EHOSTUNREACH'].includes(String(probe.metadata)), String(probe.metadata));
  // proves: Landlock allows TCP to 80/443 only (53 on slirp's own DNS address: EACCES)
  assert.equal(probe.otherPort, 'EACCES');
  // proves: slirp's DNS address takes UDP port 53 only (the resolver's own port still routes),
  // and the rest of slirp's 10.0.2.0/24 is refused by the namespace's policy rules: slirp would
  // forward 10.0.2.3:443 to the host's nameserver (127.0.0.53, a router, GCP's metadata server).
  // Fails without the rules (native/blackhole.c RULES): both connect.
  assert.equal(probe.dnsUdp, 'connected');
  assert.ok(['EINVAL', 'ENETUNREACH', 'EHOSTUNREACH'].includes(String(probe.dnsOtherUdp)), String(probe.dnsOtherUdp));
  assert.ok(['EINVAL', 'ENETUNREACH', 'EHOSTUNREACH'].includes(String(probe.gatewayUdp)), String(probe.gatewayUdp));
});

test('without --network the same install script sees only loopback', T, async (t) => {
  if (listener === undefined) return t.skip('ports 443 and 80 of 127.0.0.1 are both taken on this host');
  const manifest = await cylo.buildEnvironment({ name: 'noprobe', language: 'javascript', packages: ['netprobe'], from });
  assert.equal(manifest.build.network, false);
  const probe = probeResult('noprobe');
  // proves: a build without --network has no interface but loopback, and Landlock refuses every
  // TCP connect (no port rule at all)
  assert.deepEqual(probe.interfaces, ['lo']);
  for (const k of ['hostLoopback', 'ownLoopback', 'metadata', 'otherPort']) assert.equal(probe[k], 'EACCES', k);
});

test('a missing slirp4netns: --network is refused naming the layer and the fix, nothing built', { timeout: 120_000 }, () => {
  const envs = join(root, 'cli-environments');
  const env = { ...process.env, CYLO_UID_BASE: String(UID_BASE + 8), CYLO_UID_COUNT: '4', CYLO_ENVIRONMENTS_DIR: envs, CYLO_SLIRP4NETNS: join(root, 'no-such-slirp4netns') };
  const r = spawnSync(process.execPath, ['bin/cylo', 'env', 'build', 'nonet', '--lang', 'javascript', '--packages', 'is-number', '--network'], { encoding: 'utf8', env, timeout: 60_000 });
  // proves: refused (never a build without the network isolation), with the layer and the fix
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /build network layer \(slirp4netns/);
  assert.match(r.stderr, /apt-get install slirp4netns/);
  assert.equal(existsSync(join(envs, 'nonet')), false);
  // proves: doctor says so (OFF, with the fix), without calling the host insecure; and says the
  // opposite where the tool is present
  const off = spawnSync(process.execPath, ['bin/cylo', 'doctor'], { encoding: 'utf8', env, timeout: 60_000 });
  assert.match(off.stdout, /^OFF +build net +cylo env build --network is refused: .*apt-get install slirp4netns/m, off.stdout);
  assert.equal(off.status, 0, off.stdout + off.stderr);
  const { CYLO_SLIRP4NETNS: _tool, ...withTool } = env;
  const on = spawnSync(process.execPath, ['bin/cylo', 'doctor'], { encoding: 'utf8', env: withTool, timeout: 60_000 });
  assert.match(on.stdout, /^ok +build net +cylo env build --network can run/m, on.stdout);
});

test('a missing nft: --network is refused naming the output filter and the fix, nothing built', { timeout: 120_000 }, () => {
  const envs = join(root, 'cli-environments-nft');
  const env = { ...process.env, CYLO_UID_BASE: String(UID_BASE + 8), CYLO_UID_COUNT: '4', CYLO_ENVIRONMENTS_DIR: envs, CYLO_NFT: join(root, 'no-such-nft') };
  const r = spawnSync(process.execPath, ['bin/cylo', 'env', 'build', 'nonet', '--lang', 'javascript', '--packages', 'is-number', '--network'], { encoding: 'utf8', env, timeout: 60_000 });
  // proves: without the filter behind the routes (UDP sent to a chosen interface skips them) the
  // build with network does not run at all, and the message names the layer and the fix
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /output filter \(nftables/);
  assert.match(r.stderr, /apt-get install nftables/);
  assert.equal(existsSync(join(envs, 'nonet')), false);
  const off = spawnSync(process.execPath, ['bin/cylo', 'doctor'], { encoding: 'utf8', env, timeout: 60_000 });
  assert.match(off.stdout, /^OFF +build net +cylo env build --network is refused: .*apt-get install nftables/m, off.stdout);
});

test('Landlock relaxed: --network is refused (its TCP port rules are Landlock\'s), nothing built', { ...T, skip: skip ?? false }, async () => {
  const relaxed = createCylo({ environmentsDir: join(root, 'relaxed-environments'), defaultLimits: { ...TIGHT_LIMITS, timeoutMs: 20_000, cpuTimeMs: 20_000, memoryBytes: 256 * 1024 * 1024 }, uidBase: UID_BASE + 16, uidCount: 4, concurrency: 1, relax: ['landlock'] });
  try {
    // proves: with the layer that holds the build to ports 80/443 relaxed, the build with network
    // does not run at all (it would reach every TCP port of every address the stack reaches);
    // fails without the check (the build ran and installed netprobe)
    await assert.rejects(relaxed.buildEnvironment({ name: 'relaxed', language: 'javascript', packages: ['netprobe'], from, network: true }), (e: Error & { code?: string }) => e.code === 'CYLO_E_SANDBOX_UNAVAILABLE' && /Landlock ABI 4/.test(e.message) && /--from DIR/.test(e.message));
    assert.equal(existsSync(join(root, 'relaxed-environments', 'relaxed')), false);
  } finally {
    await relaxed.close({ graceMs: 0 });
  }
});
