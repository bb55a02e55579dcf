// A model of the native helper's job pipe (native/job.c: read_job, unpack_bundle), written from
// its documented format (src/backend/file-bundle.ts) and rules, for the job-protocol fuzzer:
// given the bytes on the pipe, does the helper have to refuse them, and if not, which files must
// the workspace hold afterwards? Pure; no helper code is reused, so a difference between the
// two is a finding.
//   job:    "CYJ2", u32 flags (bits 0-3 known: stderr to stdout, pre-start, handover, zygote
//           (only with pre-start); only bit 0 is modelled: a pre-start job is followed by a second
//           job and runs a runtime, which test/integration/prestart*.test.ts cover), then argv, env, rlimits: each a u32 count
//           (at most 4096) of { u32 len; bytes } (no NUL inside; at most 8 MiB in all); argv[0]
//           absolute; every rlimit "NAME=DIGITS" with a known name, at most 16 of them, a value
//           of at most 2^63 - 1.
//   files:  { u32 name_len; u32 mode; u64 size; name; content } until name_len 0; a name is
//           relative, below 4096 bytes, without NUL and without empty, "." or ".." components
//           (each at most 255 bytes, the kernel's NAME_MAX); nothing is created over or through
//           what exists (the planted links, an earlier file).

const RLIMIT_NAMES = new Set(['core', 'fsize', 'nofile', 'stack', 'nproc', 'cpu', 'memlock', 'msgqueue']);
const MAX_ITEMS = 4096;
const MAX_JOB_BYTES = 8 << 20;
const MAX_RLIMITS = 16;
const NAME_MAX = 255;
const PATH_MAX = 4096;

/** Why the helper must refuse, or the files (name -> content) the workspace must then hold. */
export type Verdict = { refuse: string } | { files: Map<string, Buffer> };

class Refuse extends Error {}

class Reader {
  at = 0;
  constructor(readonly data: Buffer) {}
  take(n: number): Buffer {
    if (this.data.length - this.at < n) throw new Refuse('ended early');
    const b = this.data.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }
  u32(): number {
    return this.take(4).readUInt32LE(0);
  }
}

function readList(r: Reader, total: { bytes: number }): Buffer[] {
  const n = r.u32();
  if (n > MAX_ITEMS) throw new Refuse('too many items');
  const items: Buffer[] = [];
  for (let k = 0; k < n; k++) {
    const len = r.u32();
    total.bytes += len;
    if (total.bytes > MAX_JOB_BYTES) throw new Refuse('job too large');
    const item = r.take(len);
    if (item.includes(0)) throw new Refuse('NUL inside an item');
    items.push(item);
  }
  return items;
}

function checkJob(r: Reader): void {
  if (!r.take(4).equals(Buffer.from('CYJ2'))) throw new Refuse('bad header');
  const flags = r.u32();
  if ((flags & ~15) !== 0) throw new Refuse('unknown flags');
  if ((flags & 8) !== 0 && (flags & 2) === 0) throw new Refuse('a zygote job that is not a pre-start job');
  // Not a refusal: the fuzzer must not generate what this model does not cover.
  if ((flags & 6) !== 0) throw new Error(`model: pre-start and handover jobs (flags 0x${flags.toString(16)}) are not modelled`);
  const total = { bytes: 0 };
  const argv = readList(r, total);
  readList(r, total);
  const limits = readList(r, total);
  if (argv.length === 0 || argv[0]?.[0] !== 0x2f) throw new Refuse('program not absolute');
  if (limits.length > MAX_RLIMITS) throw new Refuse('too many rlimits');
  for (const item of limits) {
    const text = item.toString('latin1');
    const eq = text.indexOf('=');
    if (eq < 0) throw new Refuse('rlimit without =');
    if (!RLIMIT_NAMES.has(text.slice(0, eq))) throw new Refuse('unknown rlimit');
    const value = text.slice(eq + 1);
    if (!/^[0-9]{1,19}$/.test(value) || BigInt(value) > 2n ** 63n - 1n) throw new Refuse('bad rlimit value');
  }
}

/** The helper's workspace before the files: the planted links (never followed, never replaced). */
function unpack(r: Reader, planted: readonly string[]): Map<string, Buffer> {
  const kinds = new Map<string, 'dir' | 'file' | 'link'>(planted.map((p) => [p, 'link']));
  const files = new Map<string, Buffer>();
  for (;;) {
    const hdr = r.take(16);
    const nameLen = hdr.readUInt32LE(0);
    const size = hdr.readBigUInt64LE(8);
    if (nameLen === 0) return files;
    if (nameLen >= PATH_MAX) throw new Refuse('name too long');
    const raw = r.take(nameLen);
    if (raw[0] === 0x2f || raw.includes(0)) throw new Refuse('bad name');
    const parts = raw.toString('latin1').split('/');
    if (parts.some((p) => p === '' || p === '.' || p === '..')) throw new Refuse('bad component');
    let path = '';
    for (const [k, part] of parts.entries()) {
      if (Buffer.byteLength(part, 'latin1') > NAME_MAX) throw new Refuse('component too long');
      path = path === '' ? part : `${path}/${part}`;
      const kind = kinds.get(path);
      if (k === parts.length - 1) {
        if (kind !== undefined) throw new Refuse('exists');
        kinds.set(path, 'file');
      } else if (kind === undefined) kinds.set(path, 'dir');
      else if (kind !== 'dir') throw new Refuse('parent is not a directory');
    }
    if (size > BigInt(r.data.length - r.at)) throw new Refuse('ended early');
    files.set(path, Buffer.from(r.take(Number(size))));
  }
}

/** What the helper must do with DATA on its job pipe (names in the map are latin1 strings). */
export function judgeJobPipe(data: Buffer, planted: readonly string[]): Verdict {
  const r = new Reader(data);
  try {
    checkJob(r);
    return { files: unpack(r, planted) };
  } catch (error) {
    if (error instanceof Refuse) return { refuse: error.message };
    throw error;
  }
}
