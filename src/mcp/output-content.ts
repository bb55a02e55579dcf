// run_code's output files (a request's `outputs`, src/api/outputs.ts) as MCP content blocks,
// after the text block:
//   a whole PNG, JPEG, GIF or WebP (by its magic bytes: the result's mimeType) -> an `image`
//   block, which a model sees as an image;
//   every other file (SVG included: model APIs take only raster images; a truncated image) ->
//   an embedded `resource`, with `text` when its bytes are valid UTF-8, else `blob` (base64).
// Resource URIs are cylo://execution/<id>/work/<name>: a scheme no client resolves to a file
// on its own host (a file:///work/... URI could be opened there, a different file).
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ExecutionResult, OutputFile, Stage } from '../api/result.js';

type Block = CallToolResult['content'][number];

/** Image types sent as MCP image blocks (what model APIs accept as images). */
const RASTER = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** The resource URI of an output file of execution `id`. */
export function outputUri(id: string, name: string): string {
  return `cylo://execution/${encodeURIComponent(id)}/work/${name.split('/').map(encodeURIComponent).join('/')}`;
}

function isImageBlock(file: OutputFile): boolean {
  return file.mimeType !== undefined && RASTER.has(file.mimeType) && !file.truncated;
}

/** Valid UTF-8 text without NUL: sent as text, else as a blob. */
function asText(bytes: Buffer): string | undefined {
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) && !text.includes('\0') ? text : undefined;
}

function block(id: string, file: OutputFile): Block {
  if (isImageBlock(file)) return { type: 'image', data: file.content, mimeType: file.mimeType as string };
  const bytes = Buffer.from(file.content, 'base64');
  const text = asText(bytes);
  const uri = outputUri(id, file.name);
  const mimeType = file.mimeType ?? (text === undefined ? 'application/octet-stream' : 'text/plain');
  return { type: 'resource', resource: text === undefined ? { uri, mimeType, blob: file.content } : { uri, mimeType, text } };
}

function size(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** The lines of the text block about the output files (empty when the request had none). */
export function filesText(run: Stage | null): string[] {
  if (run?.files === undefined) return [];
  const lines = [`--- output files: ${run.files.length} ---`];
  for (const f of run.files) {
    const kind = isImageBlock(f) ? `${f.mimeType}, an image block follows` : `${f.mimeType === undefined ? '' : `${f.mimeType}, `}a resource block follows`;
    lines.push(`${f.name} (${size(f.size)}${f.truncated ? `, cut to ${size(Buffer.from(f.content, 'base64').length)}` : ''}; ${kind})`);
  }
  for (const s of run.filesSkipped ?? []) lines.push(`${s.name}: not returned (${s.reason})`);
  if (run.filesIncomplete === true) lines.push('[some matching files were cut or left out at the output file limits]');
  if (run.filesError !== undefined && run.filesError !== null) lines.push(`[no output file could be read: ${run.filesError}]`);
  lines.push('--- end of output files ---');
  return lines;
}

/** The content blocks of the output files of `result`, in name order. */
export function fileBlocks(result: ExecutionResult): Block[] {
  return (result.run?.files ?? []).map((f) => block(result.id, f));
}
