// Shareable links: the code and the settings in the URL fragment (never sent to the server, so
// nothing is stored there), as JSON compressed with the browser's own CompressionStream
// (deflate-raw) and written in base64url: `#s=<base64url>`.

/** What a link carries (short keys keep links short). */
export interface Shared {
  /** language id */
  l: string;
  /** code */
  c: string;
  /** stdin */
  i?: string;
  /** arguments, as typed */
  a?: string;
  /** time limit, ms */
  t?: number;
  /** memory limit, MiB */
  m?: number;
  /** output file patterns, as typed */
  o?: string;
  /** test cases: [stdin, expected output] */
  x?: Array<[string, string]>;
}

const PREFIX = '#s=';

async function pipe(bytes: Uint8Array<ArrayBuffer>, stream: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const out = new Blob([bytes]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

function toBase64Url(bytes: Uint8Array): string {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const b64 = text.replaceAll('-', '+').replaceAll('_', '/');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** The fragment (with its '#') for these settings. */
export async function encodeShare(shared: Shared): Promise<string> {
  const json = new TextEncoder().encode(JSON.stringify(shared));
  return PREFIX + toBase64Url(await pipe(json, new CompressionStream('deflate-raw')));
}

/** The settings in a fragment, or undefined when it carries none; throws on a damaged link. */
export async function decodeShare(hash: string): Promise<Shared | undefined> {
  if (!hash.startsWith(PREFIX)) return undefined;
  const bytes = await pipe(fromBase64Url(hash.slice(PREFIX.length)), new DecompressionStream('deflate-raw'));
  const value = JSON.parse(new TextDecoder().decode(bytes)) as Partial<Shared>;
  if (typeof value.l !== 'string' || typeof value.c !== 'string') throw new Error('the link carries no language or code');
  return value as Shared;
}
