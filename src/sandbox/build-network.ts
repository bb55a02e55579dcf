// Outbound network for an environment build (`cylo env build --network`), and nothing else: a
// user-mode network stack, slirp4netns, attached to the build sandbox's OWN network namespace
// (bubblewrap's --unshare-net stays). The stack turns the sandbox's TCP/UDP into ordinary
// sockets of an unprivileged host process, so the kernel's routing, the host's loopback and
// its interfaces are never shared with the sandbox. Why slirp4netns rather than pasta (passt):
// Debian 12's slirp4netns is a release (1.2.0) with --disable-host-loopback and its own seccomp
// filter; Debian 12's passt is a 2023 git snapshot whose equivalents (--no-map-gw) changed
// meaning since.
//
// What the build can reach (docs/security.md, "Environment builds with network"):
// - TCP ports 80 and 443 only (Landlock ABI 4 rules, --connect-tcp); DNS through slirp's
//   forwarder at 10.0.2.3, which asks the host's resolver;
// - never the host's loopback (--disable-host-loopback: 10.0.2.2 is refused), never
//   link-local/cloud metadata (169.254.0.0/16), private (10/8, 172.16/12, 192.168/16) or shared
//   (100.64/10) ranges: blackhole routes inside the namespace (native/blackhole.c); of slirp's
//   own 10.0.2.0/24 only UDP port 53 of 10.0.2.3 (policy rules, same file: slirp forwards every
//   port of 10.0.2.3 to the host's nameserver, which may be loopback or a metadata server);
// - and behind the routes, a netfilter output chain in the namespace (native/netfilter.c,
//   loaded with Debian's nft) dropping every packet but DNS to 10.0.2.3:53 and TCP to the ports
//   above outside those ranges: a datagram sent to a chosen interface (IP_UNICAST_IF,
//   IP_PKTINFO, IP_MULTICAST_IF) skips the routes, never the filter.
// The stack runs as the sandbox's own uid in a root of its own (native/netns.c), with its
// seccomp filter, inside the build's own cgroup (its CPU and memory count against the build's
// limits), and ends with the stage (its exit pipe closes; the stage's cgroup kill sweep).
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CyloError } from '../errors.js';
import type { ReadOnlyBind } from './bwrap-argv.js';

/** The TCP ports a build with network may connect to: HTTP and HTTPS (PyPI, the npm registry). */
export const BUILD_NETWORK_PORTS: readonly number[] = [80, 443];
/** slirp4netns's DNS forwarder inside the namespace (its default 10.0.2.0/24 network). */
export const BUILD_NETWORK_DNS = '10.0.2.3';
/** Where the build sandbox finds its resolver configuration. */
export const RESOLV_CONF_IN_SANDBOX = '/etc/resolv.conf';
/** The default path of slirp4netns (Debian's package); CYLO_SLIRP4NETNS overrides it. */
export const DEFAULT_SLIRP4NETNS = '/usr/bin/slirp4netns';
/** Processes the stack adds to the build's cgroup (slirp4netns is one single-threaded process):
 *  added to the stage's pids limit, so that the build keeps every process it asked for. */
export const BUILD_NETWORK_PIDS = 1;
/** Time allowed for the stack to configure the namespace (a few ms on an idle host). */
export const NETWORK_READY_TIMEOUT_MS = 10_000;

/** A tool a build with network depends on: `configured` resolved (absolute, executable, under
 *  /usr). Throws CYLO_E_SANDBOX_UNAVAILABLE naming `layer`, the Debian `pkg` to install, and
 *  `underUsr` (why it must lie under /usr), so that a build never has network without it. */
function networkToolPath(configured: string, layer: string, pkg: string, underUsr: string): string {
  let real: string;
  try {
    if (!configured.startsWith('/')) throw new Error('not an absolute path');
    real = realpathSync(configured);
    accessSync(real, constants.X_OK);
  } catch (error) {
    throw new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', `--network: ${layer} is not available: ${configured}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}. Install it (Debian: apt-get install ${pkg}; scripts/setup.sh does) or build without --network from a local directory (--from DIR)`);
  }
  if (!real.startsWith('/usr/')) throw new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', `--network: ${layer}: ${real} must lie under /usr (${underUsr}); install Debian's ${pkg}`);
  // Review finding N6: under /usr is not enough where a directory there is group-writable (Debian's
  // /usr/local is root:staff 2775 on some hosts): whoever can replace the file or a directory
  // above it would run code as root (nft) or as the stack. Root's, writable by root only.
  for (let path = real; path !== '/'; path = dirname(path)) {
    const st = statSync(path);
    if (st.uid !== 0 || (st.mode & 0o022) !== 0) throw new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', `--network: ${layer}: ${path} is ${st.uid !== 0 ? `owned by uid ${st.uid}` : 'writable by its group or others'}; the tool and every directory above it must be root's and writable by root only (${underUsr}); install Debian's ${pkg}`);
  }
  return real;
}

/** slirp4netns's path: CYLO_SLIRP4NETNS (absolute) or /usr/bin/slirp4netns. Throws
 *  CYLO_E_SANDBOX_UNAVAILABLE naming the layer and the fix when it is missing or unusable, so
 *  that a build never runs with network but without this isolation. */
export function slirp4netnsPath(env: NodeJS.ProcessEnv = process.env): string {
  // The stack runs confined to a root holding /usr only (native/netns.c).
  return networkToolPath(env.CYLO_SLIRP4NETNS ?? DEFAULT_SLIRP4NETNS, 'the build network layer (slirp4netns, a user-mode network stack in the build sandbox\'s own network namespace)', 'slirp4netns', 'the stack runs in a root that holds only /usr');
}

/** The default path of nft (Debian's nftables package); CYLO_NFT overrides it. */
export const DEFAULT_NFT = '/usr/sbin/nft';

/** nft's path: CYLO_NFT (absolute) or /usr/sbin/nft, under /usr (the helper runs it as root in
 *  the build's network namespace). Throws CYLO_E_SANDBOX_UNAVAILABLE naming the layer and the
 *  fix when it is missing, so that a build never has network without its output filter. */
export function nftPath(env: NodeJS.ProcessEnv = process.env): string {
  // Root runs it: a binary anyone but root could replace would run as root.
  return networkToolPath(env.CYLO_NFT ?? DEFAULT_NFT, 'the build network\'s output filter (nftables: drops every packet but DNS and TCP to ports 80/443, whatever interface the build picks)', 'nftables', 'the helper runs it as root');
}

/** slirp4netns's argv, each flag with what it is for. The namespaces are fds 5 and 6, put there
 *  by the helper's net mode; fd 3 is the ready pipe, fd 4 the exit pipe (stdio of spawn). */
export function slirpArgv(path: string): string[] {
  return [
    path,
    '--configure', // tap0 up with 10.0.2.100/24 and a default route via 10.0.2.2: nothing else
    '--mtu=65520', // fewer, larger packets through the user-mode stack (its recommended value)
    '--disable-host-loopback', // 10.0.2.2 never reaches the host's 127.0.0.1 services (redis, cylo serve...)
    // Its own syscall filter: a bug in the packet parser cannot reach most of the kernel. Its
    // --enable-sandbox is not used: it needs uid 0 mapped in the namespace it joins, which the
    // build sandbox's is not; native/netns.c confines it instead (a root of its own).
    '--enable-seccomp',
    '--ready-fd=3', // writes "1" once the interface is configured: the job is sent only then
    '--exit-fd=4', // exits when cylo closes this pipe (the stage ended, or cylo died)
    '--userns-path=/proc/self/fd/6', // the user namespace owning the sandbox's network namespace
    '--netns-type=path',
    '/proc/self/fd/5', // the sandbox's network namespace, opened and checked by the helper
    'tap0',
  ];
}

/** The host's CA bundle (Debian's ca-certificates: public certificates, no secrets), bound
 *  read-only at the same path into a build with network, so that its TLS trusts what the host
 *  trusts (an operator's own CA for a TLS-inspecting egress proxy included). */
export const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** The host's CA bundle when it has one, else undefined (the installers' own CAs apply). */
export function hostCaBundle(): string | undefined {
  try {
    accessSync(CA_BUNDLE, constants.R_OK);
    return CA_BUNDLE;
  } catch {
    return undefined;
  }
}

/** A running stack; stop() ends it (idempotent). */
export interface BuildNetwork {
  stop(): void;
}

/** What the build sandbox needs for names: a resolv.conf naming slirp's forwarder, written by
 *  cylo into a fresh root-only directory (bound read-only; removed by cleanup()). */
export function resolverFile(): { bind: ReadOnlyBind; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'cylo-resolv-'));
  const file = join(dir, 'resolv.conf');
  writeFileSync(file, `nameserver ${BUILD_NETWORK_DNS}\noptions attempts:2 timeout:3\n`, { mode: 0o644, flag: 'wx' });
  return { bind: { source: file, dest: RESOLV_CONF_IN_SANDBOX, viaFd: true }, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The read-only files a build with network sees in /etc: its resolv.conf and the host's CA
 *  bundle (when present); `cleanup` removes the resolv.conf's directory after the stage. */
export function networkFiles(): { binds: ReadOnlyBind[]; cleanup: () => void } {
  const resolver = resolverFile();
  const ca = hostCaBundle();
  const binds = [resolver.bind, ...(ca === undefined ? [] : [{ source: realpathSync(ca), dest: ca }])];
  return { binds, cleanup: resolver.cleanup };
}

/** Starts the stack for the sandbox whose PID 1 is `pid` (host pid), as `uid`/`gid`, inside the
 *  build's own cgroups (`cgroupProcs`: the stage's cgroup.procs files; its CPU and memory are the
 *  build's, and the stage's kill sweep ends it), and resolves once the namespace is configured; rejects with the helper's or the stack's own
 *  words (its stderr) when it exits first or is not ready within NETWORK_READY_TIMEOUT_MS. */
export function startBuildNetwork(helperPath: string, slirpPath: string, nft: string, pid: number, uid: number, gid: number, cgroupProcs: readonly string[]): Promise<BuildNetwork> {
  const cgroups = cgroupProcs.flatMap((procs) => ['--cgroup-procs', procs]);
  const ports = BUILD_NETWORK_PORTS.flatMap((port) => ['--tcp-port', String(port)]);
  const argv = ['net', '--pid', String(pid), '--uid', String(uid), '--gid', String(gid), '--nft', nft, ...ports, ...cgroups, '--', ...slirpArgv(slirpPath)];
  const child = spawn(helperPath, argv, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], env: {}, windowsHide: true });
  const stop = (): void => {
    (child.stdio[4] as Writable | null)?.destroy();
    child.kill('SIGKILL');
  };
  return new Promise<BuildNetwork>((resolve, reject) => {
    let stderr = '';
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stop();
      reject(new Error(`the build network (slirp4netns) could not be set up: ${why}`));
    };
    const timer = setTimeout(() => fail(`not ready within ${NETWORK_READY_TIMEOUT_MS} ms`), NETWORK_READY_TIMEOUT_MS);
    (child.stderr as Readable).on('data', (c: Buffer) => {
      if (stderr.length < 4096) stderr += c.toString('utf8');
    });
    (child.stdio[4] as Writable).on('error', () => {});
    (child.stdio[3] as Readable).on('data', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ stop });
    });
    child.on('error', (error) => fail(error.message));
    child.on('exit', (code, signal) => fail(`${lastLines(stderr) || 'no message'} (exit ${code ?? signal})`));
  });
}

/** The last meaningful lines of the stack's stderr (its seccomp warning left out). */
function lastLines(text: string): string {
  return text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('WARNING: Support for seccomp')).slice(-3).join('; ');
}

