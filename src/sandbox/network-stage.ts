// An environment build stage with network (`cylo env build --network`) on the namespace
// backend: its own sandbox (never a prepared one), with the user-mode network stack of
// build-network.ts attached to the sandbox's network namespace before the job is sent. The
// rest of the stage (cgroup configuration, the kill sweep of other stages) is
// namespace-backend.ts's.
import type { StageReport, StageSpec } from '../backend/backend.js';
import { CyloError } from '../errors.js';
import { BUILD_NETWORK_PORTS, networkFiles, nftPath, slirp4netnsPath, startBuildNetwork, type BuildNetwork } from './build-network.js';
import type { SandboxPlan } from './bwrap-argv.js';
import type { NamespaceHost, NamespaceSlot } from './namespace-backend.js';
import type { PreparedSandbox } from './prepared-sandbox.js';
import { childrenOf } from './signal-program.js';

/**
 * Runs `spec` with network in `slot`: a resolv.conf naming the stack's DNS forwarder and the
 * host's CA bundle (read-only, Landlock read rules), Landlock TCP rules for the index's ports,
 * and the stack (slirp4netns, filtered by nftables) attached before the job is sent. `plan`
 * plans the sandbox for a spec (the backend's own planning); `start` starts the sandbox for the
 * final plan (the backend's own start: through the spawner, counted as started on demand). Throws
 * CYLO_E_SANDBOX_UNAVAILABLE before anything starts when slirp4netns or nft is missing, or when
 * the port rules cannot hold (Landlock relaxed or below ABI 4). Kills the slot's cgroup after.
 */
export async function runNetworkStage(host: NamespaceHost, plan: (spec: StageSpec) => SandboxPlan, slot: NamespaceSlot, spec: StageSpec, start: (plan: SandboxPlan) => PreparedSandbox): Promise<StageReport> {
  const { cgroup, identity } = slot;
  // The port rules are Landlock's (ABI 4): without them the build could connect to every TCP
  // port of every address the stack reaches. Relaxed or too old: refused, never run without.
  if (host.relax.has('landlock') || host.landlockAbi < 4) {
    throw new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', `--network: the build's TCP port rules (Landlock ABI 4: ports ${BUILD_NETWORK_PORTS.join(' and ')} only) are not available: ${host.relax.has('landlock') ? 'the landlock layer is relaxed (CYLO_RELAX / relax)' : `this kernel has Landlock ABI ${host.landlockAbi}`}. Build without --network from a local directory (--from DIR), or on a host with Linux 6.7 or later and Landlock enabled`);
  }
  const slirp = slirp4netnsPath();
  const nft = nftPath();
  const files = networkFiles();
  let network: BuildNetwork | undefined;
  // Set when the stage is over: a stack still starting then (the stage was stopped or
  // cancelled meanwhile) is stopped as soon as it is up, never left running.
  let ended = false;
  try {
    const planned = plan({ ...spec, mounts: [...spec.mounts, ...files.binds] });
    planned.landlock.readOnly.push(...files.binds.map((b) => b.dest));
    planned.landlock.connectTcp = [...BUILD_NETWORK_PORTS];
    const sandbox = start(planned);
    return await sandbox.run(planned, spec, async (bwrapPid) => {
      const started = await startBuildNetwork(host.helperPath, slirp, nft, await sandboxPid1(bwrapPid, () => ended), identity.uid, identity.gid, cgroup.procsFiles);
      if (ended) {
        started.stop();
        throw new Error('the stage ended while its network was being set up');
      }
      network = started;
    });
  } finally {
    ended = true;
    network?.stop();
    await cgroup.killAll();
    files.cleanup();
  }
}

const SANDBOX_PID1_TIMEOUT_MS = 10_000;

/** The host pid of the sandbox's PID 1 (bubblewrap's child, in the new namespaces from its
 *  clone on), once bubblewrap has made it; rejects after SANDBOX_PID1_TIMEOUT_MS or when
 *  `ended()` says the stage is over. */
async function sandboxPid1(bwrapPid: number, ended: () => boolean): Promise<number> {
  const deadline = performance.now() + SANDBOX_PID1_TIMEOUT_MS;
  for (;;) {
    const [pid] = childrenOf(bwrapPid);
    if (pid !== undefined) return pid;
    if (ended()) throw new Error('the stage ended before its PID 1 appeared');
    if (performance.now() > deadline) throw new Error(`the sandbox's PID 1 did not appear within ${SANDBOX_PID1_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
