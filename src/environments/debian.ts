// The built-in `datasci` environment: Debian's own python3-numpy, python3-pandas and
// python3-matplotlib (installed by scripts/setup.sh), exposed to Python programs that ask for
// it and to no others. Debian installs them into /usr/lib/python3/dist-packages next to
// everything else the host has (apt, dbus, yaml...), which the sandbox masks
// (src/sandbox/host-packages.ts); this environment binds back exactly the entries that these
// packages and their python3-* dependencies own, at their own paths (their relative links and
// .pth files keep working). Looked up with dpkg-query, a trusted host tool.
import { spawnSync } from 'node:child_process';
import { lstatSync } from 'node:fs';
import type { HostMount } from '../backend/backend.js';
import type { EnvironmentInfo, EnvironmentLayer } from './types.js';

export const DATASCI = 'datasci';
/** The packages datasci is made of (their python3-* dependencies come with them). */
export const DATASCI_PACKAGES = ['python3-numpy', 'python3-pandas', 'python3-matplotlib'] as const;
const DIST_PACKAGES = '/usr/lib/python3/dist-packages';

interface DebPackage {
  name: string;
  version: string;
  depends: string[];
}

/** Installed Debian packages among `names` with their versions and python3-* dependencies
 *  (virtual and missing ones left out). */
function query(names: readonly string[]): DebPackage[] {
  if (names.length === 0) return [];
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Package}\\t${Version}\\t${db:Status-Abbrev}\\t${Depends}\\n', ...names], { encoding: 'utf8', timeout: 10_000 });
  if (r.error !== undefined || typeof r.stdout !== 'string') return [];
  return r.stdout.split('\n').flatMap((line) => {
    const [name, version, status, depends] = line.split('\t');
    if (name === undefined || version === undefined || status?.startsWith('ii') !== true) return [];
    const deps = (depends ?? '').split(/[,|]/).map((d) => d.trim().split(/[\s:(]/)[0] ?? '').filter((d) => /^python3-[a-z0-9.+-]+$/.test(d));
    return [{ name, version, depends: deps }];
  });
}

/** `roots` and every installed python3-* package they depend on. */
function closure(roots: readonly string[]): DebPackage[] {
  const found = new Map<string, DebPackage>();
  let frontier = [...roots];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const p of query(frontier)) {
      if (found.has(p.name)) continue;
      found.set(p.name, p);
      next.push(...p.depends.filter((d) => !found.has(d)));
    }
    frontier = [...new Set(next)];
  }
  return [...found.values()];
}

/** The top-level dist-packages entries `pkg` owns (`dpkg-query -L`). */
function ownedEntries(pkg: DebPackage): string[] {
  const r = spawnSync('dpkg-query', ['-L', pkg.name], { encoding: 'utf8', timeout: 10_000, maxBuffer: 64 * 1024 * 1024 });
  const entries = new Set<string>();
  for (const line of (r.stdout ?? '').split('\n')) {
    if (!line.startsWith(`${DIST_PACKAGES}/`)) continue;
    const top = line.slice(DIST_PACKAGES.length + 1).split('/')[0];
    if (top !== undefined && top !== '' && top !== '__pycache__') entries.add(top);
  }
  // Only what is really there (a real file or directory, not a link the host could redirect).
  return [...entries].sort().filter((e) => {
    try {
      const st = lstatSync(`${DIST_PACKAGES}/${e}`);
      return st.isDirectory() || st.isFile();
    } catch {
      return false;
    }
  });
}

/** Debian "1:1.24.2-1+deb12u1" -> "1.24.2" (the upstream version a program sees). */
export function upstreamVersion(debian: string): string {
  return debian.replace(/^\d+:/, '').replace(/(\+dfsg)?(-[^-]*)?$/, '');
}

/** datasci as a stage sees it: each owned dist-packages entry bound at its own path. */
export function datasciLayer(entries: readonly string[]): EnvironmentLayer {
  const mounts: HostMount[] = entries.map((e) => ({ source: `${DIST_PACKAGES}/${e}`, dest: `${DIST_PACKAGES}/${e}` }));
  return { mounts, env: {} };
}

/** The datasci environment of this host, or undefined when python3-numpy is not installed. */
export function discoverDatasci(): { info: EnvironmentInfo; entries: string[] } | undefined {
  const packages = closure(DATASCI_PACKAGES);
  if (!packages.some((p) => p.name === 'python3-numpy')) return undefined;
  // Only the packages that put something into dist-packages (not python3-dev and the like).
  const owned = packages.map((p) => ({ p, entries: ownedEntries(p) })).filter((o) => o.entries.length > 0);
  const listed = owned.map(({ p }) => ({ name: p.name.slice('python3-'.length), version: upstreamVersion(p.version) })).sort((a, b) => a.name.localeCompare(b.name));
  const info: EnvironmentInfo = {
    name: DATASCI,
    language: 'python',
    packages: listed,
    builtin: true,
    created: null,
    build: { tool: 'debian', requested: DATASCI_PACKAGES.filter((n) => packages.some((p) => p.name === n)), from: null, network: false },
  };
  return { info, entries: [...new Set(owned.flatMap((o) => o.entries))].sort() };
}
