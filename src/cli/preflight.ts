// The sandbox check of the long-running commands (`cylo serve`, `cylo worker`) before they take
// any work: a process that cannot run anything must not start.
import type { Cylo } from '../cylo.js';
import { CyloError } from '../errors.js';

/** Checks the sandbox once before listening: a server that cannot run anything must not start.
 *  (Also `cylo worker`'s check before it takes jobs.) */
export async function preflight(cylo: Cylo): Promise<void> {
  const report = await cylo.doctor();
  const failed = report.checks.find((c) => !c.ok);
  if (failed !== undefined) {
    throw new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', `sandbox unavailable: ${failed.layer}: ${failed.detail}${failed.fix === undefined ? '' : `. Fix: ${failed.fix}`} (run cylo doctor)`, { layer: failed.layer });
  }
  if (!report.smoke.ok) throw new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', `sandbox unavailable: a test execution failed: ${report.smoke.detail} (run cylo doctor)`);
  await cylo.runtimes(); // resolve every toolchain now, not on the first request
  await cylo.warm(); // every slot and its prepared sandbox, before the first request
}

