// Output order and bytes, through the library on a real sandbox: redirectStderrToStdout gives the
// program one pipe for fd 1 and fd 2 (the helper's dup2), so interleaved writes come out in the
// order they were made, while without it the two streams stay apart; outputEncoding "base64"
// carries the exact bytes (every value 0x00..0xff) where "utf8" must replace invalid sequences;
// stdinEncoding "base64" gives the program exact binary input. Each test says what it proves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSharedCylos, getCylo, run } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { uniqueMarker } from '../support/processes.js';

const T = { timeout: 60_000 };

test.after(() => closeSharedCylos());

/** Writes out1, err1, out2, err2, flushing after each, so every write reaches its fd at once. */
const INTERLEAVED = [
  'import sys',
  'for stream, text in ((sys.stdout, "out1"), (sys.stderr, "err1"), (sys.stdout, "out2"), (sys.stderr, "err2")):',
  '    stream.write(text + "\\n")',
  '    stream.flush()',
].join('\n');

/** Every byte value once, in order. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_v, i) => i));

test('redirectStderrToStdout: interleaved flushed writes come out on stdout in the order written, stderr empty', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: the run stage's fd 2 is the same pipe as fd 1 (two pipes read by the host could
  // not keep this order; the helper test shows the same with the flag off at the C level).
  for (let i = 0; i < 3; i++) {
    const r = await run({ language: 'python', code: INTERLEAVED, redirectStderrToStdout: true });
    assert.equal(r.status, 'ok', JSON.stringify(r.run));
    assert.equal(r.run.stdout, 'out1\nerr1\nout2\nerr2\n');
    assert.equal(r.run.stderr, '');
  }
});

test('without redirectStderrToStdout the two streams stay apart (the default)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: the option is off unless asked for, and off means two separate streams.
  for (const request of [{}, { redirectStderrToStdout: false }]) {
    const r = await run({ language: 'python', code: INTERLEAVED, ...request });
    assert.equal(r.run.stdout, 'out1\nout2\n');
    assert.equal(r.run.stderr, 'err1\nerr2\n');
  }
});

test('redirectStderrToStdout applies to the run stage only: compiler diagnostics keep their own stream', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: the documented decision (compile stages are not redirected). A unique marker makes
  // the source new to the compile cache, so the compiler really runs.
  const marker = uniqueMarker();
  const code = `#include <stdio.h>\n#warning "${marker}"\nint main(void) { printf("out1\\n"); fflush(stdout); fprintf(stderr, "err1\\n"); printf("out2\\n"); return 0; }\n`;
  const r = await run({ language: 'c', code, redirectStderrToStdout: true });
  assert.equal(r.status, 'ok', JSON.stringify(r));
  assert.ok(r.compile !== null && r.compile.cached === false, 'the compiler ran');
  assert.match(r.compile.stderr, new RegExp(marker));
  assert.equal(r.compile.stdout, '');
  assert.equal(r.run.stdout, 'out1\nerr1\nout2\n');
  assert.equal(r.run.stderr, '');
});

test('outputEncoding base64: every byte 0x00..0xff of stdout and stderr comes back exactly', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: the stage's stdout/stderr are base64 of the program's exact bytes (with utf8 the
  // bytes 0x80..0xff could not survive JSON: see the next test), and the result says so.
  const code = 'import sys\nsys.stdout.buffer.write(bytes(range(256)))\nsys.stderr.buffer.write(bytes(reversed(range(256))))\n';
  const r = await run({ language: 'python', code, outputEncoding: 'base64' });
  assert.equal(r.status, 'ok', JSON.stringify(r.run));
  assert.equal(r.outputEncoding, 'base64');
  assert.deepEqual(Buffer.from(r.run.stdout, 'base64'), ALL_BYTES);
  assert.deepEqual(Buffer.from(r.run.stderr, 'base64'), Buffer.from(ALL_BYTES).reverse());
  assert.equal(r.run.stdout, ALL_BYTES.toString('base64'), 'canonical base64, nothing around it');
});

test('outputEncoding utf8 (the default) says so, and replaces invalid UTF-8 with U+FFFD', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: the default is unchanged text, and the result names its encoding either way.
  const r = await run({ language: 'python', code: 'import sys\nsys.stdout.buffer.write(b"ok \\xff\\xfe \\xe2\\x82\\xac\\n")\n' });
  assert.equal(r.outputEncoding, 'utf8');
  assert.equal(r.run.stdout, 'ok \uFFFD\uFFFD €\n');
});

test('stdinEncoding base64: binary stdin reaches the program exactly (read back as hex and as bytes)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: stdin is decoded from base64 before it reaches the program, byte for byte; checked
  // once through text output (hex) so the result does not depend on outputEncoding, and once
  // echoed back as bytes with outputEncoding base64.
  const input = Buffer.concat([ALL_BYTES, Buffer.from([0, 0, 0xff, 0x0a])]);
  const stdin = input.toString('base64');
  const hex = await run({ language: 'python', code: 'import sys\nprint(sys.stdin.buffer.read().hex())\n', stdin, stdinEncoding: 'base64' });
  assert.equal(hex.run.stdout, `${input.toString('hex')}\n`);
  const echo = await run({ language: 'python', code: 'import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())\n', stdin, stdinEncoding: 'base64', outputEncoding: 'base64' });
  assert.deepEqual(Buffer.from(echo.run.stdout, 'base64'), input);
});

test('redirectStderrToStdout with base64: the merged stream keeps order and bytes', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: the two options compose (the merged pipe is encoded like any stdout).
  const code = 'import sys\nfor i in range(4):\n    s = (sys.stdout, sys.stderr)[i % 2].buffer\n    s.write(bytes([0xf0 + i, 0x00]))\n    s.flush()\n';
  const r = await run({ language: 'python', code, redirectStderrToStdout: true, outputEncoding: 'base64' });
  assert.deepEqual(Buffer.from(r.run.stdout, 'base64'), Buffer.from([0xf0, 0, 0xf1, 0, 0xf2, 0, 0xf3, 0]));
  assert.equal(r.run.stderr, '');
});

test('a compile error with outputEncoding base64: the compiler diagnostics are base64 too', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: outputEncoding covers every stage of the result, as the result's field says.
  const marker = uniqueMarker().replace(/[^A-Za-z0-9_]/g, '_');
  const r = await getCylo().execute({ language: 'c', code: `int main(void) { return ${marker}; }\n`, outputEncoding: 'base64' });
  assert.equal(r.status, 'compile_error');
  assert.equal(r.outputEncoding, 'base64');
  assert.match(Buffer.from(r.compile?.stderr ?? '', 'base64').toString('utf8'), new RegExp(marker));
});

test('stream() with outputEncoding base64: each stdout event is base64 of its chunk; together the exact bytes', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: live events follow the request's outputEncoding (a UTF-8 decoder would turn the
  // bytes 0x80..0xff into U+FFFD before the client could see them).
  const code = 'import sys\nfor i in range(0, 256, 64):\n    sys.stdout.buffer.write(bytes(range(i, i + 64)))\n    sys.stdout.flush()\n';
  const chunks: Buffer[] = [];
  let stdout: string | undefined;
  for await (const event of getCylo().stream({ language: 'python', code, outputEncoding: 'base64' })) {
    if (event.type === 'stdout') chunks.push(Buffer.from(event.data, 'base64'));
    if (event.type === 'result') stdout = event.result.run?.stdout;
  }
  assert.deepEqual(Buffer.concat(chunks), ALL_BYTES);
  assert.equal(stdout, ALL_BYTES.toString('base64'));
});
