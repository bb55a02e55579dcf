// Output files of a run (the request's `outputs`, the result's `run.files`; docs/api.md#output-files):
// each file gets a download link, and images (by the type cylo found in their bytes: PNG, JPEG,
// GIF, WebP, SVG) are shown inline. Everything goes through blob: URLs made here from the bytes
// (the CSP allows blob: images); a file is never shown as HTML, and an SVG only as an <img>,
// where its scripts do not run.

interface OutputFile {
  name: string;
  size: number;
  content: string;
  truncated: boolean;
  mimeType?: string;
}

export interface FilesLike {
  files?: OutputFile[];
  filesSkipped?: Array<{ name: string; reason: string }>;
  filesError?: string | null;
}

const INLINE = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/svg+xml']);

function bytes(base64: string): Uint8Array<ArrayBuffer> {
  const raw = atob(base64);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

export class FilesView {
  private readonly section = document.getElementById('files-section') as HTMLElement;
  private readonly list = document.getElementById('files') as HTMLElement;
  private urls: string[] = [];

  reset(): void {
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
    this.list.replaceChildren();
    this.section.hidden = true;
  }

  /** Shows the run stage's files (nothing when the request asked for none). */
  show(stage: FilesLike): void {
    const files = stage.files ?? [];
    const notes = [...(stage.filesSkipped ?? []).map((s) => `${s.name}: skipped (${s.reason})`), ...(stage.filesError ? [stage.filesError] : [])];
    if (files.length === 0 && notes.length === 0) return;
    this.section.hidden = false;
    for (const file of files) this.list.append(this.item(file));
    for (const note of notes) {
      const li = document.createElement('li');
      li.textContent = note;
      this.list.append(li);
    }
  }

  private item(file: OutputFile): HTMLElement {
    const type = file.mimeType ?? 'application/octet-stream';
    const url = URL.createObjectURL(new Blob([bytes(file.content)], { type }));
    this.urls.push(url);
    const li = document.createElement('li');
    li.className = 'file';
    const link = document.createElement('a');
    link.href = url;
    link.download = file.name.split('/').pop() ?? 'file';
    link.textContent = `Download ${file.name}`;
    const size = document.createElement('span');
    size.textContent = ` (${file.size} bytes${file.truncated ? ', cut at the output file limit' : ''})`;
    li.append(link, size);
    if (file.mimeType !== undefined && INLINE.has(file.mimeType) && !file.truncated) {
      const img = document.createElement('img');
      img.src = url;
      img.alt = file.name;
      li.append(document.createElement('br'), img);
    }
    return li;
  }
}
