// The uncompressed guest kernel (vmlinux, an ELF file) that Firecracker boots, taken out of the
// bzImage (vmlinuz) that Debian ships, as the kernel tree's scripts/extract-vmlinux does: the
// compressed payload is decompressed. Unlike extract-vmlinux this does not scan for magic bytes:
// the x86 boot protocol (>= 2.08) says where the payload is (setup header fields payload_offset
// and payload_length, relative to the protected-mode code after the setup sectors). Formats: gzip
// and xz (zlib / xz), LZ4's legacy frame (Debian 12's cloud kernel: decoded here, no tool
// needed) and zstd (the zstd tool). Only done where Firecracker is configured (QEMU boots vmlinuz).
import { spawnSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { CyloError } from '../errors.js';

function unavailable(detail: string): CyloError {
  return new CyloError('CYLO_E_SANDBOX_UNAVAILABLE', `isolation "microvm" is unavailable: firecracker: the guest kernel could not be uncompressed: ${detail}. Fix: give a bzImage (boot protocol >= 2.08, gzip/xz/lz4/zstd payload) in the guest kernel directory, or use microvmMonitor "qemu"`, { layer: 'firecracker' });
}

/** The compressed payload of a bzImage, from its setup header. Throws when it is not one. */
export function bzImagePayload(image: Buffer): Buffer {
  if (image.length < 0x250 || image.readUInt32LE(0x202) !== 0x53726448) throw unavailable('not a bzImage (no "HdrS" setup header)');
  const version = image.readUInt16LE(0x206);
  if (version < 0x208) throw unavailable(`boot protocol ${version.toString(16)} has no payload fields (needs >= 2.08)`);
  const setupSects = image[0x1f1] === 0 ? 4 : (image[0x1f1] as number);
  const start = (setupSects + 1) * 512 + image.readUInt32LE(0x248);
  const length = image.readUInt32LE(0x24c);
  if (length === 0 || start + length > image.length) throw unavailable('the payload fields point outside the file');
  return image.subarray(start, start + length);
}

/** Decodes one LZ4 block (the raw block format) into `out` from `at`; returns the new end. */
function lz4Block(src: Buffer, out: Buffer, at: number): number {
  let i = 0;
  let o = at;
  const length = (initial: number): number => {
    let n = initial;
    if (n === 15) {
      let b = 255;
      while (b === 255) {
        if (i >= src.length) throw unavailable('a truncated LZ4 length');
        b = src[i++] as number;
        n += b;
      }
    }
    return n;
  };
  while (i < src.length) {
    const token = src[i++] as number;
    const literals = length(token >> 4);
    if (i + literals > src.length || o + literals > out.length) throw unavailable('an LZ4 literal run past its bounds');
    src.copy(out, o, i, i + literals);
    i += literals;
    o += literals;
    if (i >= src.length) break; // the last sequence has literals only
    const offset = (src[i] as number) | ((src[i + 1] as number) << 8);
    i += 2;
    const match = length(token & 15) + 4;
    if (offset === 0 || offset > o - at || o + match > out.length) throw unavailable('an LZ4 match past its bounds');
    for (let k = 0; k < match; k++, o++) out[o] = out[o - offset] as number; // may overlap: byte by byte
  }
  return o;
}

/** LZ4's legacy frame (lz4 -l, what the kernel uses): magic 0x184C2102, then blocks of
 *  (u32 LE compressed size, data), each at most 8 MiB decoded; ends at the input's end. */
export function lz4LegacyDecode(data: Buffer, maxBytes: number): Buffer {
  if (data.readUInt32LE(0) !== 0x184c2102) throw unavailable('not an LZ4 legacy frame');
  const out = Buffer.alloc(maxBytes);
  let o = 0;
  let i = 4;
  while (i + 4 <= data.length) {
    const size = data.readUInt32LE(i);
    i += 4;
    if (size === 0x184c2102) continue; // a concatenated frame
    if (size > data.length - i) break; // the trailing uncompressed-size field
    o = lz4Block(data.subarray(i, i + size), out, o);
    i += size;
  }
  return out.subarray(0, o);
}

/** Upper bound of a guest kernel's uncompressed size, in bytes. */
const VMLINUX_MAX = 256 * 1024 * 1024;

/** The ELF vmlinux inside a bzImage. Throws CYLO_E_SANDBOX_UNAVAILABLE (layer `firecracker`). */
export function extractVmlinux(bzImage: Buffer): Buffer {
  const payload = bzImagePayload(bzImage);
  const tool = (cmd: string): Buffer => {
    const r = spawnSync(cmd, ['-dc'], { input: payload, maxBuffer: VMLINUX_MAX });
    if (r.status !== 0) throw unavailable(`${cmd} -dc failed: ${r.error?.message ?? r.stderr.toString('utf8').trim()}`);
    return r.stdout;
  };
  let out: Buffer;
  if (payload[0] === 0x1f && payload[1] === 0x8b) out = gunzipSync(payload, { maxOutputLength: VMLINUX_MAX });
  else if (payload.readUInt32LE(0) === 0x184c2102) out = lz4LegacyDecode(payload, VMLINUX_MAX);
  else if (payload.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) out = tool('xz');
  else if (payload.readUInt32LE(0) === 0xfd2fb528) out = tool('zstd');
  else throw unavailable(`an unknown payload compression (first bytes ${payload.subarray(0, 4).toString('hex')})`);
  if (out.length < 64 || out.readUInt32BE(0) !== 0x7f454c46) throw unavailable('the decompressed payload is not an ELF file');
  return out;
}
