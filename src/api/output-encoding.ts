// How a result carries the program's output bytes. JSON strings hold text, not bytes: with
// "utf8" (the default) the bytes are decoded as UTF-8 and any invalid sequence becomes U+FFFD;
// with "base64" the strings are the base64 of the exact bytes (Judge0's base64_encoded), so
// binary output survives. The request's `outputEncoding` picks one; the result's
// `outputEncoding` says which one its stages' stdout and stderr use.

export const OUTPUT_ENCODINGS = ['utf8', 'base64'] as const;
export type OutputEncoding = (typeof OUTPUT_ENCODINGS)[number];

/** `bytes` as the string a result carries in `encoding`. */
export function encodeOutput(bytes: Buffer, encoding: OutputEncoding): string {
  return bytes.toString(encoding);
}

/** The output encoding a (not yet validated) request asks for, for live views that start
 *  before validation: "base64" only when it says exactly that (anything else invalid is
 *  refused by validation before any output exists). */
export function requestedOutputEncoding(request: { outputEncoding?: unknown }): OutputEncoding {
  return request.outputEncoding === 'base64' ? 'base64' : 'utf8';
}
