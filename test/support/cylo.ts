// cylo instances for tests, and the sandbox uid ranges they use.
//
// Every test file runs in a process of its own, and every range below is offset by this
// process's pid, so concurrent test files (and concurrent test runs on one host) never share a
// sandbox uid: they would share RLIMIT_NPROC accounting and could see each other's processes by
// uid. Within one process the ranges are laid out as follows (the three suites keep the distinct
// bases they always had):
//
//   TEST_UID_BASE (2_000_065_536 + (pid % 8192) * 256), 256 uids:
//     [+0, +128)     the shared instances of getCylo() (integration, MCP, the security pre-flight)
//     [+128, +256)   instances a test file creates itself: pool (+128, 64; +192, 8), prepared
//                    (+192, 8; +200, 8; +208, 8), prestart-differential (+128 to +168, 8
//                    each), security/zygote (+128 to +160, 8 each), lifecycle's separate
//                    service (+128, 64), watch (+224, 16), cli-exec (+240, 8), MCP serve-http
//                    (+128, 64), and the security battery's SECURITY_UIDS (+128 to +256, 32
//                    each)
//   SERVER_TEST_UID_BASE (2_100_000_000 + (pid % 8192) * 512), 512 uids:
//     testCylo(options, offset) and the `cylo serve` processes of the server tests
//     (routes +0, socket +128, stream and load +256, connect +384, serve-lifecycle +384 and +448)
//   BROWSER_TEST_UID_BASE (2_104_194_304 + (pid % 8192) * 64), 64 uids, above the server tests'
//     whole span: the playground's browser tests (the served without a token +0, with a token
//     +16, 16 each) and the CORS test's instance (+32, 16)
import { slow } from './slow.js';
import { createCylo, type Cylo, type CyloOptions, type ExecuteOptions } from '../../src/cylo.js';
import type { ExecuteRequest } from '../../src/api/request.js';
import type { ExecutionResult, Stage } from '../../src/api/result.js';
import type { RelaxableLayer } from '../../src/sandbox/host-check.js';
import { MiB } from './units.js';

/** The sandbox uid range of the integration, MCP and security tests: above 2_000_000_000 like
 *  cylo's default, offset by this process's pid. */
export const TEST_UID_BASE = 2_000_000_000 + 65_536 + (process.pid % 8192) * 256;
/** The shared instances use the first half of the range; the second half is for instances and
 *  services a test file starts itself. */
export const TEST_UID_COUNT = 128;

/** The security battery's own instances and services (32 uids each), in the second half of the
 *  range above. */
export const SECURITY_UIDS = {
  fresh: TEST_UID_BASE + TEST_UID_COUNT,
  leaks: TEST_UID_BASE + TEST_UID_COUNT + 32,
  service: TEST_UID_BASE + TEST_UID_COUNT + 64,
  load: TEST_UID_BASE + TEST_UID_COUNT + 96,
} as const;
export const SECURITY_UID_COUNT = 32;

/** The server tests' uid range (512 uids), away from the one above. */
export const SERVER_TEST_UID_BASE = 2_100_000_000 + (process.pid % 8192) * 512;

/** The playground's browser tests and the CORS test (64 uids), past every server test range. */
export const BROWSER_TEST_UID_BASE = 2_100_000_000 + 8192 * 512 + (process.pid % 8192) * 64;

/** Limits every shared-instance execution gets unless a test asks otherwise: small, so that even
 *  a hostile program costs little, and the whole suite stays fast on 2 cores. */
export const TIGHT_LIMITS = Object.freeze({
  // Budgets to finish in, stretched on emulated hosts (test/support/slow.ts).
  timeoutMs: slow(2000),
  cpuTimeMs: slow(2000),
  compileTimeoutMs: slow(30_000),
  memoryBytes: 128 * MiB,
  pids: 32,
  outputBytes: 64 * 1024,
  workspaceBytes: 8 * MiB,
});

/** The most a test request may ask for: cylo's own maxima, stretched like the budgets (the same
 *  figures unless CYLO_TEST_SLOW is set). */
export const TEST_MAX_LIMITS = Object.freeze({ timeoutMs: slow(60_000), cpuTimeMs: slow(60_000), compileTimeoutMs: slow(120_000) });

const shared = new Map<string, Cylo>();

/** One cylo per set of relaxed layers, created on first use and shared by a test file's tests. */
export function getCylo(relax: RelaxableLayer[] = []): Cylo {
  const key = [...relax].sort().join(',');
  let cylo = shared.get(key);
  if (cylo === undefined) {
    // concurrency 4: tests that hold two sandboxes open at once must not queue behind each other on a small host.
    cylo = createCylo({ relax, defaultLimits: { ...TIGHT_LIMITS }, maxLimits: { ...TEST_MAX_LIMITS }, uidBase: TEST_UID_BASE, uidCount: TEST_UID_COUNT, concurrency: 4 });
    shared.set(key, cylo);
  }
  return cylo;
}

/** Closes the shared instances this process created: an idle slot may hold a sandbox started
 *  ahead of time, whose pipes would keep the test process alive after its last test. */
export async function closeSharedCylos(): Promise<void> {
  const instances = [...shared.values()];
  shared.clear();
  for (const cylo of instances) await cylo.close({ graceMs: 0 });
}

/** A cylo of the server tests: small default limits, uids from SERVER_TEST_UID_BASE + uidOffset. */
export function testCylo(options: CyloOptions = {}, uidOffset = 0): Cylo {
  return createCylo({
    maxLimits: { ...TEST_MAX_LIMITS },
    defaultLimits: { timeoutMs: slow(5000), cpuTimeMs: slow(5000), memoryBytes: 128 * MiB, pids: 32, outputBytes: 256 * 1024, workspaceBytes: 16 * MiB },
    uidBase: SERVER_TEST_UID_BASE + uidOffset,
    uidCount: 128,
    ...options,
  });
}

/** Runs a request on the shared instance and returns the result with its run stage (asserted
 *  present). */
export async function run(request: ExecuteRequest, options: ExecuteOptions & { relax?: RelaxableLayer[] } = {}): Promise<ExecutionResult & { run: Stage }> {
  const { relax, ...execOptions } = options;
  const result = await getCylo(relax).execute(request, execOptions);
  if (result.run === null) throw new Error(`no run stage: ${JSON.stringify(result)}`);
  return result as ExecutionResult & { run: Stage };
}

/** Starts an execution on the shared instance and resolves `ready` once its program has written
 *  `ready` to stdout, so a test can look at the running sandbox from the host. */
export function startAndWaitReady(
  request: ExecuteRequest,
  options: ExecuteOptions & { relax?: RelaxableLayer[]; ready?: string } = {},
): { result: Promise<ExecutionResult>; ready: Promise<void> } {
  const { relax, ready: token = 'ready', ...execOptions } = options;
  let seen = '';
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const result = getCylo(relax).execute(request, {
    ...execOptions,
    onEvent: (e) => {
      execOptions.onEvent?.(e);
      if (e.type === 'stdout') {
        seen += e.data.toString('utf8');
        if (seen.includes(token)) markReady();
      }
    },
  });
  // If the execution ends before it is ready, let the waiter see why instead of hanging.
  const readyOrEnd = Promise.race([ready, result.then(() => Promise.reject(new Error(`execution ended before printing ${JSON.stringify(token)}`)))]);
  readyOrEnd.catch(() => {});
  result.catch(() => {});
  return { result, ready: readyOrEnd };
}
