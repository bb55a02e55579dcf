// `cylo exec` as a real process (node bin/cylo exec ...): the program's output live, as it is
// produced; its exit code (124 timeout, 137 memory/output limit, 125 when cylo itself fails,
// with a one-line message); --json, --file, --stdin, --stdin-file, --arg, code on stdin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { LIVE_PROGRAM, releaseLiveProgram } from '../support/live.js';
import { uniqueMarker } from '../support/processes.js';

const T = { timeout: 30_000 };

interface Exec {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The stdout chunks, as they arrived. */
  chunks: string[];
}

/** Runs `node bin/cylo exec ...args` with its own sandbox uid range; `onStdout` sees each stdout
 *  chunk as it arrives. */
function cyloExec(args: string[], input?: string, onStdout?: (text: string) => void): Promise<Exec> {
  const child = spawn(process.execPath, ['bin/cylo', 'exec', ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CYLO_UID_BASE: String(TEST_UID_BASE + TEST_UID_COUNT + 112), CYLO_UID_COUNT: '8' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const chunks: Exec['chunks'] = [];
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (text: string) => {
    chunks.push(text);
    onStdout?.(text);
  });
  child.stderr.on('data', (text: string) => (stderr += text));
  child.stdin.end(input ?? '');
  return new Promise((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal, stdout: chunks.join(''), stderr, chunks }));
  });
}

test('cylo exec: output is printed live, as the program produces it', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // LIVE_PROGRAM prints "first", then waits for the test's signal, sent only once "first" came
  // out of `cylo exec`: held-back output would leave it waiting until its 10 s limit (exit 124).
  const marker = uniqueMarker();
  let released = false;
  const r = await cyloExec(['--lang', 'python', '--timeout', '10s', '--arg', marker, LIVE_PROGRAM], undefined, (text) => {
    if (!released && text.includes('first')) {
      released = true;
      releaseLiveProgram(marker);
    }
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'first\nsecond\n');
  assert.equal(r.stderr, 'released\n', 'the program was released by the test, after its first line arrived');
  const first = r.chunks.find((c) => c.includes('first'));
  assert.ok(first !== undefined);
  assert.ok(!first.includes('second'), 'the first line came on its own, before the program was released');
});

test('cylo exec: the exit code is the program\'s own; its stderr is passed through', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const r = await cyloExec(['--lang', 'bash', 'echo out; echo err >&2; exit 3']);
  assert.equal(r.code, 3);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n', 'no cylo message for an ordinary non-zero exit');
  const segv = await cyloExec(['--lang', 'bash', 'kill -SEGV $$']);
  assert.equal(segv.code, 128 + 11, 'a program killed by a signal exits 128 + the signal, like a shell');
});

test('cylo exec: a timeout exits 124 with a one-line message', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const r = await cyloExec(['--lang', 'bash', '--timeout', '300ms', 'echo before; sleep 10']);
  assert.equal(r.code, 124);
  assert.equal(r.stdout, 'before\n');
  assert.match(r.stderr, /^cylo: timeout: wall-clock time limit of 300ms exceeded[^\n]*\(limit: wall; --timeout sets it\)\n$/);
});

test('cylo exec: the memory limit exits 137 (as a SIGKILLed process); so does the output limit', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const mem = await cyloExec(['--lang', 'python', '--memory', '32M', 'data = b"x" * (96 << 20)\nprint(len(data))']);
  assert.equal(mem.code, 137, mem.stderr);
  // In the flag's unit and naming the flag (the library's message says 33554432 bytes).
  assert.match(mem.stderr, /^cylo: memory_limit: memory limit of 32M exceeded[^\n]*\(limit: memory; --memory sets it\)\n$/);
  const out = await cyloExec(['--lang', 'bash', '--output-limit', '4K', 'yes']);
  assert.equal(out.code, 137, out.stderr);
  assert.ok(Buffer.byteLength(out.stdout) <= 4096, `${Buffer.byteLength(out.stdout)} bytes printed under a 4 KiB limit`);
  assert.match(out.stderr, /^cylo: output_limit: [^\n]*\n$/);
});

test('cylo exec: an unknown language exits 125 with a one-line message', T, async () => {
  const r = await cyloExec(['--lang', 'cobol-1959', 'DISPLAY "HI"']);
  assert.equal(r.code, 125);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.split('\n').length, 2, `one line: ${JSON.stringify(r.stderr)}`);
  assert.match(r.stderr, /^cylo: .*cobol-1959/);
});

test('cylo exec: usage mistakes exit 125 too', T, async () => {
  const noLang = await cyloExec(['print(1)']);
  assert.equal(noLang.code, 125);
  assert.match(noLang.stderr, /^cylo: --lang: which language\?/);
  const badTimeout = await cyloExec(['--lang', 'bash', '--timeout', 'soon', 'true']);
  assert.equal(badTimeout.code, 125);
});

test('cylo exec --json prints the result object (and still exits with the program\'s code)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const r = await cyloExec(['--json', '--lang', 'bash', 'echo hi; exit 4']);
  assert.equal(r.code, 4);
  const result = JSON.parse(r.stdout) as { status: string; language: string; run: { stdout: string; exitCode: number }; layers: string[] };
  assert.equal(result.status, 'runtime_error');
  assert.equal(result.language, 'bash');
  assert.equal(result.run.stdout, 'hi\n');
  assert.equal(result.run.exitCode, 4);
  assert.ok(Array.isArray(result.layers));
  assert.equal(r.stderr, '');
  const timeout = await cyloExec(['--json', '--lang', 'bash', '--timeout', '200ms', 'sleep 5']);
  assert.equal(timeout.code, 124);
  assert.equal((JSON.parse(timeout.stdout) as { status: string }).status, 'timeout');
});

test('cylo exec --file (language from the extension, several files), --stdin, --stdin-file, --arg, code on stdin', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'cylo-exec-'));
  try {
    writeFileSync(join(dir, 'main.py'), 'import sys, helper\nprint(helper.greet(sys.argv[1:]), sys.stdin.read().strip())\n');
    writeFileSync(join(dir, 'helper.py'), 'def greet(args):\n    return "hello " + "+".join(args)\n');
    writeFileSync(join(dir, 'input.txt'), 'from a file\n');
    const r = await cyloExec(['--file', join(dir, 'main.py'), '--file', join(dir, 'helper.py'), '--arg', 'a b', '--arg', '-x', '--stdin', 'typed input']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello a b+-x typed input\n');
    const f = await cyloExec(['--file', join(dir, 'main.py'), '--file', join(dir, 'helper.py'), '--stdin-file', join(dir, 'input.txt')]);
    assert.equal(f.stdout, 'hello  from a file\n');
    const both = await cyloExec(['--file', join(dir, 'main.py'), '--stdin', 'x', '--stdin-file', join(dir, 'input.txt')]);
    assert.equal(both.code, 125);
    const missing = await cyloExec(['--file', join(dir, 'nope.py')]);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /^cylo: --file: cannot read .*nope\.py \(ENOENT\)\n$/);
    const unknownExt = await cyloExec(['--file', join(dir, 'input.txt')]);
    assert.equal(unknownExt.code, 125);
    assert.match(unknownExt.stderr, /cannot tell the language/);
    // no code argument: the program text is read from stdin
    const piped = await cyloExec(['--lang', 'bash'], 'echo "from stdin: $#"\n');
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stdout, 'from stdin: 0\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cylo exec: a bad CYLO_UID_BASE is a configuration error (125)', T, async () => {
  const child = spawn(process.execPath, ['bin/cylo', 'exec', '--lang', 'bash', 'true'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CYLO_UID_BASE: 'lots' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  assert.equal(code, 125);
  assert.match(stderr, /CYLO_UID_BASE: expected a whole number/);
});
