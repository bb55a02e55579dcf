// The payload of one compile-cache entry (format 2): what the compile stage said as well as what
// it produced, so that a cache hit answers with the same diagnostics as the compile that filled
// it. The cache file itself (magic, checksum, ownership checks) is compile-cache.ts's concern;
// this file only lays out the checked payload:
//
//   u32 LE  length of the header
//   header  JSON {"v":2,"exitCode":N,"stdoutBytes":N,"stderrBytes":N,
//                 "stdoutTruncated":B,"stderrTruncated":B}
//   bytes   the compiler's stdout, exactly as it came through the pipe (stdoutBytes)
//   bytes   its stderr (stderrBytes)
//   bytes   the artifact bundle (src/backend/file-bundle.ts), the rest of the payload
//
// Times (wall, CPU, peak memory) are not stored: a hit spends none of them, and reports zero.
// Anything that does not parse exactly is thrown as an Error, which the cache turns into a miss.

/** What a user reads of a compile stage besides its times: stored with the artifact. */
export interface CompileDiagnostics {
  exitCode: number;
  /** The compiler's output, raw bytes as captured (decoded like any stage's output on a hit). */
  stdout: Buffer;
  stderr: Buffer;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
}

/** A cache entry: the diagnostics of the compile and its artifact bundle. */
export interface CompileEntry {
  diagnostics: CompileDiagnostics;
  artifact: Buffer;
}

const VERSION = 2;
/** Far above any real header (a few numbers): a longer one is not ours. */
const MAX_HEADER_BYTES = 4096;

/** The payload of an entry (shape above). */
export function encodeEntry(entry: CompileEntry): Buffer {
  const d = entry.diagnostics;
  const header = Buffer.from(JSON.stringify({ v: VERSION, exitCode: d.exitCode, stdoutBytes: d.stdout.length, stderrBytes: d.stderr.length, stdoutTruncated: d.stdoutTruncated, stderrTruncated: d.stderrTruncated }), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  return Buffer.concat([len, header, d.stdout, d.stderr, entry.artifact]);
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Parses a payload made by encodeEntry. Throws an Error for anything else (an older format, a
 *  truncated or altered entry). The returned buffers are copies, not views of `payload`. */
export function decodeEntry(payload: Buffer): CompileEntry {
  if (payload.length < 4) throw new Error('entry too short');
  const headerBytes = payload.readUInt32LE(0);
  if (headerBytes > MAX_HEADER_BYTES || 4 + headerBytes > payload.length) throw new Error('bad header length');
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(payload.subarray(4, 4 + headerBytes).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new Error('header is not JSON');
  }
  if (h === null || typeof h !== 'object' || h.v !== VERSION) throw new Error('not a format-2 entry');
  const { exitCode, stdoutBytes, stderrBytes, stdoutTruncated, stderrTruncated } = h;
  if (!Number.isInteger(exitCode) || !isCount(stdoutBytes) || !isCount(stderrBytes) || typeof stdoutTruncated !== 'boolean' || typeof stderrTruncated !== 'boolean') {
    throw new Error('bad header fields');
  }
  const outStart = 4 + headerBytes;
  const errStart = outStart + stdoutBytes;
  const artifactStart = errStart + stderrBytes;
  if (artifactStart > payload.length) throw new Error('output lengths exceed the entry');
  return {
    diagnostics: {
      exitCode: exitCode as number,
      stdout: Buffer.from(payload.subarray(outStart, errStart)),
      stderr: Buffer.from(payload.subarray(errStart, artifactStart)),
      stdoutTruncated,
      stderrTruncated,
    },
    artifact: Buffer.from(payload.subarray(artifactStart)),
  };
}
