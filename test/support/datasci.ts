// Whether the built-in datasci environment (Debian's python3-numpy, python3-pandas,
// python3-matplotlib; src/environments/debian.ts) is complete on this host, for tests that use it.
import { DATASCI_PACKAGES, discoverDatasci } from '../../src/environments/debian.js';

let reason: string | undefined | null = null;

/** Why a test needing datasci cannot run here (a visible skip reason), or undefined. */
export function datasciSkipReason(): string | undefined {
  if (reason !== null) return reason;
  const found = discoverDatasci();
  const names = new Set(found?.info.packages.map((p) => `python3-${p.name}`) ?? []);
  const missing = DATASCI_PACKAGES.filter((p) => !names.has(p));
  reason = missing.length === 0 ? undefined : `the datasci environment is incomplete on this host (missing ${missing.join(', ')}); scripts/setup.sh installs them (unless CYLO_SETUP_DATASCI=0)`;
  return reason;
}
