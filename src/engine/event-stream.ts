// Turns one execution into an async iterable of events: `state` transitions, `stdout` and
// `stderr` chunks as the program produces them (decoded as UTF-8 without splitting characters),
// and one final `result` (or `error`). Breaking out of the iteration cancels the execution.
import { OutputDecoder } from '../api/output-decoder.js';
import type { ExecutionResult } from '../api/result.js';
import { linkAbort } from '../util/abort.js';
import type { CyloError } from '../errors.js';
import { toCyloError } from '../errors.js';
import type { ExecutionEvent } from './lifecycle.js';
import type { StateEvent } from './state-machine.js';

export type StreamEvent =
  | StateEvent
  | { type: 'stdout' | 'stderr'; stage: 'compile' | 'run'; data: string }
  | { type: 'result'; result: ExecutionResult }
  | { type: 'error'; error: CyloError };

type Runner = (onEvent: (event: ExecutionEvent) => void, signal: AbortSignal) => Promise<ExecutionResult>;

export function streamExecution(run: Runner, outerSignal?: AbortSignal): AsyncIterableIterator<StreamEvent> {
  const queue: StreamEvent[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  const controller = new AbortController();
  const unlink = linkAbort(outerSignal, controller);

  const decoder = new OutputDecoder();
  const push = (event: StreamEvent): void => {
    queue.push(event);
    wake?.();
  };
  const flushDecoders = (): void => {
    for (const rest of decoder.flush()) push({ type: rest.stream, stage: rest.stage, data: rest.text });
  };

  run((event) => {
    if (event.type === 'state') {
      push(event);
      return;
    }
    const text = decoder.decode(event.stage, event.type, event.data);
    if (text !== '') push({ type: event.type, stage: event.stage, data: text });
  }, controller.signal).then(
    (result) => {
      flushDecoders();
      push({ type: 'result', result });
    },
    (error: unknown) => {
      flushDecoders();
      push({ type: 'error', error: toCyloError(error) });
    },
  ).finally(() => {
    finished = true;
    unlink();
    wake?.();
  });

  const iterator: AsyncIterableIterator<StreamEvent> = {
    [Symbol.asyncIterator]() {
      return iterator;
    },
    async next(): Promise<IteratorResult<StreamEvent>> {
      for (;;) {
        const event = queue.shift();
        if (event !== undefined) return { value: event, done: false };
        if (finished) return { value: undefined, done: true };
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    },
    async return(): Promise<IteratorResult<StreamEvent>> {
      // The consumer stopped listening: cancel the execution.
      if (!finished) controller.abort(new Error('stream consumer stopped'));
      return { value: undefined, done: true };
    },
  };
  return iterator;
}
