// A cage for running the native helper's inner mode on untrusted input outside bubblewrap (the
// job-protocol fuzzer, test/security/fuzz-helper.test.ts): the helper gets its own PID, mount,
// network, IPC and UTS namespaces (unshare; it is PID 1 there, as in a sandbox, so its
// kill(-1) reaches nothing else), an unprivileged uid with no capabilities and no_new_privs
// (setpriv), and rlimits on its address space, core dumps and file sizes (prlimit). Its
// workspace is a directory owned by that uid inside a "cage" directory that also holds what a
// bug could reach: a host marker file and an `outside` directory, with links in the workspace
// pointing at them (relative and absolute). `cageChanges` lists what changed around the
// workspace: a bug that creates or follows a path out of it shows there.
import { chmodSync, chownSync, lchownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultHelperPath } from '../../src/sandbox/host-check.js';
import { FD_BUNDLE, FD_STATUS } from './helper-process.js';

/** The host marker's content: it must read back unchanged after every case. */
export const MARKER_CONTENT = 'host marker: the helper must never touch this file\n';
/** Links planted in the workspace before each case (never to be followed). */
export const PLANTED_LINKS = ['up', 'abs'] as const;

export interface Cage {
  /** The directory around the workspace (owned by the helper's uid, so a bug could write here). */
  readonly cage: string;
  /** The helper's workspace (its --workdir). */
  readonly work: string;
  /** The confined command: unshare, prlimit, setpriv, then the helper's inner mode. */
  readonly command: string[];
  /** Empties the workspace and plants the links again (between cases). */
  reset(): void;
  /** What changed outside the workspace since the cage was made ([] when nothing did). */
  changes(): string[];
  remove(): void;
}

/** Builds a cage for the uid/gid ID (an unused sandbox uid: nothing else runs as it). */
export function makeCage(id: number): Cage {
  const top = mkdtempSync(join(tmpdir(), 'cylo-helper-fuzz-'));
  chmodSync(top, 0o711);
  const cage = join(top, 'cage');
  const work = join(cage, 'work');
  const outside = join(cage, 'outside');
  const marker = join(cage, 'host-marker');
  mkdirSync(cage, { mode: 0o700 });
  mkdirSync(outside, { mode: 0o700 });
  writeFileSync(marker, MARKER_CONTENT, { mode: 0o644 });
  for (const p of [cage, outside, marker]) chownSync(p, id, id);
  const reset = (): void => {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { mode: 0o700 });
    chownSync(work, id, id);
    symlinkSync('../outside', join(work, 'up'));
    symlinkSync(outside, join(work, 'abs'));
    for (const l of PLANTED_LINKS) lchownSync(join(work, l), id, id);
  };
  reset();
  const command = [
    // PID 1 of its own PID namespace (the inner mode's kill(-1) reaches only it), no network
    'unshare', '--pid', '--fork', '--kill-child', '--mount', '--net', '--ipc', '--uts', '--',
    // 1 GiB of address space (the job is at most 8 MiB), no core files, 16 MiB per file
    'prlimit', `--as=${1 << 30}`, '--core=0', `--fsize=${16 << 20}`, '--',
    // an unprivileged uid, no capabilities, no way to gain any
    'setpriv', `--reuid=${id}`, `--regid=${id}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--',
    defaultHelperPath(), 'inner', '--status-fd', String(FD_STATUS), '--bundle-fd', String(FD_BUNDLE), '--workdir', work, '--landlock', 'off',
  ];
  const changes = (): string[] => {
    const found: string[] = [];
    const entries = readdirSync(cage).sort();
    if (entries.join(',') !== 'host-marker,outside,work') found.push(`the cage holds ${JSON.stringify(entries)}`);
    try {
      if (readFileSync(marker, 'utf8') !== MARKER_CONTENT) found.push('the host marker changed');
    } catch (error) {
      found.push(`the host marker is gone: ${(error as Error).message}`);
    }
    const out = readdirSync(outside);
    if (out.length > 0) found.push(`outside holds ${JSON.stringify(out)}`);
    return found;
  };
  return { cage, work, command, reset, changes, remove: () => rmSync(top, { recursive: true, force: true }) };
}
