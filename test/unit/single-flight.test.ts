// Unit tests for single-flight (src/engine/single-flight.ts), the mechanism that makes identical
// compiles arriving at the same time run once: what waiters get when the first one succeeds,
// fails, is cancelled, or has nothing to share, and that a waiter's own cancellation ends only
// its own wait. (The integration test in test/integration/compile-flight.test.ts runs real
// concurrent compiles through it.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SingleFlight } from '../../src/engine/single-flight.js';

const aborted = (): Error => new Error('this caller was cancelled');

/** A piece of work the test ends by hand; counts its runs. */
function gate<T>(): { work: () => Promise<T>; runs: () => number; finish: (v: T) => void; fail: (e: Error) => void } {
  const pending: Array<{ resolve: (v: T) => void; reject: (e: Error) => void }> = [];
  return {
    work: () => new Promise<T>((resolve, reject) => pending.push({ resolve, reject })),
    runs: () => pending.length,
    finish: (v) => pending.shift()?.resolve(v),
    fail: (e) => pending.shift()?.reject(e),
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('concurrent calls of one key run the work once; the others share its value', async () => {
  // Proves "ten concurrent identical compiles compile once".
  const f = new SingleFlight<string>(aborted);
  const g = gate<string>();
  const calls = Array.from({ length: 10 }, () => f.run('k', g.work, () => true));
  await tick();
  assert.equal(g.runs(), 1);
  g.finish('artifact');
  const results = await Promise.all(calls);
  assert.deepEqual(results.map((r) => r.value), Array(10).fill('artifact'));
  assert.equal(results.filter((r) => !r.shared).length, 1, 'exactly one caller ran it');
  assert.equal(f.size, 0, 'nothing stays in flight');
});

test('other keys do not wait', async () => {
  const f = new SingleFlight<string>(aborted);
  const g = gate<string>();
  const a = f.run('a', g.work, () => true);
  const b = f.run('b', g.work, () => true);
  await tick();
  assert.equal(g.runs(), 2);
  g.finish('1');
  g.finish('2');
  assert.deepEqual([(await a).value, (await b).value], ['1', '2']);
});

test('the first caller fails: its error is its own; one waiter runs the work itself', async () => {
  // Proves a waiter never inherits a failure (or a cancellation, which reaches the leader as a
  // thrown error) that was not its own.
  const f = new SingleFlight<string>(aborted);
  const g = gate<string>();
  const first = f.run('k', g.work, () => true);
  const waiters = [f.run('k', g.work, () => true), f.run('k', g.work, () => true)];
  await tick();
  g.fail(new Error('the leader was cancelled'));
  await assert.rejects(first, /the leader was cancelled/);
  await tick();
  assert.equal(g.runs(), 1, 'exactly one waiter took over');
  g.finish('second try');
  const results = await Promise.all(waiters);
  assert.deepEqual(results.map((r) => r.value), ['second try', 'second try']);
  assert.equal(results.filter((r) => !r.shared).length, 1);
});

test('a value the caller will not share: the waiters run the work again (one at a time)', async () => {
  const f = new SingleFlight<string>(aborted);
  const g = gate<string>();
  const shareable = (v: string): boolean => v !== 'internal_error';
  const first = f.run('k', g.work, shareable);
  const waiter = f.run('k', g.work, shareable);
  await tick();
  g.finish('internal_error');
  assert.deepEqual(await first, { value: 'internal_error', shared: false });
  await tick();
  g.finish('ok');
  assert.deepEqual(await waiter, { value: 'ok', shared: false });
});

test("a waiter's own cancellation ends its wait only; the work and the other callers go on", async () => {
  const f = new SingleFlight<string>(aborted);
  const g = gate<string>();
  const first = f.run('k', g.work, () => true);
  const controller = new AbortController();
  const cancelled = f.run('k', g.work, () => true, controller.signal);
  const other = f.run('k', g.work, () => true, new AbortController().signal);
  await tick();
  controller.abort();
  await assert.rejects(cancelled, /this caller was cancelled/);
  g.finish('done');
  assert.equal((await first).value, 'done');
  assert.deepEqual(await other, { value: 'done', shared: true });
  assert.equal(g.runs(), 0);
  // Already aborted before it waits: rejected at once.
  const late = f.run('k', g.work, () => true);
  const gone = new AbortController();
  gone.abort();
  await assert.rejects(f.run('k', g.work, () => true, gone.signal), /cancelled/);
  g.finish('x');
  await late;
});
