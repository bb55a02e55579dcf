// `cylo exec` follows Unix conventions (issue 13), proven through the real bin/cylo: a bare
// duration is seconds (timeout(1)); a bare size is refused with a hint; limit messages name the
// flag and its unit; `cylo exec FILE ARGS...`, `--`, `-` (code from stdin), -c CODE; piped stdin
// reaches a program given as a file; a signal death prints the shell's line; compiler warnings go
// to stderr on success; --json errors are a JSON error object with the stable code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';

const T = { timeout: 60_000 };
const BIN = resolve('bin/cylo');
const dir = mkdtempSync(join(tmpdir(), 'cylo-unix-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

interface Exec {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/cylo exec ...args` in the test's folder, with `input` on its stdin (closed after),
 *  and its own sandbox uid range (beside cli-exec.test.ts's). */
function cyloExec(args: string[], input = ''): Promise<Exec> {
  const child = spawn(process.execPath, [BIN, 'exec', ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CYLO_UID_BASE: String(TEST_UID_BASE + TEST_UID_COUNT + 120), CYLO_UID_COUNT: '8' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  child.stdin.on('error', () => undefined); // EPIPE when cylo refuses before reading all of it
  child.stdin.end(input);
  return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}

function write(name: string, content: string): string {
  writeFileSync(join(dir, name), content);
  return name;
}

test('--timeout: a bare number is seconds, as timeout(1): 1 times out a 3 s sleep (124), 5 lets a 0.1 s sleep finish', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // Were a bare number milliseconds, `--timeout 5` would kill the 0.1 s sleep (124, not 0).
  const ok = await cyloExec(['--timeout', '5', '--lang', 'bash', '-c', 'sleep 0.1; echo done']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'done\n');
  const late = await cyloExec(['--timeout', '1', '--lang', 'bash', '-c', 'sleep 3; echo done']);
  assert.equal(late.code, 124, late.stderr);
  assert.equal(late.stdout, '');
});

test('--memory 128 is refused with a hint (125), and a bad limit\'s message names the flag and its unit', T, async () => {
  // No sandbox needed: both are refused before anything runs.
  const bare = await cyloExec(['--memory', '128', '--lang', 'python', '-c', 'print(1)']);
  assert.equal(bare.code, 125);
  assert.equal(bare.stdout, '');
  assert.match(bare.stderr, /^cylo: --memory: 128 has no unit; did you mean 128M\?/);
  // The library says `limits.memoryBytes: 1048576 is below the minimum of 4194304`; the CLI says it in the flag's terms.
  const small = await cyloExec(['--memory', '1M', '--lang', 'python', '-c', 'print(1)']);
  assert.equal(small.code, 125);
  assert.equal(small.stderr, 'cylo: --memory: 1M is below the minimum of 4M\n');
  const long = await cyloExec(['--timeout', '2h', '--lang', 'python', '-c', 'print(1)']);
  assert.equal(long.code, 125);
  assert.equal(long.stderr, 'cylo: --timeout: 2h is above the maximum of 1m (the default; raise it with maxLimits.timeoutMs in a config file, see docs/configuration.md)\n');
});

test('cylo exec FILE ARGS...: the file is the program (language from its extension), the rest are its arguments; -- passes options through', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  write('main.py', 'import sys\nprint(sys.argv[1:])\n');
  const r = await cyloExec(['main.py', 'a', 'b']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "['a', 'b']\n");
  const dashed = await cyloExec(['main.py', '--', '--flag', '-x']);
  assert.equal(dashed.code, 0, dashed.stderr);
  assert.equal(dashed.stdout, "['--flag', '-x']\n");
  // --lang python with an existing file runs the file, not the text "main.py"
  const withLang = await cyloExec(['--lang', 'python', 'main.py', 'z']);
  assert.equal(withLang.stdout, "['z']\n", withLang.stderr);
  // a file-like name that does not exist is a usage error, not a program text
  const missing = await cyloExec(['nope.py']);
  assert.equal(missing.code, 125);
  assert.match(missing.stderr, /^cylo: nope\.py: no such file \(for inline code use -c CODE\)\n$/);
});

test('-c CODE ARGS, - reads the code from stdin, and piped stdin reaches a program given as a file', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  const inline = await cyloExec(['--lang', 'python', '-c', 'import sys; print(sys.argv[1:])', 'one']);
  assert.equal(inline.stdout, "['one']\n", inline.stderr);
  const fromStdin = await cyloExec(['--lang', 'bash', '-', 'x', 'y'], 'echo "code from stdin: $*"\n');
  assert.equal(fromStdin.code, 0, fromStdin.stderr);
  assert.equal(fromStdin.stdout, 'code from stdin: x y\n');
  // echo hello | cylo exec rev.py: cylo's stdin is the program's
  write('rev.py', 'import sys\nprint(sys.stdin.read().strip()[::-1])\n');
  const piped = await cyloExec(['rev.py'], 'hello\n');
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stdout, 'olleh\n');
  // more than the request's stdin maximum (64M) is refused, not passed on without end (the
  // program reads everything; only cylo's count stops it)
  write('sink.sh', 'cat > /dev/null\n');
  const flood = await cyloExec(['sink.sh'], 'x'.repeat(64 * 1024 * 1024 + 1));
  assert.equal(flood.code, 125);
  assert.match(flood.stderr, /^cylo: stdin: more than 64M piped/);
});

test('a C program\'s segfault prints "Segmentation fault" on stderr (exit 139); a compiler warning goes to stderr on success', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  write('segv.c', '#include <stdio.h>\nint main(void) { volatile int *p = 0; puts("before"); fflush(stdout); return *p; }\n');
  const segv = await cyloExec(['segv.c']);
  assert.equal(segv.code, 139, segv.stderr);
  assert.equal(segv.stdout, 'before\n');
  assert.equal(segv.stderr, 'Segmentation fault\n');
  // a unique warning, so the compile is not a cache hit from an earlier run
  const marker = `careful ${process.pid}-${Date.now()}`;
  write('warn.c', `#warning "${marker}"\n#include <stdio.h>\nint main(void) { puts("ran"); return 0; }\n`);
  for (const attempt of ['compiled', 'cached']) {
    const warn = await cyloExec(['warn.c']);
    assert.equal(warn.code, 0, warn.stderr);
    assert.equal(warn.stdout, 'ran\n', `${attempt}: the warning is not on stdout`);
    assert.match(warn.stderr, new RegExp(`warning: #warning "${marker}"`), `${attempt}: the warning is on stderr`);
  }
});

test('--json: cylo\'s own failures are a JSON error object with the stable code on stdout (exit 125)', T, async () => {
  const unknown = await cyloExec(['--json', '--lang', 'cobol-1959', '-c', 'DISPLAY "HI"']);
  assert.equal(unknown.code, 125);
  assert.equal(unknown.stderr, '');
  const e = JSON.parse(unknown.stdout) as { error: { code: string; message: string; field?: string } };
  assert.equal(e.error.code, 'CYLO_E_UNKNOWN_LANGUAGE');
  assert.match(e.error.message, /cobol-1959/);
  const badFlag = await cyloExec(['--json', '--memory', '128', '--lang', 'python', '-c', 'print(1)']);
  assert.equal(badFlag.code, 125);
  assert.deepEqual(JSON.parse(badFlag.stdout), {
    error: { code: 'CYLO_E_USAGE', message: '--memory: 128 has no unit; did you mean 128M? (sizes take a unit: 64K, 128M, 1G, or 128B for bytes)', field: '--memory' },
  });
  // commander's own usage errors too (an unknown option)
  const unknownOption = await cyloExec(['--json', '--bogus', '-c', '1']);
  assert.equal(unknownOption.code, 125);
  assert.equal(unknownOption.stderr, '');
  assert.deepEqual(JSON.parse(unknownOption.stdout), { error: { code: 'CYLO_E_USAGE', message: "unknown option '--bogus'; cylo exec takes its own options anywhere before --, so to pass --bogus to the program put it after --: cylo exec FILE -- --bogus" } });
});
