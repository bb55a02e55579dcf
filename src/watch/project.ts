// `cylo watch`: a watched directory is a project. A run's workspace gets every file of the
// directory tree (what src/watch/ignore.ts ignores left out), under its own relative name, with
// the changed file first (the entry point); `NAME.in` next to the entry `NAME.ext` is the
// program's stdin (the competitive programmers' convention). Bounded by the request bounds: a
// directory with more files or bytes than one request may carry is refused with a message that
// says which bound and how to change it — never silently cut short.
// Symbolic links are not followed (a link in a cloned project could otherwise ship any file this
// root process can read, e.g. /root/.ssh/id_rsa, into the sandbox): they are left out.
import { constants } from 'node:fs';
import { lstat, open, opendir } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, sep } from 'node:path';
import type { ExecuteRequest } from '../api/request.js';
import type { RequestBounds } from '../api/limits.js';
import { CyloError } from '../errors.js';
import { formatSize } from '../util/units.js';
import { isIgnoredPath } from './ignore.js';

/** The extension of input files: `foo.in` is the stdin of `foo.py`. */
export const INPUT_EXTENSION = '.in';

/** A project's part of a request: its files (the entry first) and the entry's stdin, if any. */
export type ProjectRequest = Required<Pick<ExecuteRequest, 'files'>> & Pick<ExecuteRequest, 'stdin'>;

const tooLarge = (root: string, what: string, bound: keyof RequestBounds, max: string): CyloError =>
  new CyloError(
    'CYLO_E_VALIDATION',
    `${root}: the project has ${what} than the ${max} one run may carry (requestBounds.${bound}); watch a smaller directory, move files out of it (dot-directories, node_modules, __pycache__ and target are skipped), or raise requestBounds.${bound} in the config file (docs/configuration.md)`,
    { field: 'files' },
  );

/** Every regular file under `root` that is not ignored, as paths relative to it, sorted; stops
 *  with CYLO_E_VALIDATION as soon as the files pass `maxFiles` or their sizes `maxFilesBytes`. */
export async function projectFiles(root: string, bounds: RequestBounds): Promise<string[]> {
  const found: string[] = [];
  let bytes = 0;
  const walk = async (dir: string): Promise<void> => {
    const entries = [];
    for await (const entry of await opendir(dir)) entries.push(entry);
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, entry.name);
      const rel = relative(root, path);
      if (isIgnoredPath(rel)) continue;
      if (entry.isDirectory()) await walk(path);
      if (!entry.isFile()) continue; // symbolic links, sockets, devices: left out
      found.push(rel);
      if (found.length > bounds.maxFiles) throw tooLarge(root, 'more files', 'maxFiles', String(bounds.maxFiles));
      bytes += (await lstat(path)).size;
      if (bytes > bounds.maxFilesBytes) throw tooLarge(root, 'more bytes', 'maxFilesBytes', formatSize(bounds.maxFilesBytes));
    }
  };
  await walk(root);
  return found;
}

/** A file's bytes, never through a symbolic link (O_NOFOLLOW: a file replaced by a link after
 *  the walk fails with ELOOP rather than being followed). */
async function readNoFollow(path: string): Promise<Buffer> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    if (!(await handle.stat()).isFile()) throw Object.assign(new Error(`${path}: not a regular file`), { code: 'ENOTREG' });
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** The request's files and stdin for a run of `entry` (relative to `root`), read from disk.
 *  Throws CYLO_E_VALIDATION when the project is too large, CYLO_E_USAGE when the entry is a
 *  symbolic link; a file deleted meanwhile is left out (the entry's absence: ENOENT, the
 *  caller's "deleted meanwhile"). */
export async function projectRequest(root: string, entry: string, bounds: RequestBounds): Promise<ProjectRequest> {
  const names = (await projectFiles(root, bounds)).filter((n) => n !== entry);
  const read = async (name: string): Promise<{ name: string; content: string; encoding: 'base64' } | undefined> => {
    const content = await readNoFollow(join(root, name)).catch((e: NodeJS.ErrnoException) => {
      if (name === entry && (e.code === 'ELOOP' || e.code === 'ENOTREG')) {
        throw new CyloError('CYLO_E_USAGE', `${name}: is a symbolic link or not a regular file; cylo watch runs regular files only and never follows links`, { field: 'files' });
      }
      if (name !== entry && ['ENOENT', 'ELOOP', 'ENOTREG'].includes(e.code ?? '')) return undefined; // gone or replaced meanwhile: left out
      throw e;
    });
    // Request names use '/', whatever the host's separator.
    return content === undefined ? undefined : { name: name.split(sep).join('/'), content: content.toString('base64'), encoding: 'base64' };
  };
  const files = (await Promise.all([entry, ...names].map(read))).filter((f) => f !== undefined);
  const input = inputFileOf(entry);
  const stdinFile = files.find((f) => f.name === input.split(sep).join('/'));
  return stdinFile === undefined ? { files } : { files, stdin: Buffer.from(stdinFile.content, 'base64').toString('utf8') };
}

/** `dir/foo.py` -> `dir/foo.in`. */
export function inputFileOf(source: string): string {
  return join(dirname(source), `${basename(source, extname(source))}${INPUT_EXTENSION}`);
}
