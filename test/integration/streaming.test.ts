// cylo.stream(request): state transitions, stdout/stderr chunks as the program produces them,
// then one result (or error). Timing assertions are relative to a sleep inside the program,
// never absolute speeds. Output caps hold while streaming, and a consumer that stops iterating
// cancels the execution with nothing left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StreamEvent } from '../../src/engine/event-stream.js';
import { closeSharedCylos, getCylo } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { busyCgroups, processesWith, uniqueMarker } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const T = { timeout: 30_000 };

// The shared instance keeps idle workers (and sandboxes started ahead) between tests: close it
// at the end so that this test process can exit.
test.after(() => closeSharedCylos());

interface Timed {
  /** Date.now() when the event arrived: the same clock as the program's time.time(). */
  at: number;
  event: StreamEvent;
}

async function collect(iterable: AsyncIterable<StreamEvent>): Promise<Timed[]> {
  const out: Timed[] = [];
  for await (const event of iterable) out.push({ at: Date.now(), event });
  return out;
}

const describe = (e: StreamEvent): string => (e.type === 'state' ? `state:${e.to}` : e.type === 'stdout' || e.type === 'stderr' ? `${e.type}:${e.data}` : e.type);

// The program prints, sleeps 1 s, reports on stderr the (host) time at which it woke up, and
// prints again: the first line must have arrived before that moment.
const PRINT_SLEEP_PRINT = 'import sys, time\nprint("first", flush=True)\ntime.sleep(1)\nprint("woke", int(time.time() * 1000), file=sys.stderr, flush=True)\nprint("second", flush=True)';

test('stream: output arrives while the program still runs (print, sleep 1 s, print)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const events = await collect(getCylo().stream({ language: 'python', code: PRINT_SLEEP_PRINT }));
  const kinds = events.map((e) => describe(e.event));
  const first = events.findIndex((e) => e.event.type === 'stdout' && e.event.data.includes('first'));
  const second = events.findIndex((e) => e.event.type === 'stdout' && e.event.data.includes('second'));
  const result = events.findIndex((e) => e.event.type === 'result');
  assert.ok(first >= 0 && second > first && result > second, `order: ${kinds.join(' | ')}`);
  assert.equal(result, events.length - 1, 'the result is the last event');
  // The first line was delivered before the program even woke up from its sleep.
  const err = events.find((e) => e.event.type === 'stderr');
  assert.ok(err?.event.type === 'stderr' && err.event.stage === 'run', 'stderr is streamed too, with its stage');
  const woke = Number(/^woke (\d+)\n$/.exec(err.event.data)?.[1]);
  const firstAt = (events[first] as Timed).at;
  assert.ok(firstAt <= woke, `the first line arrived at ${firstAt}, ${firstAt - woke} ms after the program woke up from its 1 s sleep (${woke})`);
  // the lifecycle, in order, around the output
  const states = events.filter((e) => e.event.type === 'state').map((e) => (e.event as { to: string }).to);
  assert.deepEqual(states, ['MountRamdisk', 'PrepareExecution', 'Processing', 'Done']);
  const processing = kinds.indexOf('state:Processing');
  assert.ok(processing < first && kinds.indexOf('state:Done') > second, kinds.join(' | '));
  // the final result is the same object execute() returns
  const r = (events[result] as Timed).event;
  assert.ok(r.type === 'result');
  assert.equal(r.result.status, 'ok');
  assert.equal(r.result.run?.stdout, 'first\nsecond\n');
  assert.match(r.result.run?.stderr ?? '', /^woke \d+\n$/);
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
  await waitFor('the program to be killed', () => (processesWith(marker).length === 0 ? true : undefined), 5000);
  await waitFor('the worker to be free', () => (cylo.stats().running === 0 ? true : undefined), 5000);
  assert.deepEqual(busyCgroups(), []);
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
