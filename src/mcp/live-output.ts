// Carries a run's output to the MCP client while the program runs: as progress notifications
// (when the tools/call request carries _meta.progressToken) and/or as log notifications (when
// the client asked for them with logging/setLevel at "info" or below). Chunks are decoded as
// UTF-8 without splitting characters, coalesced (at most one notification per stream every
// `intervalMs`, or sooner when `maxChunkChars` are pending) and capped in total, so a program
// that prints in a tight loop cannot flood the client.
import { OutputDecoder } from '../api/output-decoder.js';
import type { ExecutionEvent } from '../engine/lifecycle.js';

export type OutputStream = 'stdout' | 'stderr';
export type OutputStage = 'compile' | 'run';

export interface LiveSegment {
  stage: OutputStage;
  stream: OutputStream;
  text: string;
}

export interface LiveOutputOptions {
  /** Sends one segment; awaited in order. Failures are ignored (the client may be gone). */
  send: (segment: LiveSegment) => Promise<void>;
  intervalMs?: number;
  maxChunkChars?: number;
  /** Characters streamed in all; past it one notice is sent and the rest only in the result. */
  maxTotalChars?: number;
}

export const DEFAULT_LIVE_INTERVAL_MS = 100;
export const DEFAULT_LIVE_CHUNK_CHARS = 16 * 1024;
export const DEFAULT_LIVE_TOTAL_CHARS = 1024 * 1024;

export class LiveOutput {
  private readonly decoder = new OutputDecoder();
  private pending: LiveSegment[] = [];
  private pendingChars = 0;
  private streamed = 0;
  private capped = false;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly intervalMs: number;
  private readonly maxChunkChars: number;
  private readonly maxTotalChars: number;

  constructor(private readonly options: LiveOutputOptions) {
    this.intervalMs = options.intervalMs ?? DEFAULT_LIVE_INTERVAL_MS;
    this.maxChunkChars = options.maxChunkChars ?? DEFAULT_LIVE_CHUNK_CHARS;
    this.maxTotalChars = options.maxTotalChars ?? DEFAULT_LIVE_TOTAL_CHARS;
  }

  /** The cylo.execute onEvent callback. */
  readonly onEvent = (event: ExecutionEvent): void => {
    if (event.type === 'state') return;
    this.push(event.stage, event.type, this.decoder.decode(event.stage, event.type, event.data));
  };

  private push(stage: OutputStage, stream: OutputStream, text: string): void {
    if (text === '' || this.capped) return;
    const room = this.maxTotalChars - this.streamed - this.pendingChars;
    if (text.length > room) {
      text = text.slice(0, Math.max(0, room));
      this.capped = true;
    }
    const last = this.pending[this.pending.length - 1];
    if (last !== undefined && last.stage === stage && last.stream === stream) last.text += text;
    else this.pending.push({ stage, stream, text });
    this.pendingChars += text.length;
    if (this.capped) {
      this.pending.push({ stage, stream: 'stderr', text: `\n[cylo: live output stopped after ${this.maxTotalChars} characters; the rest is in the result]\n` });
    }
    if (this.pendingChars >= this.maxChunkChars || this.capped) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
  }

  private flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const segments = this.pending;
    this.streamed += this.pendingChars;
    this.pending = [];
    this.pendingChars = 0;
    for (const segment of segments) {
      if (segment.text === '') continue;
      this.chain = this.chain.then(() => this.options.send(segment)).catch(() => {});
    }
  }

  /** Flushes what is left (including partial UTF-8 sequences) and waits for every send. */
  async finish(): Promise<void> {
    for (const rest of this.decoder.flush()) this.push(rest.stage, rest.stream, rest.text);
    this.flush();
    await this.chain;
  }

  /** Stops without sending what is pending (the request was cancelled). */
  discard(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = [];
    this.capped = true;
  }
}
