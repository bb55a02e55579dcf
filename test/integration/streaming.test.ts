// cylo.stream(request): state transitions, stdout/stderr chunks as the program produces them,
// then one result (or error). That output is live is shown without timing anything: the program
// waits for the test to have received its first line (test/support/live.ts). Output caps hold
// while streaming, and a consumer that stops iterating cancels the execution with nothing left
// behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StreamEvent } from '../../src/engine/event-stream.js';
import { closeSharedCylos, getCylo } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { LIVE_PROGRAM, releaseLiveProgram } from '../support/live.js';
import { settledBusyCgroups, processesWith, uniqueMarker } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const T = { timeout: 30_000 };

// The shared instance keeps idle workers (and sandboxes started ahead) between tests: close it
// at the end so that this test process can exit.
test.after(() => closeSharedCylos());

interface Collected {
  event: StreamEvent;
}

/** Every event of the stream, in order; `onEvent` sees each as it arrives. */
async function collect(iterable: AsyncIterable<StreamEvent>, onEvent?: (event: StreamEvent) => void): Promise<Collected[]> {
  const out: Collected[] = [];
  for await (const event of iterable) {
    out.push({ event });
    onEvent?.(event);
  }
  return out;
}

const describe = (e: StreamEvent): string => (e.type === 'state' ? `state:${e.to}` : e.type === 'stdout' || e.type === 'stderr' ? `${e.type}:${e.data}` : e.type);

test('stream: output arrives while the program still runs (it waits until the test has its first line)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // LIVE_PROGRAM prints "first", then waits for the test's signal, sent only once "first" came
  // out of the stream: held-back output would leave it waiting until its time limit (timeout).
  const marker = uniqueMarker();
  const events = await collect(getCylo().stream({ language: 'python', code: LIVE_PROGRAM, args: [marker], limits: { timeoutMs: 10_000 } }), (e) => {
    if (e.type === 'stdout' && e.data.includes('first')) releaseLiveProgram(marker);
  });
  const kinds = events.map((e) => describe(e.event));
  const first = events.findIndex((e) => e.event.type === 'stdout' && e.event.data.includes('first'));
  const second = events.findIndex((e) => e.event.type === 'stdout' && e.event.data.includes('second'));
  const result = events.findIndex((e) => e.event.type === 'result');
  assert.ok(first >= 0 && second > first && result > second, `order: ${kinds.join(' | ')}`);
  assert.equal(result, events.length - 1, 'the result is the last event');
  const err = events.find((e) => e.event.type === 'stderr');
  assert.ok(err?.event.type === 'stderr' && err.event.stage === 'run', 'stderr is streamed too, with its stage');
  assert.equal(err.event.data, 'released\n', 'the program was released by the test, after its first line arrived');
  // the lifecycle, in order, around the output
  const states = events.filter((e) => e.event.type === 'state').map((e) => (e.event as { to: string }).to);
  assert.deepEqual(states, ['MountRamdisk', 'PrepareExecution', 'Processing', 'Done']);
  const processing = kinds.indexOf('state:Processing');
  assert.ok(processing < first && kinds.indexOf('state:Done') > second, kinds.join(' | '));
  // the final result is the same object execute() returns
  const r = (events[result] as Collected).event;
  assert.ok(r.type === 'result');
  assert.equal(r.result.status, 'ok', `${r.result.status}: ${r.result.run?.message ?? ''}`);
  assert.equal(r.result.run?.stdout, 'first\nsecond\n');
  assert.equal(r.result.run?.stderr, 'released\n');
  // the streamed chunks add up to the result's output
  assert.equal(events.filter((e) => e.event.type === 'stdout').map((e) => (e.event as { data: string }).data).join(''), 'first\nsecond\n');
});

test('stream: a multi-byte character split across writes is never split across events', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // "é" is 2 bytes, "€" 3: written one byte at a time, with a pause inside each character.
  const code = 'import sys, time\nfor b in "aé€z\\n".encode():\n    sys.stdout.buffer.write(bytes([b])); sys.stdout.flush(); time.sleep(0.02)';
  const events = await collect(getCylo().stream({ language: 'python', code }));
  const chunks = events.filter((e) => e.event.type === 'stdout').map((e) => (e.event as { data: string }).data);
  for (const c of chunks) assert.ok(!c.includes('\uFFFD'), `no replacement character in ${JSON.stringify(chunks)}`);
  assert.equal(chunks.join(''), 'aé€z\n');
});

test('stream: the output cap holds while streaming (an endless printer ends output_limit)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const cap = 8192;
  const events = await collect(getCylo().stream({ language: 'bash', code: 'while :; do echo 0123456789abcdef; done', limits: { outputBytes: cap } }));
  const streamed = events.filter((e) => e.event.type === 'stdout').reduce((n, e) => n + Buffer.byteLength((e.event as { data: string }).data), 0);
  const last = events.at(-1)?.event;
  assert.ok(last?.type === 'result', `last event: ${last?.type}`);
  assert.equal(last.result.status, 'output_limit');
  assert.equal(last.result.run?.stdoutTruncated, true);
  assert.ok(streamed <= cap, `streamed ${streamed} bytes under a cap of ${cap}`);
  assert.equal(streamed, Buffer.byteLength(last.result.run?.stdout ?? ''), 'what was streamed is what the result holds');
  assert.ok(streamed > cap / 2, 'the cap, not an early end, stopped it');
});

test('stream: breaking out of for-await cancels the execution and leaves no process', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const cylo = getCylo();
  const marker = uniqueMarker();
  let sawReady = false;
  const seen: string[] = [];
  for await (const event of cylo.stream({ language: 'bash', code: 'echo ready; sleep 30; echo never', args: [marker], limits: { timeoutMs: 20_000 } })) {
    seen.push(describe(event));
    if (event.type === 'stdout' && event.data.includes('ready')) {
      sawReady = true;
      assert.ok(processesWith(marker).length > 0, 'the program is running while we iterate');
      break;
    }
  }
  assert.ok(sawReady, seen.join(' | '));
  await waitFor('the program to be killed', () => processesWith(marker).length === 0);
  await waitFor('the worker to be free', () => cylo.stats().running === 0);
  assert.deepEqual(await settledBusyCgroups(), []);
});

test('stream: an AbortSignal cancels it: the last event is a CYLO_E_CANCELLED error', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const marker = uniqueMarker();
  const controller = new AbortController();
  const events: StreamEvent[] = [];
  for await (const event of getCylo().stream({ language: 'bash', code: 'echo ready; sleep 30', args: [marker], limits: { timeoutMs: 20_000 } }, { signal: controller.signal })) {
    events.push(event);
    if (event.type === 'stdout') controller.abort();
  }
  const last = events.at(-1);
  assert.ok(last?.type === 'error', `last: ${JSON.stringify(last)}`);
  assert.equal(last.error.code, 'CYLO_E_CANCELLED');
  const failed = events.find((e) => e.type === 'state' && e.to === 'Failed');
  assert.ok(failed !== undefined, 'the lifecycle ends in Failed');
  assert.deepEqual(processesWith(marker), [], 'nothing left by the time the error event arrives');
});

test('stream: a request that cannot run ends with one error event, not a throw', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const events: StreamEvent[] = [];
  for await (const event of getCylo().stream({ language: 'no-such-language', code: 'x' })) events.push(event);
  assert.equal(events.length, 1, JSON.stringify(events));
  const only = events[0];
  assert.ok(only?.type === 'error');
  assert.equal(only.error.code, 'CYLO_E_UNKNOWN_LANGUAGE');
});

test('stream: a timeout streams what was printed, then a timeout result', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const events = await collect(getCylo().stream({ language: 'bash', code: 'echo before; sleep 10', limits: { timeoutMs: 500 } }));
  const kinds = events.map((e) => describe(e.event));
  assert.deepEqual(kinds.filter((k) => k.startsWith('stdout')), ['stdout:before\n']);
  const last = events.at(-1)?.event;
  assert.ok(last?.type === 'result');
  assert.equal(last.result.status, 'timeout');
});
