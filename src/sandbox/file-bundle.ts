// Encodes the request's files into the stream the sandbox helper unpacks inside the sandbox
// (see unpack_bundle in native/cylo-helper.c). Files cross into the sandbox through a pipe and
// are written there by the sandbox's own identity, so the host never writes into a directory
// that untrusted code can reach (the lesson of Judge0's CVE-2024-28185).
//   record: u32 name_len, u32 mode, u64 size (little-endian), name bytes, content bytes
//   end:    a record with name_len 0
import type { SourceFile } from '../api/request.js';

export interface BundleFile extends SourceFile {
  executable?: boolean;
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
