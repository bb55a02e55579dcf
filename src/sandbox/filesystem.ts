// What the sandbox can see of the host's filesystem: the system tree (/usr) and the runtime's
// own trees read-only, a handful of harmless /etc files, and nothing else: no /home, /root,
// host /tmp, /var, /run (sockets), /sys, or secrets in /etc.
import { existsSync, lstatSync, readlinkSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { WORKSPACE, type LandlockPlan, type ReadOnlyBind } from './bwrap-argv.js';
import { hostPackageTrees } from './host-packages.js';

/** /etc entries a program may legitimately need. Everything else in /etc stays hidden. */
const ETC_ALLOWLIST = [
  '/etc/ld.so.cache', // the dynamic loader's library index
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/alternatives', // Debian's symlink farm for java, editors, ...
  '/etc/localtime',
  '/etc/mime.types',
  '/etc/matplotlibrc', // Debian's matplotlib reads its defaults only here (a style file, no secrets)
  '/etc/fonts', // fontconfig's configuration (where fonts are), for programs that draw text
];

/** True when an unprivileged, group-less uid can reach PATH (every parent searchable by others). */
export function reachableByOthers(path: string): boolean {
  let dir = dirname(path);
  for (;;) {
    try {
      if ((statSync(dir).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    if (dir === '/') return true;
    dir = dirname(dir);
  }
}

export interface FilesystemLayout {
  binds: ReadOnlyBind[];
  /** The host's package directories, each covered by an empty read-only tmpfs
   *  (host-packages.ts); binds whose dest lies inside one are made after it. */
  masks: string[];
  symlinks: Array<{ target: string; link: string }>;
  landlock: Omit<LandlockPlan, 'mode'>;
}

interface SystemLayout {
  binds: readonly ReadOnlyBind[];
  symlinks: ReadonlyArray<{ target: string; link: string }>;
  etc: readonly string[];
}

let system: SystemLayout | undefined;

/** /usr, the top-level directories (bound, or recreated as links on merged-/usr hosts) and the
 *  allowed /etc entries that exist: looked up once per process, like the system package trees
 *  (host-packages.ts): these are the operator's root-owned system paths, and checking them for
 *  every stage cost three lookups of 15 paths per execution (about 0.2 ms of CPU). An entry
 *  removed later fails the sandbox's bind (a setup error, never a missing layer); one added
 *  later is seen after a restart. */
function systemLayout(): SystemLayout {
  if (system !== undefined) return system;
  const binds: ReadOnlyBind[] = [{ source: '/usr', dest: '/usr' }];
  const symlinks: Array<{ target: string; link: string }> = [];
  // Merged-/usr hosts have /bin -> usr/bin etc.; others get the real directories bound.
  for (const top of ['/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32']) {
    let st;
    try {
      st = lstatSync(top);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) symlinks.push({ target: readlinkSync(top), link: top });
    else if (st.isDirectory()) binds.push({ source: top, dest: top });
  }
  const etc = ETC_ALLOWLIST.filter((p) => existsSync(p));
  for (const p of etc) binds.push({ source: p, dest: p });
  system = { binds, symlinks, etc };
  return system;
}

/** The layout for a runtime whose extra trees are `roots` (outside /usr, bound at the same
 *  place) and `mounts` (bound elsewhere, e.g. npm packages at /.cylo/node_modules/<name>, or
 *  an environment's trees, which may lie inside a masked package directory). */
export function filesystemLayout(roots: readonly string[], mounts: readonly ReadOnlyBind[] = []): FilesystemLayout {
  const system = systemLayout();
  const binds: ReadOnlyBind[] = system.binds.map((b) => ({ ...b }));
  const symlinks = system.symlinks.map((l) => ({ ...l }));
  const etc = system.etc;
  for (const root of roots) {
    binds.push({ source: root, dest: root, viaFd: !reachableByOthers(root) });
  }
  for (const m of mounts) binds.push({ source: m.source, dest: m.dest, viaFd: !reachableByOthers(m.source) });
  // One Landlock rule per tree: a bind inside /usr (an environment's, at its own path) is
  // covered by /usr's (the helper holds a bounded number of rules).
  const readExec = ['/usr', ...binds.filter((b) => !b.dest.startsWith('/usr/') && b.dest !== '/usr' && !b.dest.startsWith('/etc')).map((b) => b.dest)];
  // A runtime's configuration tree under /etc (e.g. /etc/java-17-openjdk): readable, not executable.
  const etcRoots = roots.filter((r) => r.startsWith('/etc/') && !etc.includes(r));
  return {
    binds,
    masks: hostPackageTrees(roots),
    symlinks,
    landlock: {
      readOnly: [...etc, ...etcRoots, '/proc'],
      readExec,
      readWrite: [WORKSPACE],
      devices: ['/dev'],
    },
  };
}
