// A request's `outputs`: workspace-relative glob patterns naming the files a run stage's
// program writes that come back in the result (docs/api.md, "Output files"). Validated here;
// matched inside the sandbox by its PID 1 (native/pattern.c, the same syntax):
//   "**" as a whole component: any number of components (zero or more);
//   "*": any run of characters within one component; "?": one character;
//   every other character matches itself; a wildcard never matches a leading "." of a component.
import { CyloError } from '../errors.js';
import { workspacePathProblem } from '../util/workspace-path.js';

/** At most this many patterns per request (the helper's own bound is 32 as well). */
export const MAX_OUTPUT_PATTERNS = 32;
/** At most this many bytes per pattern (the helper matches at most 260 components). */
export const MAX_OUTPUT_PATTERN_BYTES = 512;
/** At most this many files come back, and at most this many skipped entries are listed. */
export const MAX_OUTPUT_FILES = 100;

/** Why a matched entry did not come back (whole or cut). */
export const OUTPUT_SKIP_REASONS = ['symlink', 'fifo', 'socket', 'device', 'total_limit', 'too_many_files', 'too_deep', 'unreadable', 'bad_name'] as const;
export type OutputSkipReason = (typeof OUTPUT_SKIP_REASONS)[number];

/** The patterns of a request, checked: each a workspace path (relative, no "..", no empty or
 *  "." components, no control characters), bounded in count and length. Throws a CyloError
 *  naming `outputs[i]`. */
export function checkOutputPatterns(patterns: readonly string[] | undefined): string[] {
  if (patterns === undefined) return [];
  if (patterns.length > MAX_OUTPUT_PATTERNS) {
    throw new CyloError('CYLO_E_VALIDATION', `outputs: at most ${MAX_OUTPUT_PATTERNS} patterns are accepted (got ${patterns.length})`, { field: 'outputs' });
  }
  const seen = new Set<string>();
  return patterns.flatMap((pattern, i) => {
    const field = `outputs[${i}]`;
    const bad = (why: string): never => {
      throw new CyloError('CYLO_E_VALIDATION', `${field}: ${why} (got ${JSON.stringify(pattern.slice(0, 80))})`, { field });
    };
    if (Buffer.byteLength(pattern) > MAX_OUTPUT_PATTERN_BYTES) bad(`must be at most ${MAX_OUTPUT_PATTERN_BYTES} bytes`);
    const problem = workspacePathProblem(pattern);
    if (problem !== undefined) bad(`${problem}; outputs are workspace-relative patterns such as "*.png" or "out/**"`);
    if (seen.has(pattern)) return [];
    seen.add(pattern);
    return [pattern];
  });
}

/** Image types recognised by their first bytes (never by the file's name). */
const MAGIC: ReadonlyArray<{ mimeType: string; test: (b: Buffer) => boolean }> = [
  { mimeType: 'image/png', test: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) },
  { mimeType: 'image/jpeg', test: (b) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { mimeType: 'image/gif', test: (b) => ['GIF87a', 'GIF89a'].includes(b.subarray(0, 6).toString('latin1')) },
  { mimeType: 'image/webp', test: (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP' },
  { mimeType: 'image/svg+xml', test: isSvg },
];

/** SVG: text whose first element (after an optional BOM, XML declaration, comments and a
 *  doctype) is <svg. Looked for in the first 4 KiB only. */
function isSvg(b: Buffer): boolean {
  let text = b.subarray(0, 4096).toString('utf8').replace(/^\uFEFF/, '');
  for (;;) {
    text = text.trimStart();
    const skip = /^(<\?xml[\s\S]*?\?>|<!--[\s\S]*?-->|<!DOCTYPE[^>]*>)/i.exec(text);
    if (skip === null) break;
    text = text.slice(skip[0].length);
  }
  return /^<svg[\s>/]/.test(text);
}

/** The image type of `content` by its magic bytes, or undefined when it is not an image cylo
 *  recognises (PNG, JPEG, GIF, WebP, SVG). */
export function imageMimeType(content: Buffer): string | undefined {
  return MAGIC.find((m) => m.test(content))?.mimeType;
}
