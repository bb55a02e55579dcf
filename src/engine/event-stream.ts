// Turns one execution into an async iterable of events: `state` transitions, `stdout` and
// `stderr` chunks as the program produces them (decoded as UTF-8 without splitting characters),
// and one final `result` (or `error`). Breaking out of the iteration cancels the execution.
// With outputEncoding "base64", each chunk's `data` is the base64 of that chunk's bytes instead.
import { OutputDecoder } from '../api/output-decoder.js';
import type { OutputEncoding } from '../api/output-encoding.js';
import type { ExecutionResult } from '../api/result.js';
import { linkAbort } from '../util/abort.js';
import type { CyloError } from '../errors.js';
import { toCyloError } from '../errors.js';
import type { ExecutionEvent } from './lifecycle.js';
import type { StateEvent } from './state-machine.js';

export type StreamEvent =
  | StateEvent
  | { type: 'stdout' | 'stderr'; stage: 'compile' | 'run'; data: string; /** The test case (index) of a test run's output. */ test?: number }
  | { type: 'result'; result: ExecutionResult }
  | { type: 'error'; error: CyloError };

type Runner = (onEvent: (event: ExecutionEvent) => void, signal: AbortSignal) => Promise<ExecutionResult>;

/** The events produced and not yet read, and the reader's wait for the next one. */
class EventQueue {
  private readonly events: StreamEvent[] = [];
  private wake: (() => void) | undefined;
  private done = false;

  /** True once the execution has ended (its last event is queued). */
  get closed(): boolean {
    return this.done;
  }

  push(event: StreamEvent): void {
    this.events.push(event);
    this.wake?.();
  }

  close(): void {
    this.done = true;
    this.wake?.();
  }

  /** The next event, waiting for one; done once the queue is closed and read to the end. */
  async next(): Promise<IteratorResult<StreamEvent>> {
    for (;;) {
      const event = this.events.shift();
      if (event !== undefined) return { value: event, done: false };
      if (this.done) return { value: undefined, done: true };
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }
}

/** `encoding`: how stdout/stderr events carry their bytes (the request's outputEncoding). */
export function streamExecution(run: Runner, outerSignal?: AbortSignal, encoding: OutputEncoding = 'utf8'): AsyncIterableIterator<StreamEvent> {
  const queue = new EventQueue();
  const controller = new AbortController();
  const unlink = linkAbort(outerSignal, controller);

  const decoder = new OutputDecoder();
  const flushDecoders = (): void => {
    for (const rest of decoder.flush()) queue.push({ type: rest.stream, stage: rest.stage, data: rest.text, ...(rest.test === undefined ? {} : { test: rest.test }) });
  };

  run((event) => {
    if (event.type === 'state') {
      queue.push(event);
      return;
    }
    const text = encoding === 'base64' ? event.data.toString('base64') : decoder.decode(event.stage, event.type, event.data, event.test);
    if (text !== '') queue.push({ type: event.type, stage: event.stage, data: text, ...(event.test === undefined ? {} : { test: event.test }) });
  }, controller.signal).then(
    (result) => {
      flushDecoders();
      queue.push({ type: 'result', result });
    },
    (error: unknown) => {
      flushDecoders();
      queue.push({ type: 'error', error: toCyloError(error) });
    },
  ).finally(() => {
    unlink();
    queue.close();
  });

  const iterator: AsyncIterableIterator<StreamEvent> = {
    [Symbol.asyncIterator]() {
      return iterator;
    },
    next: () => queue.next(),
    async return(): Promise<IteratorResult<StreamEvent>> {
      // The consumer stopped listening: cancel the execution.
      if (!queue.closed) controller.abort(new Error('stream consumer stopped'));
      return { value: undefined, done: true };
    },
  };
  return iterator;
}
