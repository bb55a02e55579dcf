// Output files of one-shot runs (a request's `outputs`), through the library on a real sandbox:
// which files the patterns select ("*", "**", exact names, no match, the leading-dot rule), the
// caps and what the result says about them (per-file and total truncation, too many files),
// files after a runtime error and after a timeout, and images flagged by their bytes (a PNG
// written by hand; a matplotlib plot when the host has matplotlib). Links, FIFOs and racing
// background processes are in test/security/hostile-outputs.test.ts. Each test says what it proves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Stage } from '../../src/api/result.js';
import { closeSharedCylos, run } from '../support/cylo.js';
import { skipWithoutSandbox } from '../support/host.js';
import { datasciSkipReason } from '../support/datasci.js';
import { pngWriterPython, PNG_SIGNATURE } from '../support/png.js';

const T = { timeout: 60_000 };

test.after(() => closeSharedCylos());

/** Python that creates each path (parents too) with the given text. */
function writer(files: Record<string, string>): string {
  return ['import os', ...Object.entries(files).map(([name, text]) => `os.makedirs(os.path.dirname(${JSON.stringify(name)}) or '.', exist_ok=True); open(${JSON.stringify(name)}, 'w').write(${JSON.stringify(text)})`)].join('\n');
}

const names = (stage: Stage): string[] => (stage.files ?? []).map((f) => f.name);
const text = (stage: Stage, name: string): string => Buffer.from(stage.files?.find((f) => f.name === name)?.content ?? '', 'base64').toString('utf8');

const TREE = { 'a.txt': 'A', 'b.csv': 'B', 'out/c.txt': 'C', 'out/deep/d.txt': 'D', '.hidden.txt': 'H', '.cache/e.txt': 'E', 'x.txt.bak': 'X' };

test('patterns: "*" within one directory, "**" across directories, exact names, the leading-dot rule', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: the helper's matcher (native/pattern.c) selects exactly the documented files
  const cases: Array<[string[], string[]]> = [
    [['*.txt'], ['a.txt']],
    [['**/*.txt'], ['a.txt', 'out/c.txt', 'out/deep/d.txt']],
    [['out/**'], ['out/c.txt', 'out/deep/d.txt']],
    [['b.csv', 'out/deep/d.txt'], ['b.csv', 'out/deep/d.txt']],
    [['?.csv'], ['b.csv']],
    [['.hidden.txt', '.cache/*'], ['.cache/e.txt', '.hidden.txt']],
    [['*'], ['a.txt', 'b.csv', 'main.py', 'x.txt.bak']],
  ];
  for (const [outputs, expected] of cases) {
    const r = await run({ language: 'python', code: writer(TREE), outputs });
    assert.equal(r.status, 'ok', JSON.stringify(r.run));
    assert.deepEqual(names(r.run), expected, `outputs ${JSON.stringify(outputs)}`);
    assert.deepEqual(r.run.filesSkipped, []);
    assert.equal(r.run.filesIncomplete, false);
    assert.equal(r.run.filesError, null);
  }
  const r = await run({ language: 'python', code: writer(TREE), outputs: ['out/deep/d.txt'] });
  assert.equal(text(r.run, 'out/deep/d.txt'), 'D');
  assert.deepEqual(r.run.files?.[0], { name: 'out/deep/d.txt', size: 1, encoding: 'base64', content: Buffer.from('D').toString('base64'), truncated: false });
});

test('no match: an empty list, not an error; without outputs the run stage has no files fields', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: a pattern that matches nothing is a normal outcome, and requests without outputs
  // keep the result shape they always had
  const none = await run({ language: 'python', code: writer(TREE), outputs: ['*.png', 'missing/**'] });
  assert.equal(none.status, 'ok');
  assert.deepEqual(none.run.files, []);
  assert.deepEqual(none.run.filesSkipped, []);
  const without = await run({ language: 'python', code: writer(TREE) });
  assert.equal('files' in without.run, false);
  assert.equal('filesSkipped' in without.run, false);
});

test('caps: a file past outputFileBytes comes back cut with truncated: true; the total cap cuts the next and skips the rest', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: both caps hold inside the helper and the result says what was cut or left out
  const code = "for n in ('big.bin', 'small.bin'):\n    open(n, 'wb').write(b'x' * (3000 if n == 'big.bin' else 100))";
  const perFile = await run({ language: 'python', code, outputs: ['*.bin'], limits: { outputFileBytes: 1000 } });
  const big = perFile.run.files?.find((f) => f.name === 'big.bin');
  assert.equal(big?.size, 3000);
  assert.equal(big?.truncated, true);
  assert.equal(Buffer.from(big?.content ?? '', 'base64').length, 1000);
  assert.equal(perFile.run.files?.find((f) => f.name === 'small.bin')?.truncated, false);
  assert.equal(perFile.run.filesIncomplete, true);

  // Total 1500 over three 1000-byte files: one whole, one cut to 500, one skipped.
  const three = "for n in ('p.bin', 'q.bin', 'r.bin'):\n    open(n, 'wb').write(b'y' * 1000)";
  const total = await run({ language: 'python', code: three, outputs: ['*.bin'], limits: { outputFilesBytes: 1500 } });
  const lengths = (total.run.files ?? []).map((f) => Buffer.from(f.content, 'base64').length).sort((a, b) => a - b);
  assert.deepEqual(lengths, [500, 1000]);
  assert.equal(total.run.files?.filter((f) => f.truncated).length, 1);
  assert.equal(total.run.filesSkipped?.length, 1);
  assert.equal(total.run.filesSkipped?.[0]?.reason, 'total_limit');
  assert.equal(total.run.filesIncomplete, true);
});

test('too many files: at most 100 come back, the rest are listed as too_many_files (the listing itself capped)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: a program that writes many files cannot make the result unbounded
  const r = await run({ language: 'python', code: "for i in range(230):\n    open(f'f{i:03}.txt', 'w').write('z')", outputs: ['*.txt'] });
  assert.equal(r.run.files?.length, 100);
  assert.equal(r.run.filesSkipped?.length, 100);
  assert.ok(r.run.filesSkipped?.every((s) => s.reason === 'too_many_files'));
  assert.equal(r.run.filesIncomplete, true);
  assert.equal(new Set([...names(r.run), ...(r.run.filesSkipped ?? []).map((s) => s.name)]).size, 200);
});

test('files come back after a runtime error and after a timeout (only the program is killed; PID 1 then reads them)', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: outputs are read whatever the status, also when cylo stopped the program at a limit
  const crashed = await run({ language: 'python', code: "open('partial.csv', 'w').write('1,2\\n')\nraise SystemExit(3)", outputs: ['*.csv'] });
  assert.equal(crashed.status, 'runtime_error');
  assert.equal(text(crashed.run, 'partial.csv'), '1,2\n');
  const timedOut = await run({ language: 'python', code: "f = open('progress.txt', 'w'); f.write('step 1\\n'); f.flush()\nwhile True: pass", outputs: ['progress.txt'], limits: { timeoutMs: 500 } });
  assert.equal(timedOut.status, 'timeout');
  assert.equal(timedOut.run.limit, 'wall');
  assert.equal(text(timedOut.run, 'progress.txt'), 'step 1\n');
  assert.equal(timedOut.run.filesError, null);
  // The output limit stops the program the same way.
  const loud = await run({ language: 'python', code: "open('log.txt', 'w').write('kept')\nimport sys\nwhile True: sys.stdout.write('x' * 4096)", outputs: ['log.txt'], limits: { outputBytes: 8192 } });
  assert.equal(loud.status, 'output_limit');
  assert.equal(text(loud.run, 'log.txt'), 'kept');
});

test('an image is flagged by its bytes: a PNG written with zlib + struct has mimeType image/png, a .png that is text has none', T, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: mimeType comes from the magic bytes, not from the name
  const r = await run({ language: 'python', code: `${pngWriterPython('plot.png')}\nopen('fake.png', 'w').write('not an image')`, outputs: ['*.png'] });
  assert.equal(r.status, 'ok', JSON.stringify(r.run));
  const plot = r.run.files?.find((f) => f.name === 'plot.png');
  assert.equal(plot?.mimeType, 'image/png');
  assert.ok(Buffer.from(plot?.content ?? '', 'base64').subarray(0, 8).equals(PNG_SIGNATURE));
  assert.equal(r.run.files?.find((f) => f.name === 'fake.png')?.mimeType, undefined);
});

test('matplotlib: a plot saved with savefig in the datasci environment comes back as an image/png', { ...T, skip: datasciSkipReason() ?? false }, async (t) => {
  if (skipWithoutSandbox(t)) return;
  // proves: the demo that matters to agents works end to end with a real plotting library
  // (Debian's, which only the datasci environment exposes: docs/environments.md)
  const code = ['import matplotlib', "matplotlib.use('Agg')", 'import matplotlib.pyplot as plt', 'plt.plot([1, 2, 3], [1, 4, 9])', "plt.savefig('plot.png')"].join('\n');
  const r = await run({ language: 'python', environment: 'datasci', code, outputs: ['*.png'], env: { MPLCONFIGDIR: '/tmp' }, limits: { timeoutMs: 30_000, cpuTimeMs: 30_000 } });
  assert.equal(r.status, 'ok', JSON.stringify(r.run));
  assert.equal(r.run.files?.[0]?.mimeType, 'image/png');
});
