// Polling until something holds: the host-side effects of an execution (a process started or
// gone, a worker free again) are asynchronous.
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `probe` until it returns a value other than undefined or false, and resolves with it;
 * throws after `timeoutMs`. The timeout is a deadline for "eventually", not a speed claim: keep
 * it generous.
 */
export async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * Samples `sample` until `done` holds for a sample or `timeoutMs` has passed, and returns that
 * last sample either way, for the caller to assert on (so a failure shows what was left). For
 * states that settle (the pool resets a slot right after the result is sent): assert on the one
 * snapshot that was clean, not on a fresh one taken while a slot starts its next sandbox.
 */
export async function settled<T>(sample: () => T, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  let last = sample();
  const deadline = performance.now() + timeoutMs;
  while (!done(last) && performance.now() <= deadline) {
    await sleep(20);
    last = sample();
  }
  return last;
}

/** waitFor with an asynchronous probe (an HTTP request, a browser query): polls until it
 *  resolves to something other than undefined or false; throws after `timeoutMs`. */
export async function waitForAsync<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}
