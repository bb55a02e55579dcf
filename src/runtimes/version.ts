// Version selectors, as Piston accepts them: "*", "3", "3.11", "3.11.2", "^3.10", ">=18".
import semver from 'semver';

export function versionMatches(installed: string, selector: string): boolean {
  const wanted = selector.trim();
  if (wanted === '' || wanted === '*' || wanted === installed) return true;
  const version = semver.coerce(installed, { loose: true });
  if (version === null) return false;
  try {
    return semver.satisfies(version, wanted, { loose: true });
  } catch {
    return false;
  }
}
