// Pre-flight for the hostile tests (integration limits and isolation, the security battery).
// Before any fork bomb, memory bomb or network probe runs on this (shared) machine, benign
// programs prove that the three brakes that keep such a program from hurting the host are in
// force:
//   - the pids limit:        20 forks under `pids: 8` must fail with EAGAIN,
//   - the memory limit:      touching 64 MiB under `memoryBytes: 32 MiB` must end `memory_limit`,
//   - the network namespace: the only interface inside must be `lo`.
// Hostile tests call skipWithoutPreflight(t) first and skip (visibly, with the reason) when it is
// not ok; the pre-flight itself is a test of its own (test/integration/limits.test.ts), which
// fails rather than skips on a host that can run sandboxes.
import type { TestContext } from 'node:test';
import { run } from './cylo.js';
import { sandboxSkipReason } from './host.js';
import { slow } from './slow.js';
import { MiB } from './units.js';

export interface PreflightResult {
  ok: boolean;
  reason?: string;
}

export const PIDS_PROGRAM = `
import errno, os, time
started, failure = 0, None
for _ in range(20):
    try:
        pid = os.fork()
    except OSError as e:
        failure = errno.errorcode.get(e.errno, str(e.errno))
        break
    if pid == 0:
        time.sleep(3)
        os._exit(0)
    started += 1
print(started, failure)
`;

const MEMORY_PROGRAM = `
data = b'x' * (64 << 20)
print(len(data))
`;

const NETWORK_PROGRAM = `
import socket
names = [line.split(':')[0].strip() for line in open('/proc/net/dev').read().splitlines()[2:]]
print(','.join(sorted(names)), ','.join(sorted(n for _, n in socket.if_nameindex())))
`;

async function check(): Promise<PreflightResult> {
  const host = sandboxSkipReason();
  if (host !== undefined) return { ok: false, reason: host };
  const failures: string[] = [];
  try {
    const pids = await run({ language: 'python', code: PIDS_PROGRAM, limits: { pids: 8, timeoutMs: slow(5000), memoryBytes: 64 * MiB } });
    const [started, failure] = pids.run.stdout.trim().split(' ');
    if (pids.status !== 'ok' || failure !== 'EAGAIN' || Number(started) >= 8) {
      failures.push(`pids limit not in force (20 forks under pids 8: status ${pids.status}, output ${JSON.stringify(pids.run.stdout.trim())}, ${pids.run.message ?? pids.run.stderr.slice(0, 200)})`);
    }
    const memory = await run({ language: 'python', code: MEMORY_PROGRAM, limits: { memoryBytes: 32 * MiB, timeoutMs: slow(5000) } });
    if (memory.status !== 'memory_limit') {
      failures.push(`memory limit not in force (64 MiB under 32 MiB: status ${memory.status}, ${memory.run.message ?? memory.run.stderr.slice(0, 200)})`);
    }
    const net = await run({ language: 'python', code: NETWORK_PROGRAM, limits: { timeoutMs: slow(5000) } });
    if (net.status !== 'ok' || net.run.stdout.trim() !== 'lo lo') {
      failures.push(`network namespace not in force (interfaces inside: ${JSON.stringify(net.run.stdout.trim())}, status ${net.status}, ${net.run.stderr.slice(0, 200)})`);
    }
  } catch (error) {
    failures.push(`pre-flight execution failed: ${(error as Error).message}`);
  }
  if (failures.length === 0) return { ok: true };
  return { ok: false, reason: `pre-flight failed, hostile tests not run: ${failures.join('; ')}` };
}

let memo: Promise<PreflightResult> | undefined;

/** Memoized: the checks run once per test process. */
export function preflight(): Promise<PreflightResult> {
  memo ??= check();
  return memo;
}

/** For hostile tests: skips visibly, with the reason, unless the pre-flight passed. */
export async function skipWithoutPreflight(t: TestContext): Promise<boolean> {
  const result = await preflight();
  if (result.ok) return false;
  t.skip(result.reason ?? 'pre-flight failed');
  return true;
}
