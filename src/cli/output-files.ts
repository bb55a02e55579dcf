// `cylo exec --output PATTERN --output-dir DIR`: the run's output files (result.run.files)
// written under DIR, safely whatever the names and whatever DIR already holds:
//   - every name is checked again with the workspace path rule (relative, no "..", no empty or
//     "." components), although the sandbox's helper already produced only such names, and the
//     resolved path must stay inside DIR;
//   - no existing symlink is followed: each parent directory below DIR must be a real directory
//     (lstat; a missing one is created), and an existing entry at the file's name must be a
//     regular file (a symlink there is refused, never written through or replaced);
//   - the content goes into a new temporary file next to it (O_CREAT|O_EXCL, which never
//     follows a link) and is renamed over the name: a reader never sees half a file, and a link
//     put in the name's place meanwhile is replaced, not followed.
// A name that cannot be written is reported and the others are still written.
import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, unlink } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { OutputFile } from '../api/result.js';
import { workspacePathProblem } from '../util/workspace-path.js';

export interface WrittenFiles {
  written: string[];
  /** Names not written, each with why. */
  failed: Array<{ name: string; reason: string }>;
}

/** The parent directories of `name` under `dir`, created when missing; throws when one exists
 *  and is not a real directory (a symlink to elsewhere is never followed). */
async function ensureParents(dir: string, name: string): Promise<void> {
  const parts = name.split('/').slice(0, -1);
  let at = dir;
  for (const part of parts) {
    at = join(at, part);
    const st = await lstat(at).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (st === undefined) await mkdir(at, { mode: 0o755 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    const now = await lstat(at);
    if (!now.isDirectory()) throw new Error(`${at} exists and is not a directory${now.isSymbolicLink() ? ' (a symlink: not followed)' : ''}`);
  }
}

/** Writes one file (see the header); throws with the reason. */
async function writeOne(dir: string, file: OutputFile): Promise<void> {
  const problem = workspacePathProblem(file.name);
  if (problem !== undefined) throw new Error(`unsafe name: ${problem}`);
  const target = resolve(dir, file.name);
  if (!target.startsWith(dir + sep)) throw new Error('the name leaves the output directory');
  await ensureParents(dir, file.name);
  const existing = await lstat(target).catch(() => undefined);
  if (existing !== undefined && !existing.isFile()) {
    throw new Error(`${target} exists and is not a regular file${existing.isSymbolicLink() ? ' (a symlink: not followed, not replaced)' : ''}`);
  }
  const temp = `${target}.cylo-${randomBytes(6).toString('hex')}.tmp`;
  // O_EXCL with O_CREAT: fails on any existing entry, a symlink included (never followed).
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    await handle.writeFile(Buffer.from(file.content, 'base64'));
    await handle.close();
    await rename(temp, target);
  } catch (error) {
    await handle.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw error;
  }
}

/** Writes every file under `dir` (created if missing). Never throws for one file. */
export async function writeOutputFiles(dir: string, files: readonly OutputFile[]): Promise<WrittenFiles> {
  const root = resolve(dir);
  await mkdir(root, { recursive: true });
  const out: WrittenFiles = { written: [], failed: [] };
  for (const file of files) {
    try {
      await writeOne(root, file);
      out.written.push(file.name);
    } catch (error) {
      out.failed.push({ name: file.name, reason: (error as Error).message });
    }
  }
  return out;
}
