// An interactive execution: a handle to write to the program's stdin as it runs, close it,
// signal the program, and read its events (state, stdout, stderr, result) as they happen.
// It is the library's counterpart of Piston's WebSocket protocol (/api/v2/connect).
import type { OutputEncoding } from '../api/output-encoding.js';
import type { ExecutionResult } from '../api/result.js';
import { CyloError } from '../errors.js';
import type { StageControl } from '../backend/backend.js';
import { linkAbort } from '../util/abort.js';
import { isForwardableSignal, type ForwardableSignal } from '../util/signals.js';
import type { ExecutionEvent } from './lifecycle.js';
import { streamExecution, type StreamEvent } from './event-stream.js';

export interface InteractiveExecution {
  /** The execution's events, as they happen; ends after `result` (or `error`). */
  readonly events: AsyncIterableIterator<StreamEvent>;
  /** The final result (rejects like `execute`). */
  readonly result: Promise<ExecutionResult>;
  /** Writes to the program's stdin (buffered until the program starts, then as the program's
   *  stdin pipe takes it). Returns false once more than INPUT_HIGH_WATER_BYTES wait in cylo's
   *  buffer: a writer that streams (a pipe into `cylo exec`) then waits for `drained()` before
   *  writing more, so cylo's memory stays bounded however fast its input comes. */
  write(data: string | Buffer): boolean;
  /** Resolves when everything written so far has been handed to the program's stdin pipe, or
   *  the execution has ended (nothing more will be taken). */
  drained(): Promise<void>;
  /** Closes the program's stdin (a program reading to EOF then finishes). */
  end(): void;
  /** Sends a signal to the program; false when it is not running (yet, or any more). */
  kill(signal?: ForwardableSignal): boolean;
  /** Cancels the execution: every process of it is killed. */
  cancel(): void;
}

/** Bytes waiting in an InputQueue above which `write` asks its writer to wait (64 KiB, one pipe
 *  buffer's worth). */
export const INPUT_HIGH_WATER_BYTES = 64 * 1024;

/** An async iterable of stdin chunks fed by write()/end(); counts the bytes it holds so a
 *  streaming writer can wait (`drained`) instead of filling memory. */
export class InputQueue implements AsyncIterable<Buffer> {
  private readonly chunks: Buffer[] = [];
  private ended = false;
  private released = false;
  private wake: (() => void) | undefined;
  private waiting: Array<() => void> = [];
  /** Bytes pushed and not yet taken by the reader. */
  bufferedBytes = 0;

  /** Queues a chunk; returns false when more than INPUT_HIGH_WATER_BYTES are now waiting.
   *  Throws CYLO_E_VALIDATION after end(). */
  push(chunk: Buffer): boolean {
    if (this.ended) throw new CyloError('CYLO_E_VALIDATION', 'stdin: already closed; nothing more can be written', { field: 'stdin' });
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
    this.wake?.();
    return this.bufferedBytes <= INPUT_HIGH_WATER_BYTES;
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  /** Resolves once every queued byte was taken by the reader, or release() was called. */
  drained(): Promise<void> {
    if (this.bufferedBytes === 0 || this.released) return Promise.resolve();
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** The reader is gone (the execution ended): wakes every drained() waiter for good. */
  release(): void {
    this.released = true;
    this.wakeWaiters();
  }

  private wakeWaiters(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk !== undefined) {
        this.bufferedBytes -= chunk.length;
        if (this.bufferedBytes === 0) this.wakeWaiters();
        yield chunk;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }
}

export type InteractiveRunner = (options: { onEvent: (event: ExecutionEvent) => void; signal: AbortSignal; stdinStream: AsyncIterable<Buffer>; control: StageControl }) => Promise<ExecutionResult>;

/** `encoding`: how output events carry their bytes (the request's outputEncoding). */
export function startInteractive(run: InteractiveRunner, outerSignal?: AbortSignal, encoding: OutputEncoding = 'utf8'): InteractiveExecution {
  const input = new InputQueue();
  const control: StageControl = {};
  const cancel = new AbortController();
  const unlink = linkAbort(outerSignal, cancel);
  let resolveResult!: (r: ExecutionResult) => void;
  let rejectResult!: (e: unknown) => void;
  const result = new Promise<ExecutionResult>((resolve, reject) => {
    resolveResult = resolve;
    rejectResult = reject;
  });
  result.catch(() => {}); // also reported as an `error` event; never an unhandled rejection
  const events = streamExecution((onEvent, signal) => {
    const p = run({ onEvent, signal, stdinStream: input, control });
    p.then(resolveResult, rejectResult).finally(() => {
      unlink();
      input.release();
    });
    return p;
  }, cancel.signal, encoding);
  return {
    events,
    result,
    write: (data) => input.push(typeof data === 'string' ? Buffer.from(data, 'utf8') : data),
    drained: () => input.drained(),
    end: () => input.end(),
    kill: (signal = 'SIGKILL') => {
      if (!isForwardableSignal(signal)) throw new CyloError('CYLO_E_VALIDATION', `signal: ${String(signal)} is not a signal that can be sent to a program`, { field: 'signal' });
      return control.signal?.(signal) ?? false;
    },
    cancel: () => cancel.abort(new CyloError('CYLO_E_CANCELLED', 'cancelled by the caller')),
  };
}
