// `cylo watch DIR` treats DIR as a project (issue 13): a run's workspace has the sibling files
// (main imports util), files keep their names (a traceback names solve.py, not main.py), the
// changed file is the entry point, NAME.in is NAME's stdin (and a change to it runs NAME again),
// a compile error is printed once, --initial runs the files present at start (and nothing runs at
// start without it), and a directory larger than one request may carry is refused with a message
// naming the bound — never silently cut short.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { watchCommand } from '../../src/cli/commands/watch.js';
import type { Cylo } from '../../src/cylo.js';
import { closeSharedCylos, getCylo, testCylo } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { waitFor } from '../support/wait.js';

const T = { timeout: 60_000 };
test.after(() => closeSharedCylos());

type WatchEvent = Record<string, unknown> & { event: string };

interface Session {
  dir: string;
  events: () => WatchEvent[];
  out: () => string;
  err: () => string;
  ends: (file: string) => WatchEvent[];
  write: (name: string, content: string) => void;
  stop: () => Promise<number>;
}

/** Starts watchCommand on a fresh directory holding `files`, with in-memory I/O; resolves once
 *  it is ready (after the --initial runs, when asked). */
async function startWatch(files: Record<string, string>, options: { json?: boolean; initial?: boolean; cylo?: Cylo } = {}): Promise<Session> {
  const dir = mkdtempSync(join(tmpdir(), 'cylo-watch-project-'));
  const write = (name: string, content: string): void => {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content);
  };
  for (const [name, content] of Object.entries(files)) write(name, content);
  let out = '';
  let err = '';
  const stdout = new PassThrough().on('data', (c: Buffer) => (out += c.toString('utf8')));
  const stderr = new PassThrough().on('data', (c: Buffer) => (err += c.toString('utf8')));
  const controller = new AbortController();
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const json = options.json ?? true;
  const done = watchCommand({ dir, json, initial: options.initial === true, debounceMs: 50, cylo: options.cylo ?? getCylo(), signal: controller.signal, onReady: ready }, { stdout, stderr, stdin: Readable.from([]) });
  await Promise.race([isReady, done.then(() => Promise.reject(new Error(`watch ended early: ${err}`)))]);
  const events = (): WatchEvent[] => (json ? out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as WatchEvent) : []);
  return {
    dir,
    events,
    out: () => out,
    err: () => err,
    ends: (file) => events().filter((e) => e.file === file && e.event === 'end'),
    write,
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

const textOf = (events: WatchEvent[], file: string, stream: string): string => events.filter((e) => e.file === file && e.event === stream).map((e) => String(e.data)).join('');

test('watch project: the entry imports its sibling, and a traceback names the files by their own names', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const s = await startWatch({ 'util.py': 'def shout(s):\n    return s.upper() + "!"\n\ndef fail():\n    raise ValueError("boom")\n' });
  try {
    s.write('solve.py', 'import util\nprint(util.shout("hi"))\nutil.fail()\n');
    const [end] = await waitFor('the run of solve.py', () => (s.ends('solve.py').length > 0 ? s.ends('solve.py') : undefined), 20_000);
    assert.equal(end?.status, 'runtime_error');
    // Without sibling files: ModuleNotFoundError and no output. Renamed to main.py: no "solve.py".
    assert.equal(textOf(s.events(), 'solve.py', 'stdout'), 'HI!\n');
    const stderr = textOf(s.events(), 'solve.py', 'stderr');
    assert.match(stderr, /File ".*\/solve\.py", line 3, in <module>/);
    assert.match(stderr, /File ".*\/util\.py", line 5, in fail/);
    assert.doesNotMatch(stderr, /main\.py|ModuleNotFoundError/);
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('watch project: NAME.in is the stdin of NAME.py, and changing it runs NAME.py again with the new input', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const s = await startWatch({ 'rev.in': 'abc\n' });
  try {
    s.write('rev.py', 'print(input()[::-1])\n');
    await waitFor('the first run', () => (s.ends('rev.py').length === 1 ? true : undefined), 20_000);
    assert.equal(textOf(s.events(), 'rev.py', 'stdout'), 'cba\n');
    await sleep(100);
    s.write('rev.in', 'xyz\n');
    await waitFor('the run after the input changed', () => (s.ends('rev.py').length === 2 ? true : undefined), 20_000);
    assert.equal(textOf(s.events(), 'rev.py', 'stdout'), 'cba\nzyx\n');
    assert.equal(s.events().filter((e) => e.file === 'rev.in').length, 0, 'an input file is never run itself');
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('watch project: a compile error\'s diagnostics are printed once', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const s = await startWatch({}, { json: false });
  try {
    s.write('broken.c', 'int main(void) { return undefined_thing_xyz; }\n');
    await waitFor('the summary line', () => (/── compile_error /.test(s.err()) ? true : undefined), 60_000);
    const mentions = s.err().split('\n').filter((l) => /broken\.c:1:\d+: error: .*undefined_thing_xyz/.test(l));
    assert.equal(mentions.length, 1, `the error line once, got:\n${s.err()}`);
    assert.equal(s.out(), '', 'diagnostics go to stderr');
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('watch project: --initial runs every source file present at start, once; without it nothing runs until a change', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const files = { 'a.py': 'print("a")\n', 'b.py': 'import a\nprint("b")\n', 'notes.txt': 'not a program\n' };
  const initial = await startWatch(files, { initial: true });
  try {
    // onReady comes after the initial runs: both ran, in path order, and nothing else
    assert.deepEqual(initial.events().filter((e) => e.event === 'start').map((e) => e.file), ['a.py', 'b.py']);
    assert.equal(textOf(initial.events(), 'b.py', 'stdout'), 'a\nb\n', 'b.py imports its sibling a.py');
  } finally {
    assert.equal(await initial.stop(), 0);
  }
  const plain = await startWatch(files);
  try {
    await sleep(500);
    assert.deepEqual(plain.events().filter((e) => e.event === 'start'), [], 'no run without --initial or a change');
  } finally {
    assert.equal(await plain.stop(), 0);
  }
});

test('watch project: a directory with more files than a request may carry is refused naming the bound', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const cylo = testCylo({ requestBounds: { maxFiles: 3 } }, 300);
  const s = await startWatch({ 'd1.txt': '1', 'd2.txt': '2', 'd3.txt': '3' }, { cylo });
  try {
    s.write('main.py', 'print("never")\n');
    const error = await waitFor('the error event', () => s.events().find((e) => e.event === 'error'), 20_000);
    assert.equal(error.file, 'main.py');
    assert.equal(error.code, 'CYLO_E_VALIDATION');
    assert.match(String(error.message), /the project has more files than the 3 one run may carry \(requestBounds\.maxFiles\); .*raise requestBounds\.maxFiles in the config file/);
    assert.equal(s.events().filter((e) => e.event === 'start').length, 0, 'nothing ran with part of the project');
  } finally {
    assert.equal(await s.stop(), 0);
    await cylo.close({ graceMs: 0 });
  }
});

test('watch project: symbolic links are never followed: a linked file is left out, a linked entry is refused', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const outside = mkdtempSync(join(tmpdir(), 'cylo-watch-outside-'));
  writeFileSync(join(outside, 'secret.txt'), 'host secret\n');
  writeFileSync(join(outside, 'linked.py'), 'print("ran through a link")\n');
  const s = await startWatch({ 'plain.txt': 'plain\n' });
  try {
    symlinkSync(join(outside, 'secret.txt'), join(s.dir, 'secret.txt'));
    s.write('ls.py', 'import os\nprint(sorted(n for n in os.listdir(".") if not n.startswith(".")))\n'); // .tmp: the sandbox's own
    await waitFor('the run of ls.py', () => (s.ends('ls.py').length > 0 ? true : undefined), 20_000);
    // Followed, the link would put "secret.txt" (with the host file's content) in the workspace.
    assert.equal(textOf(s.events(), 'ls.py', 'stdout'), "['ls.py', 'plain.txt']\n");
    symlinkSync(join(outside, 'linked.py'), join(s.dir, 'linked.py'));
    const error = await waitFor('the refusal of linked.py', () => s.events().find((e) => e.event === 'error' && e.file === 'linked.py'), 20_000);
    assert.match(String(error.message), /linked\.py: is a symbolic link or not a regular file; cylo watch runs regular files only and never follows links/);
    assert.equal(textOf(s.events(), 'linked.py', 'stdout'), '');
  } finally {
    assert.equal(await s.stop(), 0);
    rmSync(outside, { recursive: true, force: true });
  }
});
