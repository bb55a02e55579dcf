// cylo.interactive(request): stdin written while the program runs reaches it, end() closes its
// stdin, kill() delivers a real signal to the program (a trap inside proves it), and
// cancellation (AbortSignal or cancel()) leaves no process behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InteractiveExecution } from '../../src/engine/interactive.js';
import { CyloError } from '../../src/errors.js';
import { closeSharedCylos, getCylo } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { settledBusyCgroups, processesWith, uniqueMarker } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const T = { timeout: 30_000 };

// The shared instance keeps idle workers (and sandboxes started ahead) between tests: close it
// at the end so that this test process can exit.
test.after(() => closeSharedCylos());

/** Reads the execution's events in the background; `until(text)` resolves once stdout holds it. */
function watchOutput(exec: InteractiveExecution): { stdout: () => string; until: (text: string) => Promise<void>; done: Promise<void> } {
  let out = '';
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  const done = (async () => {
    for await (const e of exec.events) {
      if (e.type !== 'stdout') continue;
      out += e.data;
      for (const w of waiters.splice(0)) {
        if (out.includes(w.text)) w.resolve();
        else waiters.push(w);
      }
    }
  })();
  const until = (text: string): Promise<void> =>
    out.includes(text)
      ? Promise.resolve()
      : Promise.race([
          new Promise<void>((resolve) => waiters.push({ text, resolve })),
          done.then(() => {
            if (!out.includes(text)) throw new Error(`the execution ended before printing ${JSON.stringify(text)}; stdout: ${JSON.stringify(out)}`);
          }),
        ]);
  return { stdout: () => out, until, done };
}

const isCancelled = (e: unknown): boolean => e instanceof CyloError && e.code === 'CYLO_E_CANCELLED';

/** True if `p` has not settled after `ms` (the program is still waiting). */
async function stillPending(p: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  p.then(() => (settled = true), () => (settled = true));
  await new Promise((r) => setTimeout(r, ms));
  return !settled;
}

test('interactive: stdin written after the program started reaches it, line by line', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const code = 'import sys\nprint("ready", flush=True)\nfor line in sys.stdin:\n    print("got", line.strip().upper(), flush=True)\n    if line.strip() == "bye": break\nprint("end")';
  const exec = getCylo().interactive({ language: 'python', code });
  const out = watchOutput(exec);
  await out.until('ready');
  // The program is blocked reading stdin: nothing written yet, nothing answered.
  assert.equal(await stillPending(exec.result, 300), true, 'the program waits for input');
  exec.write('hello\n');
  await out.until('got HELLO');
  exec.write(Buffer.from('wörld\n', 'utf8'));
  await out.until('got WÖRLD');
  exec.write('bye\n');
  const result = await exec.result;
  await out.done;
  assert.equal(result.status, 'ok');
  assert.equal(result.run?.stdout, 'ready\ngot HELLO\ngot WÖRLD\ngot BYE\nend\n');
  assert.equal(out.stdout(), result.run?.stdout);
});

test('interactive: the request stdin comes first, then what is written', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const exec = getCylo().interactive({ language: 'bash', code: 'read a; read b; echo "$a+$b"', stdin: 'one\n' });
  exec.write('two\n');
  const result = await exec.result;
  assert.equal(result.run?.stdout, 'one+two\n');
});

test('interactive: end() closes stdin, so a program reading to EOF finishes', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const exec = getCylo().interactive({ language: 'bash', code: 'cat; echo "<eof>"' });
  const out = watchOutput(exec);
  exec.write('abc\n');
  await out.until('abc'); // cat echoed it: the program runs and reads
  assert.equal(await stillPending(exec.result, 300), true, 'cat keeps reading while stdin is open');
  exec.write('def\n');
  exec.end();
  const result = await exec.result;
  assert.equal(result.status, 'ok');
  assert.equal(result.run?.stdout, 'abc\ndef\n<eof>\n');
  assert.throws(() => exec.write('late'), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_VALIDATION', 'writing after end() is refused');
});

test('interactive: a large input goes through with backpressure', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const exec = getCylo().interactive({ language: 'bash', code: 'wc -c' });
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  for (let i = 0; i < 32; i++) exec.write(chunk); // 2 MiB: far more than a pipe holds
  exec.end();
  const result = await exec.result;
  assert.equal(result.status, 'ok', result.run?.stderr);
  assert.equal(result.run?.stdout.trim(), String(32 * 64 * 1024));
});

test('interactive: kill("SIGTERM") reaches the program (its trap runs)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const exec = getCylo().interactive({ language: 'bash', code: 'trap \'echo "trapped TERM"; exit 3\' TERM\necho ready\nwhile :; do sleep 0.05; done', limits: { timeoutMs: 15_000 } });
  const out = watchOutput(exec);
  await out.until('ready');
  assert.equal(exec.kill('SIGTERM'), true, 'the program was running');
  const result = await exec.result;
  assert.equal(result.status, 'runtime_error');
  assert.equal(result.run?.exitCode, 3, 'the exit code set by the trap');
  assert.equal(result.run?.stdout, 'ready\ntrapped TERM\n');
  assert.equal(exec.kill('SIGTERM'), false, 'false once the program has ended');
});

test('interactive: kill("SIGINT") reaches the program (Python sees KeyboardInterrupt)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const code = 'import sys, time\ntry:\n    print("ready", flush=True)\n    time.sleep(20)\nexcept KeyboardInterrupt:\n    print("interrupted", flush=True)\n    sys.exit(4)';
  const exec = getCylo().interactive({ language: 'python', code, limits: { timeoutMs: 15_000 } });
  const out = watchOutput(exec);
  await out.until('ready');
  assert.equal(exec.kill('SIGINT'), true);
  const result = await exec.result;
  assert.equal(result.run?.exitCode, 4);
  assert.equal(result.run?.stdout, 'ready\ninterrupted\n');
});

test('interactive: kill() with no signal is SIGKILL; the result reports it', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const exec = getCylo().interactive({ language: 'bash', code: 'echo ready; exec sleep 20', limits: { timeoutMs: 15_000 } });
  const out = watchOutput(exec);
  await out.until('ready');
  assert.equal(exec.kill(), true);
  const result = await exec.result;
  assert.equal(result.status, 'runtime_error');
  assert.equal(result.run?.signal, 'SIGKILL');
});

test('interactive: kill() before the program starts returns false without throwing', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const exec = getCylo().interactive({ language: 'bash', code: 'cat' });
  assert.equal(exec.kill('SIGTERM'), false);
  assert.equal(exec.kill(), false);
  exec.write('still fine\n');
  exec.end();
  const result = await exec.result;
  assert.equal(result.status, 'ok', 'the early kill did nothing to the execution');
  assert.equal(result.run?.stdout, 'still fine\n');
});

test('interactive: kill() with a signal that cannot be forwarded is CYLO_E_VALIDATION', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const exec = getCylo().interactive({ language: 'bash', code: 'cat' });
  for (const bad of ['SIGSEGV', 'KILL', '9', '']) {
    assert.throws(() => exec.kill(bad as 'SIGKILL'), (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_VALIDATION', bad);
  }
  exec.end();
  assert.equal((await exec.result).status, 'ok');
});

test('interactive: an AbortSignal cancels it: CYLO_E_CANCELLED and no process left', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const marker = uniqueMarker();
  const controller = new AbortController();
  const exec = getCylo().interactive({ language: 'bash', code: 'echo ready; cat; sleep 30', args: [marker], limits: { timeoutMs: 20_000 } }, { signal: controller.signal });
  const out = watchOutput(exec);
  await out.until('ready');
  assert.ok(processesWith(marker).length > 0, 'running before the abort');
  controller.abort();
  await assert.rejects(exec.result, isCancelled);
  await out.done; // the events end (with an error event) too
  assert.deepEqual(processesWith(marker), []);
  await waitFor('the worker to be free', () => getCylo().stats().running === 0);
  assert.deepEqual(await settledBusyCgroups(), []);
});

test('interactive: cancel() ends it with an error event and no process left', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const marker = uniqueMarker();
  const exec = getCylo().interactive({ language: 'bash', code: 'echo ready; sleep 30', args: [marker], limits: { timeoutMs: 20_000 } });
  const seen: string[] = [];
  let cancelledOnce = false;
  for await (const e of exec.events) {
    seen.push(e.type);
    if (e.type === 'stdout' && !cancelledOnce) {
      cancelledOnce = true;
      exec.cancel();
    }
    if (e.type === 'error') assert.equal(e.error.code, 'CYLO_E_CANCELLED');
  }
  assert.equal(seen.at(-1), 'error', seen.join(','));
  await assert.rejects(exec.result, isCancelled);
  assert.deepEqual(processesWith(marker), []);
});

test('interactive: an AbortSignal already aborted never starts the program', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const marker = uniqueMarker();
  const exec = getCylo().interactive({ language: 'bash', code: 'sleep 30', args: [marker] }, { signal: AbortSignal.abort() });
  await assert.rejects(exec.result, isCancelled);
  assert.deepEqual(processesWith(marker), []);
});
