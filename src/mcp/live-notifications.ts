// The MCP notifications that carry run_code's live output to the client while the program runs:
// progress notifications (when the tools/call request carries _meta.progressToken) and/or log
// notifications (when the client asked for them with logging/setLevel at "info" or more
// verbose), fed by LiveOutput (./live-output.ts), and the pause before the result that lets the
// last of them arrive.
import { setTimeout as delay } from 'node:timers/promises';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { ProgressToken, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import type { ExecutionEvent } from '../engine/lifecycle.js';
import { LiveOutput, type LiveSegment } from './live-output.js';

/** Pause between the last live-output notification and the result (see `finish`). */
const RESULT_SETTLE_MS = 40;

/** What the SDK passes a tool handler besides its arguments. */
export type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export interface LiveNotificationOptions {
  /** The call's signal: nothing more is sent once it is aborted. */
  signal: AbortSignal;
  /** Send the output as log notifications too. */
  wantLogs: boolean;
  intervalMs?: number | undefined;
}

export class LiveNotifications {
  /** The cylo.execute onEvent callback. */
  readonly onEvent: (event: ExecutionEvent) => void;
  private readonly output: LiveOutput;
  private progress = 0;
  private lastSentAt = -Infinity;

  /** The live output of one tool call, or undefined when the client asked for none. */
  static forCall(extra: ToolExtra, options: LiveNotificationOptions): LiveNotifications | undefined {
    const progressToken = extra._meta?.progressToken;
    return progressToken !== undefined || options.wantLogs ? new LiveNotifications(extra, progressToken, options) : undefined;
  }

  private constructor(
    private readonly extra: ToolExtra,
    private readonly progressToken: ProgressToken | undefined,
    private readonly options: LiveNotificationOptions,
  ) {
    this.output = new LiveOutput({ send: (segment) => this.send(segment), ...(options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs }) });
    this.onEvent = this.output.onEvent;
  }

  /** Sends what is left, then waits until the result may follow. */
  async finish(): Promise<void> {
    await this.output.finish();
    // The SDK's client (1.x) handles a notification a microtask after the response that
    // follows it in the same read, by when it has dropped the progress handler, so output
    // sent just before the result would be lost (SDK issue 2580). A short pause after the
    // last notification lets it arrive on its own.
    const wait = this.lastSentAt + RESULT_SETTLE_MS - performance.now();
    if (wait > 0) await delay(wait);
  }

  /** Stops without sending what is pending (the call failed or was cancelled). */
  discard(): void {
    this.output.discard();
  }

  private async send(segment: LiveSegment): Promise<void> {
    if (this.options.signal.aborted) return;
    this.lastSentAt = performance.now();
    const meta = { 'cylo/stream': segment.stream, 'cylo/stage': segment.stage };
    if (this.progressToken !== undefined) {
      this.progress += 1;
      await this.extra.sendNotification({ method: 'notifications/progress', params: { progressToken: this.progressToken, progress: this.progress, message: segment.text, _meta: meta } });
    }
    if (this.options.wantLogs) {
      await this.extra.sendNotification({ method: 'notifications/message', params: { level: 'info', logger: `cylo.${segment.stage}.${segment.stream}`, data: segment.text } });
    }
  }
}
