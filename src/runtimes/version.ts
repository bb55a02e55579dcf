// Version selectors, as Piston accepts them: "*", "3", "3.11", "3.11.2", "^3.10", ">=18".
// semver (some 40 files) is loaded only when a selector needs it, not at every CLI start.
import { createRequire } from 'node:module';
import type SemVer from 'semver';

const requireHere = createRequire(import.meta.url);
let semverModule: typeof SemVer | undefined;

export function versionMatches(installed: string, selector: string): boolean {
  const wanted = selector.trim();
  if (wanted === '' || wanted === '*' || wanted === installed) return true;
  const semver = (semverModule ??= requireHere('semver') as typeof SemVer);
  const version = semver.coerce(installed, { loose: true });
  if (version === null) return false;
  try {
    return semver.satisfies(version, wanted, { loose: true });
  } catch {
    return false;
  }
}
