// "Can this host run sandboxes?": the one skip helper of the test suites. A test that needs real
// sandboxes calls skipWithoutSandbox(t) first, and skips visibly, with the reason, when the host
// cannot run them (not Linux, not root, or a layer cylo requires is missing: cylo's own host
// check decides). A test file that decides at load time (a describe's `skip` option, an
// instance created only when sandboxes can run) uses sandboxSkipReason().
import type { TestContext } from 'node:test';
import { checkHost } from '../../src/sandbox/host-check.js';

/** Why this process cannot manage cgroups and switch uids (not Linux, not root), or undefined. */
export function rootSkipReason(): string | undefined {
  if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'needs root (cylo gives each sandbox its own uid and cgroup)';
  return undefined;
}

let memo: string | null | undefined;

/** Why this host cannot run real sandboxes, or undefined when it can. Checked once per process. */
export function sandboxSkipReason(): string | undefined {
  if (memo === undefined) {
    const root = rootSkipReason();
    if (root !== undefined) memo = root;
    else {
      const failed = checkHost().checks.find((c) => !c.ok);
      memo = failed === undefined ? null : `host cannot run sandboxes: ${failed.layer}: ${failed.detail}${failed.fix === undefined ? '' : ` (fix: ${failed.fix})`}`;
    }
  }
  return memo ?? undefined;
}

/** Skips the test visibly, with the reason, when the host cannot run sandboxes; true then. */
export function skipWithoutSandbox(t: TestContext): boolean {
  const reason = sandboxSkipReason();
  if (reason === undefined) return false;
  t.skip(reason);
  return true;
}
