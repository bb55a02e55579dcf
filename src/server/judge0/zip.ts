// Judge0's `additional_files`: a zip archive (base64 in the request) whose files are added to
// the workspace. Unpacked in memory, never on the host's disk, with fflate (pure JavaScript), and
// bounded before and while inflating, so that an archive cannot cost more than its bounds:
// - the central directory is read first: more entries than `maxFiles` is refused, and so is an
//   entry that is a symbolic link (its unix mode says so: a link cannot be a workspace file);
// - every name must pass the workspace path rule (no "..", no absolute path) before its data is
//   inflated; directories are skipped (they are created for the files in them);
// - inflation is fed 16 KiB of compressed data at a time and stops as soon as the bytes out
//   pass `maxBytes` in all: a zip bomb (tiny archive, huge content, or sizes in its headers
//   that lie) is refused after at most `maxBytes` plus one step, never inflated in full.
import { Unzip, UnzipInflate, type UnzipFile } from 'fflate';
import { CyloError } from '../../errors.js';
import { workspacePathProblem } from '../../util/workspace-path.js';

export interface ZipBounds {
  /** Entries (files and directories) at most. */
  maxFiles: number;
  /** Uncompressed bytes of all files together at most. */
  maxBytes: number;
}

export interface ZipFileEntry {
  name: string;
  content: Buffer;
}

const FIELD = 'additional_files';
const STEP = 16 * 1024;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

function refuse(why: string): never {
  throw new CyloError('CYLO_E_VALIDATION', `${FIELD}: ${why}`, { field: FIELD });
}

/** Entries of the central directory: name and whether it is a symbolic link. Refuses an archive
 *  without one (not a zip) and one with more than `maxFiles` entries. */
function centralDirectory(zip: Buffer, maxFiles: number): Array<{ name: string; symlink: boolean }> {
  // The end-of-central-directory record: 22 bytes plus a comment of up to 65535.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65535); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) refuse('is not a zip archive (no end of central directory)');
  const count = zip.readUInt16LE(eocd + 10);
  if (count > maxFiles) refuse(`has ${count} entries, above the maximum of ${maxFiles}`);
  const entries: Array<{ name: string; symlink: boolean }> = [];
  let at = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < count; n++) {
    if (at + 46 > zip.length || zip.readUInt32LE(at) !== 0x02014b50) refuse('has a damaged central directory');
    const madeBy = zip.readUInt16LE(at + 4) >> 8;
    const nameLength = zip.readUInt16LE(at + 28);
    const extra = zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    const mode = zip.readUInt32LE(at + 38) >>> 16;
    entries.push({ name: zip.toString('utf8', at + 46, at + 46 + nameLength), symlink: madeBy === 3 && (mode & S_IFMT) === S_IFLNK });
    at += 46 + nameLength + extra;
  }
  return entries;
}

function checkName(name: string): void {
  const problem = workspacePathProblem(name.endsWith('/') ? name.slice(0, -1) : name);
  if (problem !== undefined) refuse(`the entry ${JSON.stringify(name.slice(0, 80))} ${problem}`);
}

/** The files of a zip archive, within `bounds`. Throws CYLO_E_VALIDATION (field
 *  additional_files) naming what is wrong. */
export function unzipBounded(zip: Buffer, bounds: ZipBounds): ZipFileEntry[] {
  for (const entry of centralDirectory(zip, bounds.maxFiles)) {
    checkName(entry.name);
    if (entry.symlink) refuse(`the entry ${JSON.stringify(entry.name.slice(0, 80))} is a symbolic link; only regular files are accepted`);
  }
  const files: ZipFileEntry[] = [];
  let total = 0;
  let entries = 0;
  const onFile = (file: UnzipFile): void => {
    // The local headers are what is unpacked: counted and checked again (they may disagree
    // with the central directory).
    if (++entries > bounds.maxFiles) refuse(`has more than ${bounds.maxFiles} entries (the maximum)`);
    checkName(file.name);
    if (file.name.endsWith('/')) return;
    const chunks: Buffer[] = [];
    file.ondata = (error, chunk, final) => {
      if (error !== null) refuse(`cannot be unpacked (${error.message})`);
      total += chunk.length;
      if (total > bounds.maxBytes) refuse(`unpacks to more than ${bounds.maxBytes} bytes (the maximum); a zip bomb or too much data`);
      chunks.push(Buffer.from(chunk));
      if (final) files.push({ name: file.name, content: Buffer.concat(chunks) });
    };
    file.start();
  };
  const unzip = new Unzip(onFile);
  unzip.register(UnzipInflate);
  try {
    for (let i = 0; i < zip.length; i += STEP) unzip.push(zip.subarray(i, i + STEP), i + STEP >= zip.length);
  } catch (error) {
    if (error instanceof CyloError) throw error;
    refuse(`cannot be unpacked (${(error as Error).message})`);
  }
  return files;
}
