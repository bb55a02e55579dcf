// The wire format between the host and a backend's PID 1 (for the namespace backend, the native
// helper: read_job and unpack_bundle in native/job.c, emit_artifacts in native/emit.c). Files
// cross into the sandbox through a pipe and are written there by the sandbox's own identity, so
// the host never writes into a directory that untrusted code can reach (the lesson of Judge0's
// CVE-2024-28185). Compile artifacts come back out the same way and are read with decodeBundle.
//   record: u32 name_len, u32 mode, u64 size (little-endian), name bytes, content bytes
//   end:    a record with name_len 0
import type { SourceFile } from '../api/request.js';
import { workspacePathProblem } from '../util/workspace-path.js';

export interface BundleFile extends SourceFile {
  executable?: boolean;
}

/** What to run, sent ahead of the files (read_job in the helper). Format version 2:
 *    "CYJ2", u32 flags, then argv, the environment ("K=V") and the rlimits ("name=value"),
 *    each a u32 count of u32-length items (all integers little-endian).
 *  flags: bit 0 (JOB_FLAG_STDERR_TO_STDOUT) makes the program's fd 2 the same pipe as its fd 1;
 *  bit 1 (JOB_FLAG_PRESTART): the first job of a sandbox whose runtime starts at once and waits
 *  for its handover (native/prestart.c); bit 2 (JOB_FLAG_HANDOVER): the request's job for that
 *  runtime, whose argv is only the program's extra arguments and whose environment is empty;
 *  bit 3 (JOB_FLAG_ZYGOTE, with bit 1 only): the runtime is injected by the host's zygote and
 *  adopted by PID 1 (src/sandbox/zygote.ts); every other bit must be 0 (the helper refuses a job with an unknown bit, and any other
 *  header, rather than guess what it means).
 *  Sending it through the pipe rather than on the command line lets a sandbox be started
 *  before its request arrives. */
export interface SandboxJob {
  argv: readonly string[];
  env: Readonly<Record<string, string>>;
  rlimits: Readonly<Record<string, number>>;
  /** The program's stderr goes into its stdout pipe (one stream, in write order). */
  stderrToStdout?: boolean | undefined;
  /** Start this runtime now, waiting for a handover job (src/sandbox/prestart.ts). */
  prestart?: boolean | undefined;
  /** With prestart: the runtime comes from the host's zygote, not from PID 1's fork (src/sandbox/zygote.ts). */
  zygote?: boolean | undefined;
  /** Hand the request to the pre-started runtime: argv = the extra arguments, env = {}. */
  handover?: boolean | undefined;
}

/** The job format's header: its version is the last character. */
export const JOB_MAGIC = 'CYJ2';
/** Flag bits of the job (the u32 after the header). */
export const JOB_FLAG_STDERR_TO_STDOUT = 1;
export const JOB_FLAG_PRESTART = 2;
export const JOB_FLAG_HANDOVER = 4;
export const JOB_FLAG_ZYGOTE = 8;

export function encodeJob(job: SandboxJob): Buffer {
  const flags = Buffer.alloc(4);
  const bits = (job.stderrToStdout === true ? JOB_FLAG_STDERR_TO_STDOUT : 0) | (job.prestart === true ? JOB_FLAG_PRESTART : 0) | (job.handover === true ? JOB_FLAG_HANDOVER : 0) | (job.zygote === true ? JOB_FLAG_ZYGOTE : 0);
  flags.writeUInt32LE(bits, 0);
  const parts: Buffer[] = [Buffer.from(JOB_MAGIC, 'latin1'), flags];
  const list = (items: readonly string[]): void => {
    const count = Buffer.alloc(4);
    count.writeUInt32LE(items.length, 0);
    parts.push(count);
    for (const item of items) {
      const bytes = Buffer.from(item, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(bytes.length, 0);
      parts.push(len, bytes);
    }
  };
  list(job.argv);
  list(Object.entries(job.env).map(([k, v]) => `${k}=${v}`));
  list(Object.entries(job.rlimits).map(([k, v]) => `${k}=${v}`));
  return Buffer.concat(parts);
}

export function encodeBundle(files: readonly BundleFile[]): Buffer[] {
  const chunks: Buffer[] = [];
  for (const f of files) {
    const name = Buffer.from(f.name, 'utf8');
    const header = Buffer.alloc(16);
    header.writeUInt32LE(name.length, 0);
    header.writeUInt32LE(f.executable === true ? 0o755 : 0o644, 4);
    header.writeBigUInt64LE(BigInt(f.content.length), 8);
    chunks.push(header, name, f.content);
  }
  chunks.push(Buffer.alloc(16));
  return chunks;
}

export interface DecodeLimits {
  /** Largest accepted bundle, in bytes (headers and names included). */
  maxBytes: number;
  maxFiles: number;
}

const MAX_NAME_BYTES = 4096;

/** Thrown for a bundle that is truncated, oversized or names a file unsafely. */
export class BundleError extends Error {
  constructor(message: string) {
    super(`bundle: ${message}`);
    this.name = 'BundleError';
  }
}

function checkBundleName(name: string): void {
  const problem = workspacePathProblem(name);
  if (problem !== undefined) throw new BundleError(`unsafe file name ${JSON.stringify(name)}: ${problem}`);
}

/**
 * Decodes a bundle (the format above) with every length checked against the buffer and the
 * limits: no read past the end, no trailing bytes, names relative with no "." / ".." / empty
 * components, no duplicates, no name that is both a file and a directory. Files whose mode has an
 * execute bit come back with `executable: true`.
 */
export function decodeBundle(data: Buffer, limits: DecodeLimits): BundleFile[] {
  if (data.length > limits.maxBytes) throw new BundleError(`${data.length} bytes, above the limit of ${limits.maxBytes}`);
  const files: BundleFile[] = [];
  const names = new Set<string>();
  let at = 0;
  for (;;) {
    if (data.length - at < 16) throw new BundleError('truncated header');
    const nameLen = data.readUInt32LE(at);
    const mode = data.readUInt32LE(at + 4);
    const size = data.readBigUInt64LE(at + 8);
    at += 16;
    if (nameLen === 0) {
      if (mode !== 0 || size !== 0n) throw new BundleError('malformed end record');
      break;
    }
    if (nameLen > MAX_NAME_BYTES) throw new BundleError(`file name of ${nameLen} bytes`);
    if (files.length >= limits.maxFiles) throw new BundleError(`more than ${limits.maxFiles} files`);
    if (BigInt(data.length - at) < BigInt(nameLen) + size) throw new BundleError('truncated file');
    const rawName = data.subarray(at, at + nameLen);
    const name = rawName.toString('utf8');
    if (!Buffer.from(name, 'utf8').equals(rawName)) throw new BundleError('file name is not valid UTF-8');
    checkBundleName(name);
    if (names.has(name)) throw new BundleError(`duplicate file ${JSON.stringify(name)}`);
    names.add(name);
    at += nameLen;
    const length = Number(size);
    files.push({ name, content: Buffer.from(data.subarray(at, at + length)), executable: (mode & 0o111) !== 0 });
    at += length;
  }
  if (at !== data.length) throw new BundleError(`${data.length - at} bytes after the end record`);
  for (const name of names) {
    const parts = name.split('/');
    for (let k = 1; k < parts.length; k++) {
      if (names.has(parts.slice(0, k).join('/'))) throw new BundleError(`${JSON.stringify(parts.slice(0, k).join('/'))} is both a file and a directory`);
    }
  }
  return files;
}
