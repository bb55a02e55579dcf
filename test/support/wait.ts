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
