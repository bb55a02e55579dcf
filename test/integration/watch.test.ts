// `cylo watch DIR`: watchCommand with an AbortSignal and in-memory I/O, and once the real
// `bin/cylo watch DIR` stopped with SIGINT. It runs files written after it started, re-runs them
// on change, cancels a superseded run, ignores dot-files, dot-directories and editor temp files,
// prints NDJSON with --json, and stops cleanly with nothing left running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { watchCommand } from '../../src/cli/commands/watch.js';
import type { CommandIO } from '../../src/util/io.js';
import { openCgroups } from '../../src/sandbox/cgroups.js';
import { closeSharedCylos, getCylo, TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { processesWith, uniqueMarker } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const T = { timeout: 40_000 };

// The shared instance keeps idle workers (and sandboxes started ahead) between tests: close it
// at the end so that this test process can exit.
test.after(() => closeSharedCylos());

type WatchEvent = Record<string, unknown> & { event: string; time: string };

/** In-memory I/O for watchCommand: stdout (NDJSON in --json mode) and stderr as text. */
function memoryIO(): { io: CommandIO; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  return { io: { stdout, stderr, stdin: Readable.from([]) }, out: () => out, err: () => err };
}

/** Every line must be a JSON object with an `event` and an ISO `time`. */
function parseNdjson(text: string): WatchEvent[] {
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'NDJSON ends with a newline');
  return lines.map((line) => {
    const e = JSON.parse(line) as WatchEvent;
    assert.equal(typeof e.event, 'string', line);
    assert.ok(!Number.isNaN(Date.parse(e.time)), `time in ${line}`);
    return e;
  });
}

interface Session {
  dir: string;
  events: () => WatchEvent[];
  out: () => string;
  err: () => string;
  waitEvent: (what: string, predicate: (e: WatchEvent) => boolean, timeoutMs?: number) => Promise<WatchEvent>;
  write: (name: string, content: string) => void;
  stop: () => Promise<number>;
}

/** Starts watchCommand on a fresh temporary directory and waits until it is ready. */
async function startWatch(options: { json?: boolean; debounceMs?: number } = {}): Promise<Session> {
  const dir = mkdtempSync(join(tmpdir(), 'cylo-watch-'));
  const { io, out, err } = memoryIO();
  const controller = new AbortController();
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const done = watchCommand({ dir, json: options.json ?? true, debounceMs: options.debounceMs ?? 50, cylo: getCylo(), signal: controller.signal, onReady: ready }, io);
  await Promise.race([isReady, done.then(() => Promise.reject(new Error(`watch ended early: ${err()}`)))]);
  const events = (): WatchEvent[] => (options.json === false ? [] : parseNdjson(out()));
  return {
    dir,
    events,
    out,
    err,
    waitEvent: async (what, predicate, timeoutMs = 10_000) => waitFor(what, () => events().find(predicate), timeoutMs),
    write: (name, content) => {
      const path = join(dir, name);
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, content);
    },
    stop: async () => {
      controller.abort();
      try {
        return await done;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

const of = (file: string, event: string) => (e: WatchEvent): boolean => e.file === file && e.event === event;
const outputOf = (events: WatchEvent[], file: string): string => events.filter((e) => e.file === file && e.event === 'stdout').map((e) => String(e.data)).join('');

test('watch: runs a file written after it started, then re-runs it on change (NDJSON events)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const s = await startWatch();
  try {
    assert.equal(s.events()[0]?.event, 'ready');
    s.write('hello.py', 'print("hello v1")\n');
    const end1 = await s.waitEvent('the first run to end', of('hello.py', 'end'));
    assert.equal(end1.status, 'ok');
    assert.equal(end1.exitCode, 0);
    assert.equal(typeof end1.wallMs, 'number');
    assert.ok((end1.memoryBytes as number) > 0);
    const start1 = s.events().find(of('hello.py', 'start'));
    assert.deepEqual({ file: start1?.file, language: start1?.language }, { file: 'hello.py', language: 'python' });
    assert.equal(outputOf(s.events(), 'hello.py'), 'hello v1\n');
    const seq = s.events().map((e) => e.event);
    assert.ok(seq.indexOf('start') < seq.indexOf('stdout') && seq.indexOf('stdout') < seq.indexOf('end'), seq.join(' '));
    // a change runs it again, with the new content
    await sleep(100);
    s.write('hello.py', 'print("hello v2")\nraise SystemExit(5)\n');
    await waitFor('the second run to end', () => (s.events().filter(of('hello.py', 'end')).length === 2 ? true : undefined), 10_000);
    const end2 = s.events().filter(of('hello.py', 'end'))[1];
    assert.equal(end2?.status, 'runtime_error');
    assert.equal(end2?.exitCode, 5);
    assert.equal(outputOf(s.events(), 'hello.py'), 'hello v1\nhello v2\n');
    // a file in a (non-dot) subdirectory, another language by extension
    s.write(join('sub', 'deep', 'run.sh'), 'echo from bash\n');
    const end3 = await s.waitEvent('the nested file to run', of(join('sub', 'deep', 'run.sh'), 'end'));
    assert.equal(end3.status, 'ok');
    assert.equal(s.events().find(of(join('sub', 'deep', 'run.sh'), 'start'))?.language, 'bash');
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('watch: a burst of writes is debounced into one run of the last content', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const s = await startWatch({ debounceMs: 300 });
  try {
    for (let i = 1; i <= 5; i++) {
      s.write('burst.py', `print("version ${i}")\n`);
      await sleep(20);
    }
    await s.waitEvent('the run to end', of('burst.py', 'end'));
    await sleep(500); // nothing else follows
    assert.equal(s.events().filter(of('burst.py', 'start')).length, 1);
    assert.equal(outputOf(s.events(), 'burst.py'), 'version 5\n');
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('watch: a newer change cancels the superseded run (a `cancelled` event, its process gone)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const marker = uniqueMarker();
  const s = await startWatch();
  try {
    s.write('long.sh', `echo v1\nexec -a ${marker} sleep 30\n`);
    await s.waitEvent('v1 to print', (e) => e.file === 'long.sh' && e.event === 'stdout' && String(e.data).includes('v1'));
    await waitFor('the long sleep to run', () => processesWith(marker).length > 0);
    s.write('long.sh', 'echo v2\n');
    const cancelled = await s.waitEvent('the superseded run to be cancelled', of('long.sh', 'cancelled'));
    assert.ok(cancelled !== undefined);
    const end = await s.waitEvent('v2 to end', of('long.sh', 'end'));
    assert.equal(end.status, 'ok');
    assert.deepEqual(processesWith(marker), [], 'the superseded program is gone');
    const seq = s.events().filter((e) => e.file === 'long.sh').map((e) => e.event);
    assert.deepEqual(seq, ['start', 'stdout', 'cancelled', 'start', 'stdout', 'end']);
    assert.equal(outputOf(s.events(), 'long.sh'), 'v1\nv2\n');
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('watch: changes that come while a superseded run is being cancelled never run the file twice at once', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const s = await startWatch({ debounceMs: 10 });
  try {
    s.write('many.sh', 'echo v0; sleep 30\n');
    await s.waitEvent('v0 to print', (e) => e.file === 'many.sh' && e.event === 'stdout');
    for (let i = 1; i <= 6; i++) {
      s.write('many.sh', `echo v${i}; sleep 0.3\n`);
      await sleep(25);
    }
    await waitFor('the last version to end', () => (outputOf(s.events(), 'many.sh').includes('v6') && s.events().some((e) => e.file === 'many.sh' && e.event === 'end') ? true : undefined), 15_000).catch((error: Error) => {
      throw new Error(`${error.message}; events: ${s.events().filter((x) => x.file === 'many.sh').map((e) => `${e.event}${e.data === undefined ? '' : `(${String(e.data).trim()})`}`).join(' ')}`);
    });
    await sleep(600); // let anything still pending show up
    let active = 0;
    let peak = 0;
    for (const e of s.events().filter((x) => x.file === 'many.sh')) {
      if (e.event === 'start') active += 1;
      if (e.event === 'end' || e.event === 'cancelled' || e.event === 'error') active -= 1;
      peak = Math.max(peak, active);
    }
    assert.equal(peak, 1, `one run of a file at a time: ${s.events().filter((x) => x.file === 'many.sh').map((e) => e.event).join(' ')}`);
    assert.equal(active, 0);
    assert.ok(outputOf(s.events(), 'many.sh').endsWith('v6\n'), 'the newest version ran last');
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('watch: dot-files, dot-directories and editor temp files are not run', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const s = await startWatch();
  try {
    const ignored = ['.#x.py', 'x.py~', '.x.swp', '4913', '.hidden.py', join('.git', 'hook.py'), join('.venv', 'lib', 'site.py'), join('node_modules', 'm', 'index.js'), 'x.py.tmp', 'notes.txt'];
    for (const name of ignored) s.write(name, 'print("must not run")\n');
    await sleep(200);
    s.write('real.py', 'print("real")\n');
    await s.waitEvent('the real file to run', of('real.py', 'end'));
    await sleep(300);
    const started = s.events().filter((e) => e.event === 'start').map((e) => e.file);
    assert.deepEqual(started, ['real.py']);
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('watch: NDJSON output keeps multi-byte characters whole across chunks', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const s = await startWatch();
  try {
    // "é" written one byte at a time, with a pause between the two bytes
    s.write('utf.sh', "printf '\\xc3'; sleep 0.2; printf '\\xa9\\n'\n");
    await s.waitEvent('the run to end', of('utf.sh', 'end'));
    assert.equal(outputOf(s.events(), 'utf.sh'), 'é\n');
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('watch: human output has a header, the live output and a one-line summary', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const s = await startWatch({ json: false });
  try {
    s.write('human.py', 'print("hi there")\n');
    await waitFor('the summary', () => (/── ok · exit 0 · [\d.]+ ms · [\d.]+ (KiB|MiB) ──/.test(s.err()) ? true : undefined), 10_000);
    // headers and summaries on stderr, the program's output on stdout
    const text = s.err();
    assert.match(text, /cylo watch: watching /);
    assert.match(text, /── human\.py \(python\) \S+/);
    assert.ok(text.indexOf('── human.py') < text.indexOf('── ok'), text);
    assert.equal(s.out(), 'hi there\n');
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('watch: stopping cancels a running program; watchCommand returns 0 only when nothing is left', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const marker = uniqueMarker();
  const s = await startWatch();
  s.write('forever.sh', `echo started\nexec -a ${marker} sleep 30\n`);
  await s.waitEvent('the program to start', (e) => e.file === 'forever.sh' && e.event === 'stdout');
  await waitFor('the sleep to run', () => processesWith(marker).length > 0);
  const events = s.events;
  assert.equal(await s.stop(), 0);
  // No waiting here: by the time watchCommand returned, everything was already gone.
  assert.deepEqual(processesWith(marker), []);
  const seq = events().map((e) => e.event);
  assert.ok(seq.includes('cancelled'), seq.join(' '));
  assert.equal(seq.at(-1), 'stopped', seq.join(' '));
  // (the worker counts as busy until its slot is reset, just after the run ended)
  await waitFor('the worker to be free', () => getCylo().stats().running === 0);
});

test('watch: the real `bin/cylo watch DIR --json` runs files and exits 0 on SIGINT with nothing left', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'cylo-watch-cli-'));
  const marker = uniqueMarker();
  const child = spawn(process.execPath, ['bin/cylo', 'watch', dir, '--json', '--debounce', '50ms'], {
    // its own uid range (this process's shared instance uses the first TEST_UID_COUNT uids)
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CYLO_UID_BASE: String(TEST_UID_BASE + TEST_UID_COUNT + 96), CYLO_UID_COUNT: '16' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const events = (): WatchEvent[] => parseNdjson(out.slice(0, out.lastIndexOf('\n') + 1));
  try {
    await waitFor(`the ready event (stderr: ${err})`, () => events().find((e) => e.event === 'ready'), 10_000);
    writeFileSync(join(dir, 'cli.py'), 'print("from the cli")\n');
    await waitFor('the run to end', () => events().find(of('cli.py', 'end')), 10_000);
    assert.equal(outputOf(events(), 'cli.py'), 'from the cli\n');
    writeFileSync(join(dir, 'sleepy.sh'), `echo sleeping\nexec -a ${marker} sleep 30\n`);
    await waitFor('the long program to run', () => processesWith(marker).length > 0, 10_000);
    child.kill('SIGINT');
    const { code, signal } = await exited;
    assert.equal(signal, null, err);
    assert.equal(code, 0, err);
    assert.deepEqual(processesWith(marker), [], 'nothing left running');
    const seq = events().map((e) => e.event);
    assert.ok(seq.includes('cancelled'), seq.join(' '));
    assert.equal(seq.at(-1), 'stopped');
    assert.deepEqual(openCgroups().list().filter((n) => n.startsWith(`x-${child.pid}-`)), [], 'its cgroups are removed');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('watch: a path that is not a directory is a usage error', T, async () => {
  const { io } = memoryIO();
  await assert.rejects(watchCommand({ dir: '/nonexistent/cylo-watch', cylo: getCylo(), signal: AbortSignal.abort() }, io), (e: unknown) => (e as { code?: string }).code === 'CYLO_E_USAGE');
});
