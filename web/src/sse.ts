// Server-Sent Events over fetch: EventSource cannot POST, so the page reads the response body
// and splits it into events itself (the WHATWG format: `event:` and `data:` lines, a blank line
// ends an event, lines starting with ':' are comments such as cylo's keep-alive).

export interface SseEvent {
  event: string;
  data: string;
}

/** Splits text arriving in arbitrary chunks into events; call push() per chunk. */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];

  /** Feeds a chunk; returns the events it completed. */
  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + (this.buffer.startsWith('\r\n', nl) ? 2 : 1));
      const done = this.line(line);
      if (done !== undefined) out.push(done);
    }
    return out;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') {
      if (this.data.length === 0) {
        this.event = '';
        return undefined;
      }
      const done = { event: this.event === '' ? 'message' : this.event, data: this.data.join('\n') };
      this.event = '';
      this.data = [];
      return done;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    return undefined;
  }
}

/** Reads a response body as SSE, calling `onEvent` for each event until the body ends. */
export async function readEvents(body: ReadableStream<Uint8Array<ArrayBuffer>>, onEvent: (event: SseEvent) => void): Promise<void> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    for (const event of parser.push(value)) onEvent(event);
  }
}
