// The uncompressed guest kernel (vmlinux, an ELF file) that Firecracker boots, taken out of the
// bzImage (vmlinuz) that Debian ships, as the kernel tree's scripts/extract-vmlinux does: the
// compressed payload is decompressed. Unlike extract-vmlinux this does not scan for magic bytes:
// the x86 boot protocol (>= 2.08) says where the payload is (setup header fields payload_offset
// and payload_length, relative to the protected-mode code after the setup sectors). Formats: gzip
// (zlib), and LZ4's legacy frame (Debian 12's cloud kernel), xz and zstd through their Debian
// tools (lz4 is installed by scripts/setup.sh): a maintained decoder rather than one of our own
// for a file that comes from the host's guest-kernel directory. Only done where Firecracker is
// configured (QEMU boots vmlinuz).
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

/** Upper bound of a guest kernel's uncompressed size, in bytes. */
const VMLINUX_MAX = 256 * 1024 * 1024;

/** The ELF vmlinux inside a bzImage. Throws CYLO_E_SANDBOX_UNAVAILABLE (layer `firecracker`). */
export function extractVmlinux(bzImage: Buffer): Buffer {
  const payload = bzImagePayload(bzImage);
  // The kernel's build appends the uncompressed size (u32 LE) to every compressed payload
  // (scripts/Makefile.lib size_append): not part of the stream, which the tools would reject as
  // trailing garbage; it is checked against what they decompress.
  const stream = payload.subarray(0, payload.length - 4);
  const tool = (cmd: string): Buffer => {
    const r = spawnSync(cmd, ['-dc'], { input: stream, maxBuffer: VMLINUX_MAX });
    if (r.status !== 0) throw unavailable(`${cmd} -dc failed: ${r.error?.message ?? r.stderr.toString('utf8').trim()} (apt-get install ${cmd === 'xz' ? 'xz-utils' : cmd})`);
    return r.stdout;
  };
  let out: Buffer;
  if (payload[0] === 0x1f && payload[1] === 0x8b) out = gunzipSync(stream, { maxOutputLength: VMLINUX_MAX });
  else if (payload.readUInt32LE(0) === 0x184c2102) out = tool('lz4');
  else if (payload.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) out = tool('xz');
  else if (payload.readUInt32LE(0) === 0xfd2fb528) out = tool('zstd');
  else throw unavailable(`an unknown payload compression (first bytes ${payload.subarray(0, 4).toString('hex')})`);
  if (out.length < 64 || out.readUInt32BE(0) !== 0x7f454c46) throw unavailable('the decompressed payload is not an ELF file');
  if (out.length !== payload.readUInt32LE(payload.length - 4)) throw unavailable(`the decompressed payload has ${out.length} bytes where the image says ${payload.readUInt32LE(payload.length - 4)}`);
  return out;
}
