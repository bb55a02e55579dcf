// What an execution could leave on the host besides processes and cgroups: mounts in the host's
// mount table, files owned by a sandbox uid in the host's temporary and runtime folders.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** This process's mount table, one line per mount: mount id, parent id, device, root, mount
 *  point, and after the separator the type, source and superblock options (the per-mount
 *  options and optional fields, e.g. propagation peers, change without a mount being added, so
 *  they are left out). Compare two snapshots. */
export function mountTable(): string {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => `${l.split(' ').slice(0, 5).join(' ')} - ${l.split(' - ')[1] ?? ''}`)
    .sort()
    .join('\n');
}

const SHARED_FOLDERS = ['/tmp', '/var/tmp', '/dev/shm', '/run', '/var/cache/cylo'];

/** Entries of the host's temporary, runtime and cache folders owned by a uid of
 *  [uidBase, uidBase + uidCount). */
export function sandboxOwnedFiles(uidBase: number, uidCount: number): string[] {
  const found: string[] = [];
  for (const dir of SHARED_FOLDERS) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue; // no such folder
    }
    for (const name of names) {
      try {
        const uid = statSync(join(dir, name)).uid;
        if (uid >= uidBase && uid < uidBase + uidCount) found.push(join(dir, name));
      } catch {
        // gone
      }
    }
  }
  return found;
}
