// The stream of a run stage's output files, from the sandbox's PID 1 (native/outputs.c) to the
// host. Every record (integers little-endian):
//   u32 name_len, u32 kind, u64 size, u64 length, name bytes, `length` content bytes
// kind 1: a regular file (size: its size; length: the bytes sent, less when it was cut at a
// cap); kinds 2-9: a matched entry that was skipped (see KINDS; size: the file's size for
// total_limit/too_many_files, the errno for unreadable); kind 0 with name_len 0: the end (size 1
// when the listing of skipped entries was cut short).
// The host trusts none of it: every length is checked against the buffer and the caps, and
// every name against the workspace path rule.
import { workspacePathProblem } from '../util/workspace-path.js';
import type { OutputSkipReason } from '../api/outputs.js';

export interface OutputFileFact {
  name: string;
  /** The file's size in the workspace, in bytes. */
  size: number;
  /** The bytes that came back: all of them, or the first ones when `truncated`. */
  content: Buffer;
  truncated: boolean;
}

export interface OutputBundle {
  files: OutputFileFact[];
  skipped: Array<{ name: string; reason: OutputSkipReason }>;
  /** More entries were skipped than listed. */
  listingCut: boolean;
}

export interface OutputCaps {
  fileMaxBytes: number;
  totalMaxBytes: number;
  maxFiles: number;
}

const KINDS: Readonly<Record<number, OutputSkipReason>> = {
  2: 'symlink',
  3: 'fifo',
  4: 'socket',
  5: 'device',
  6: 'total_limit',
  7: 'too_many_files',
  8: 'too_deep',
  9: 'unreadable',
};

const HEADER = 24;
const MAX_NAME_BYTES = 4096;

/** The largest stream a helper obeying `caps` can send: the contents, and a header and a name
 *  for each file, each skipped entry and the end. */
export function outputStreamMaxBytes(caps: OutputCaps): number {
  return caps.totalMaxBytes + (2 * caps.maxFiles + 1) * (HEADER + MAX_NAME_BYTES);
}

export class OutputBundleError extends Error {
  constructor(message: string) {
    super(`output files: ${message}`);
    this.name = 'OutputBundleError';
  }
}

/** Decodes the stream (format above) with every length checked against the buffer and `caps`.
 *  A name that is not valid UTF-8 or not a safe workspace path is listed as skipped
 *  (`bad_name`, its bytes shown with U+FFFD), never used as a file. Throws OutputBundleError. */
export function decodeOutputBundle(data: Buffer, caps: OutputCaps): OutputBundle {
  const out: OutputBundle = { files: [], skipped: [], listingCut: false };
  let at = 0;
  let total = 0;
  for (;;) {
    if (data.length - at < HEADER) throw new OutputBundleError('truncated header');
    const nameLen = data.readUInt32LE(at);
    const kind = data.readUInt32LE(at + 4);
    const size = data.readBigUInt64LE(at + 8);
    const length = data.readBigUInt64LE(at + 16);
    at += HEADER;
    if (nameLen === 0) {
      if (kind !== 0 || size > 1n || length !== 0n) throw new OutputBundleError('malformed end record');
      out.listingCut = size === 1n;
      break;
    }
    if (nameLen > MAX_NAME_BYTES) throw new OutputBundleError(`a name of ${nameLen} bytes`);
    if (kind !== 1 && length !== 0n) throw new OutputBundleError('content after a skipped entry');
    if (length > size || length > BigInt(caps.fileMaxBytes)) throw new OutputBundleError('a file longer than its size or the per-file cap');
    if (BigInt(data.length - at) < BigInt(nameLen) + length) throw new OutputBundleError('truncated record');
    const raw = data.subarray(at, at + nameLen);
    at += nameLen;
    const name = raw.toString('utf8');
    const content = Buffer.from(data.subarray(at, at + Number(length)));
    at += Number(length);
    const badName = !Buffer.from(name, 'utf8').equals(raw) || workspacePathProblem(name) !== undefined;
    if (kind === 1) {
      total += content.length;
      if (total > caps.totalMaxBytes || out.files.length >= caps.maxFiles) throw new OutputBundleError('more than the caps allow');
      if (badName) out.skipped.push({ name, reason: 'bad_name' });
      else out.files.push({ name, size: Number(size), content, truncated: BigInt(content.length) < size });
      continue;
    }
    const reason = KINDS[kind];
    if (reason === undefined) throw new OutputBundleError(`unknown record kind ${kind}`);
    if (out.skipped.length >= caps.maxFiles) throw new OutputBundleError('more skipped entries than the caps allow');
    out.skipped.push({ name, reason: badName ? 'bad_name' : reason });
  }
  if (at !== data.length) throw new OutputBundleError(`${data.length - at} bytes after the end record`);
  out.files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return out;
}
