// A tiny valid PNG, written by a program with the standard library only (zlib + struct), for the
// output-file tests: the bytes a real plotting library would write, without needing one.

/** Python that writes a 2x2 RGB PNG to `name` (zlib and struct only). */
export function pngWriterPython(name: string): string {
  return [
    'import struct, zlib',
    'def chunk(kind, data):',
    "    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)",
    "rows = b''.join(b'\\x00' + b'\\xff\\x00\\x00' * 2 for _ in range(2))",
    "png = b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 2, 2, 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b'')",
    `open(${JSON.stringify(name)}, 'wb').write(png)`,
  ].join('\n');
}

/** The PNG signature every PNG file starts with. */
export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
