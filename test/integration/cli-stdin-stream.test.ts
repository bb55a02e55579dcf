// `producer | cylo exec prog.py` streams (issue 13): cylo's piped stdin reaches the program while
// it runs, not read to its end first; cylo's memory stays bounded (a producer faster than the
// program waits, as for any pipe reader); the request's stdin maximum still holds. All through
// the real bin/cylo, with real sandboxes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { waitFor } from '../support/wait.js';

const T = { timeout: 90_000 };
const BIN = resolve('bin/cylo');
const dir = mkdtempSync(join(tmpdir(), 'cylo-stream-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', CYLO_UID_BASE: String(TEST_UID_BASE + TEST_UID_COUNT + 136), CYLO_UID_COUNT: '8' };

function write(name: string, content: string): string {
  writeFileSync(join(dir, name), content);
  return name;
}

/** `node bin/cylo exec ...args` in the test's folder; its stdout and stderr collected as they come. */
function startCylo(args: string[], stdin: 'pipe' | NodeJS.ReadableStream = 'pipe'): { child: ChildProcess; out: () => string; err: () => string; closed: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, 'exec', ...args], { cwd: dir, env: ENV, stdio: [stdin as 'pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  child.stdin?.on('error', () => undefined);
  const closed = new Promise<number | null>((done) => child.once('close', done));
  return { child, out: () => stdout, err: () => stderr, closed };
}

test('piped stdin streams: the program answers the first line before the second one is even written', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // The producer (this test) writes "b" only after the program printed its answer to "a": were
  // cylo's stdin read to its end before the program starts (the old behaviour), the answer to
  // "a" could never come while the pipe is open, and the wait below would time out.
  write('echo_lines.py', 'import sys\nfor line in sys.stdin:\n    print("got", line.strip(), flush=True)\nprint("eof", flush=True)\n');
  const c = startCylo(['echo_lines.py']);
  try {
    c.child.stdin?.write('a\n');
    await waitFor('the answer to the first line, with stdin still open', () => c.out().includes('got a\n'), 60_000);
    c.child.stdin?.write('b\n');
    await waitFor('the answer to the second line', () => c.out().includes('got b\n'), 60_000);
    c.child.stdin?.end(); // EOF reaches the program: its loop ends
    assert.equal(await c.closed, 0, c.err());
  } finally {
    if (c.child.exitCode === null) c.child.kill('SIGKILL');
  }
  assert.equal(c.out(), 'got a\ngot b\neof\n');
});

/** The bytes a process has written so far (wchar of /proc/PID/io); undefined once it has gone. */
function writerState(pid: number): { wchar: number } | undefined {
  try {
    return { wchar: Number(/^wchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]) };
  } catch {
    return undefined;
  }
}

test('bounded memory: a producer faster than the program waits (backpressure) instead of filling cylo', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // head offers 256 MiB, within a raised stdin maximum (1G), to a program that never reads. With
  // backpressure cylo stops reading once its small buffer and the pipes are full, so head stays
  // blocked in write(2) having written a few hundred KiB; were cylo to read without waiting,
  // head would write all 256 MiB into cylo's memory and exit (the waits below then fail).
  write('big.json', JSON.stringify({ requestBounds: { maxStdinBytes: '1G' } }));
  write('hold.sh', 'echo ready\nexec sleep 3600\n');
  const head = spawn('head', ['-c', String(256 * 1024 * 1024), '/dev/zero'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const c = startCylo(['--config', 'big.json', '--timeout', '60s', 'hold.sh'], head.stdout);
  try {
    await waitFor('the program to run', () => c.out().includes('ready'), 60_000);
    // Stalled: ten samples in a row (waitFor polls every 20 ms) show the same byte count written,
    // head still alive. (Not a speed claim: it only tells "blocked" from "still writing".)
    let last = -1;
    let same = 0;
    const stalled = await waitFor('head to stall in write(2), still alive', () => {
      const s = writerState(head.pid as number);
      if (s === undefined || head.exitCode !== null) return { gone: true, wchar: last };
      same = s.wchar === last ? same + 1 : 0;
      last = s.wchar;
      return same >= 10 ? { gone: false, wchar: s.wchar } : undefined;
    }, 60_000);
    assert.equal(stalled.gone, false, 'head wrote everything: cylo read its stdin without waiting for the program');
    assert.ok(stalled.wchar < 16 * 1024 * 1024, `head wrote ${stalled.wchar} bytes before blocking: cylo buffered far more than its bound`);
    const rss = Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${c.child.pid as number}/status`, 'utf8'))?.[1]) * 1024;
    assert.ok(rss < 200 * 1024 * 1024, `cylo's peak RSS ${rss} bytes: the piped input piled up in memory`);
    c.child.kill('SIGTERM'); // ends the run and cleans up (cli-signals.test.ts proves what is left)
    assert.equal(await c.closed, 143, c.err());
  } finally {
    if (c.child.exitCode === null) c.child.kill('SIGKILL');
    head.kill('SIGKILL');
  }
});

test('the stdin maximum still holds while streaming: past it the run is stopped, exit 125 naming stdin (also as --json)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // sink.sh reads everything; only cylo's count stops it. Were the bound not enforced on the
  // stream, `yes` would run forever and the program with it (the test's own timeout fails it).
  write('small.json', JSON.stringify({ requestBounds: { maxStdinBytes: '1M' } }));
  write('sink.sh', 'cat > /dev/null\necho finished\n');
  for (const json of [false, true]) {
    const yes = spawn('yes', [], { stdio: ['ignore', 'pipe', 'ignore'] });
    const c = startCylo(['--config', 'small.json', ...(json ? ['--json'] : []), 'sink.sh'], yes.stdout);
    try {
      assert.equal(await c.closed, 125, c.err());
    } finally {
      yes.kill('SIGKILL');
    }
    assert.ok(!c.out().includes('finished'), 'the program did not run to its end');
    if (json) {
      const error = (JSON.parse(c.out()) as { error: { code: string; field: string; message: string } }).error;
      assert.equal(error.code, 'CYLO_E_USAGE');
      assert.equal(error.field, 'stdin');
      assert.match(error.message, /^stdin: more than 1M piped/);
    } else assert.match(c.err(), /^cylo: stdin: more than 1M piped; .*requestBounds\.maxStdinBytes/);
  }
});
