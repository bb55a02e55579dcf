// Test cases in one request (issue 14, item 1), in real sandboxes with real compilers:
// - one compile for N cases (counted by stats().compiles and the sandboxes started);
// - a verdict for every failure kind: accepted, wrong_answer, runtime_error (a signal, an exit
//   code), time_limit, memory_limit, output_limit, compile_error, internal_error (a checker that
//   fails), skipped (stopOnFailure);
// - per-case stdin, args and limits over the request's; the comparison modes end to end;
// - a testlib-style checker (accepts, rejects with its message, fails, does not compile);
// - refusals naming the field; cancellation; the native HTTP API carrying tests and summary.
// The comparison rules themselves are unit-tested in test/unit/judge-compare.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCylo, type Cylo } from '../../src/cylo.js';
import type { ExecuteRequest } from '../../src/api/request.js';
import type { ExecutionResult } from '../../src/api/result.js';
import type { TestCaseResult } from '../../src/api/verdict.js';
import { buildServer } from '../../src/server/app.js';
import { CyloError } from '../../src/errors.js';
import { TEST_UID_BASE, TEST_UID_COUNT } from '../support/cylo.js';
import { sandboxSkipReason } from '../support/host.js';
import { skipWithoutPreflight } from '../support/preflight.js';
import { MiB } from '../support/units.js';

const skip = sandboxSkipReason();
const T = { timeout: 120_000, skip: skip ?? false };
let dir: string;
let cylo: Cylo;

before(() => {
  if (skip !== undefined) return;
  dir = mkdtempSync(join(tmpdir(), 'cylo-test-cases-'));
  cylo = createCylo({ cacheDir: join(dir, 'cache'), uidBase: TEST_UID_BASE + TEST_UID_COUNT, uidCount: 64, concurrency: 2, defaultLimits: { timeoutMs: 5000, cpuTimeMs: 5000, memoryBytes: 128 * MiB, pids: 32, outputBytes: 64 * 1024, workspaceBytes: 16 * MiB } });
});

after(async () => {
  await cylo?.close({ graceMs: 0 });
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** A C program whose behaviour its input chooses: "a b" prints a+b; 7 crashes (SIGSEGV);
 *  8 exits 3; 9 loops forever. */
const C_SUM = `#include <stdio.h>
int main(void) {
  int a, b;
  if (scanf("%d %d", &a, &b) != 2) return 2;
  if (a == 7) { volatile int *p = 0; return *p; }
  if (a == 8) return 3;
  if (a == 9) for (;;) {}
  printf("%d\\n", a + b);
  return 0;
}
`;

const verdicts = (r: ExecutionResult): string[] => (r.tests ?? []).map((t) => t.verdict);
const cases = (r: ExecutionResult): TestCaseResult[] => {
  assert.ok(r.tests !== undefined, `no tests in ${JSON.stringify(r).slice(0, 300)}`);
  return r.tests;
};

test('N cases of a C program compile once: one compiler run, one sandbox per case, and a verdict for every kind of outcome', T, async () => {
  const before = cylo.stats();
  const started = (s: ReturnType<Cylo['stats']>): number => s.sandboxesPrepared + s.sandboxesStartedOnDemand;
  const r = await cylo.execute({
    language: 'c',
    code: C_SUM,
    tests: [
      { stdin: '1 2', expectedOutput: '3\n' },
      { stdin: '2 2', expectedOutput: '5\n' },
      { stdin: '7 0', expectedOutput: '7\n' },
      { stdin: '8 0' },
      { stdin: '9 0', limits: { timeoutMs: 300 } },
      { name: 'no expected output', stdin: '40 2' },
    ],
  });
  assert.equal(r.status, 'ok');
  assert.equal(r.run, null);
  assert.equal(r.compile?.status, 'ok');
  assert.equal(r.compile?.cached, false);
  assert.deepEqual(verdicts(r), ['accepted', 'wrong_answer', 'runtime_error', 'runtime_error', 'time_limit', 'accepted']);
  const t = cases(r);
  assert.equal(t[1]?.verdictMessage, 'line 1: expected "5", got "4"');
  assert.equal(t[2]?.signal, 'SIGSEGV');
  assert.equal(t[3]?.exitCode, 3);
  assert.equal(t[4]?.limit, 'wall');
  assert.equal(t[5]?.name, 'no expected output');
  assert.equal(t[5]?.stdout, '42\n');
  assert.deepEqual(t.map((c) => c.index), [0, 1, 2, 3, 4, 5]);
  // Counted: the compiler ran once; a sandbox for the compile and one per case.
  const now = cylo.stats();
  assert.equal(now.compiles - before.compiles, 1);
  assert.equal(started(now) - started(before), 1 + 6);
  assert.deepEqual(r.summary?.verdicts, { accepted: 2, wrong_answer: 1, runtime_error: 2, time_limit: 1 });
  assert.equal(r.summary?.verdict, 'wrong_answer');
  assert.equal(r.summary?.passed, 2);
  assert.equal(r.summary?.maxWallMs, Math.max(...t.map((c) => c.wallMs)), 'the summary has the longest case');
});

test('a program that does not compile: every case is compile_error, none runs', T, async () => {
  const r = await cylo.execute({ language: 'c', code: 'int main(void) { return syntax error; }', tests: [{ stdin: '1' }, { stdin: '2' }] });
  assert.equal(r.status, 'compile_error');
  assert.deepEqual(verdicts(r), ['compile_error', 'compile_error']);
  assert.ok(cases(r).every((c) => c.status === null && c.wallMs === 0));
  assert.match(r.compile?.stderr ?? '', /error/);
});

test('per-case stdin and args, with the request\'s as defaults; numeric comparison within its tolerance', T, async () => {
  const r = await cylo.execute({
    language: 'python',
    code: 'import sys\nprint(sys.argv[1:], input())',
    args: ['default'],
    stdin: 'shared\n',
    tests: [{ expectedOutput: "['default'] shared" }, { args: ['own'], stdin: 'mine\n', expectedOutput: "['own'] mine" }],
  });
  assert.deepEqual(verdicts(r), ['accepted', 'accepted']);
  const numeric = await cylo.execute({
    language: 'python',
    code: 'print(1/3, 2/3)',
    comparison: { mode: 'numeric', absoluteTolerance: 1e-4 },
    tests: [{ expectedOutput: '0.3333 0.6667' }, { expectedOutput: '0.33 0.67' }],
  });
  assert.deepEqual(verdicts(numeric), ['accepted', 'wrong_answer']);
  assert.match(cases(numeric)[1]?.verdictMessage ?? '', /token 1: expected "0.33"/);
});

test('memory_limit and output_limit are verdicts of their own', T, async (t) => {
  if (await skipWithoutPreflight(t)) return;
  const r = await cylo.execute({
    language: 'python',
    code: "import sys\nmode = input()\nif mode == 'mem': x = bytearray(256 << 20)\nif mode == 'out':\n    while True: sys.stdout.write('y' * 4096)\nprint('ok')",
    tests: [
      { stdin: 'mem', limits: { memoryBytes: 32 * MiB } },
      { stdin: 'out', limits: { outputBytes: 4096 } },
      { stdin: 'fine', expectedOutput: 'ok' },
    ],
  });
  assert.deepEqual(verdicts(r), ['memory_limit', 'output_limit', 'accepted']);
  assert.equal(cases(r)[0]?.limit, 'memory');
  assert.equal(cases(r)[1]?.limit, 'output');
});

test('stopOnFailure: the cases after the first failure are skipped, the ones before it still judged', T, async () => {
  // Cases 0 and 1 are fast (1 fails); 2 and 3 sleep 1 s first: with 2 slots, case 2 may have
  // started beside case 1 and is then stopped; case 3 can only start after case 1 has failed.
  const r = await cylo.execute({
    language: 'python',
    code: 'import time\nn = int(input())\nif n == 9: time.sleep(1)\nprint(n * 2)',
    stopOnFailure: true,
    tests: [{ stdin: '1', expectedOutput: '2' }, { stdin: '2', expectedOutput: '5' }, { stdin: '9', expectedOutput: '18' }, { stdin: '9', expectedOutput: '18' }],
  });
  assert.deepEqual(verdicts(r), ['accepted', 'wrong_answer', 'skipped', 'skipped']);
  assert.equal(r.summary?.verdict, 'wrong_answer');
  assert.match(cases(r)[3]?.verdictMessage ?? '', /case 1 failed/);
});

const PY_CHECKER = `import sys
got = open(sys.argv[2]).read().split()
want = open(sys.argv[3]).read().split()
inp = open(sys.argv[1]).read().split()
if got == ['crash']:
    raise SystemExit(3)
if sorted(got) != sorted(want):
    print('expected the numbers', ' '.join(want), 'in any order; input was', ' '.join(inp), file=sys.stderr)
    sys.exit(1)
`;

test('a checker decides: accepted, wrong_answer with its message, and internal_error when it fails', T, async () => {
  const r = await cylo.execute({
    language: 'python',
    code: 'print(input())',
    checker: { language: 'python', code: PY_CHECKER },
    tests: [
      { stdin: '3 1 2', expectedOutput: '1 2 3' },
      { stdin: '3 1 4', expectedOutput: '1 2 3' },
      { stdin: 'crash', expectedOutput: '' },
    ],
  });
  assert.deepEqual(verdicts(r), ['accepted', 'wrong_answer', 'internal_error']);
  const t = cases(r);
  assert.equal(t[0]?.checker?.exitCode, 0);
  assert.equal(t[1]?.verdictMessage, 'expected the numbers 1 2 3 in any order; input was 3 1 4');
  assert.match(t[2]?.verdictMessage ?? '', /the checker failed: exit code 3/);
});

test('a checker that does not compile makes every case internal_error; the submission is not blamed', T, async () => {
  const r = await cylo.execute({ language: 'python', code: 'print(1)', checker: { language: 'c', code: 'int main( { }' }, tests: [{ expectedOutput: '1' }] });
  assert.equal(r.status, 'internal_error');
  assert.deepEqual(verdicts(r), ['internal_error']);
  assert.match(cases(r)[0]?.verdictMessage ?? '', /the checker did not compile/);
});

test('refusals name the field: options without tests, tolerances outside numeric, too many cases, a case limit above the maximum, an unknown checker language', T, async () => {
  const refused = async (request: ExecuteRequest, field: string, message: RegExp): Promise<void> => {
    await assert.rejects(cylo.execute(request), (e: unknown) => e instanceof CyloError && e.field === field && message.test(e.message));
  };
  const base = { language: 'python', code: 'print(1)' };
  await refused({ ...base, comparison: { mode: 'exact' } }, 'comparison', /only applies with tests/);
  await refused({ ...base, tests: [{}], comparison: { mode: 'lines', absoluteTolerance: 1 } }, 'comparison.absoluteTolerance', /only applies to mode "numeric"/);
  await refused({ ...base, tests: [] }, 'tests', /at least one/);
  await refused({ ...base, tests: Array.from({ length: 257 }, () => ({})) }, 'tests', /at most 256/);
  await refused({ ...base, tests: [{}, { limits: { timeoutMs: 10 * 60_000 } }] }, 'tests[1].limits.timeoutMs', /maximum/);
  await refused({ ...base, tests: [{}], checker: { language: 'cobol-2099', code: 'x' } }, 'checker.language', /checker\.language/);
  await assert.rejects(cylo.interactive({ ...base, tests: [{}] }).result, (e: unknown) => e instanceof CyloError && e.field === 'tests');
});

test('cancelling a test-case run stops every case', T, async () => {
  const controller = new AbortController();
  const running = cylo.execute({ language: 'bash', code: 'echo started; sleep 30', tests: [{}, {}, {}, {}] }, { signal: controller.signal, onEvent: (e) => e.type === 'stdout' && controller.abort() });
  await assert.rejects(running, (e: unknown) => e instanceof CyloError && e.code === 'CYLO_E_CANCELLED');
});

test('the native HTTP API answers tests and summary (schema-serialised, nothing dropped)', T, async () => {
  const app = await buildServer({ cylo, logger: false, processMetrics: false });
  try {
    const r = await app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code: 'print(int(input()) + 1)', tests: [{ name: 'one', stdin: '1', expectedOutput: '2' }, { stdin: '5', expectedOutput: '7' }] } });
    assert.equal(r.statusCode, 200, r.body);
    const body = r.json() as ExecutionResult;
    assert.deepEqual(verdicts(body), ['accepted', 'wrong_answer']);
    assert.equal(body.tests?.[0]?.name, 'one');
    assert.equal(body.tests?.[1]?.verdictMessage, 'line 1: expected "7", got "6"');
    assert.equal(body.summary?.total, 2);
    const bad = await app.inject({ method: 'POST', url: '/v1/execute', payload: { language: 'python', code: 'print(1)', stopOnFailure: true } });
    assert.equal(bad.statusCode, 400);
    assert.equal((bad.json() as { error: { field: string } }).error.field, 'stopOnFailure');
  } finally {
    await app.close();
  }
});

/** Runs the real CLI (`node bin/cylo exec ...`) with its own uid range. */
function cli(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(process.cwd(), 'bin/cylo'), 'exec', ...args], { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CYLO_UID_BASE: String(TEST_UID_BASE + TEST_UID_COUNT + 64), CYLO_UID_COUNT: '8' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

test('cylo exec --tests DIR and --test IN:EXPECTED: one line per case in natural order, a summary, exit 1 unless all are accepted', T, async () => {
  const work = join(dir, 'cli');
  mkdirSync(join(work, 'cases'), { recursive: true });
  writeFileSync(join(work, 'sum.py'), 'a, b = map(int, input().split())\nprint(a + b)\n');
  const write = (name: string, text: string): void => writeFileSync(join(work, 'cases', name), text);
  write('2.in', '2 2\n');
  write('2.out', '5\n');
  write('10.in', '5 5\n');
  write('10.ans', '10\n');
  write('1.in', '1 2\n');
  write('1.out', '3\n');
  const all = await cli(['sum.py', '--tests', 'cases'], work);
  assert.equal(all.code, 1, all.stderr);
  const lines = all.stdout.trim().split('\n');
  assert.deepEqual(lines.map((l) => l.split(/\s+/).slice(0, 2).join(' ')), ['ok 1', 'FAIL 2', 'ok 10', '2/3 accepted']);
  assert.match(lines[1] ?? '', /wrong_answer: line 1: expected "5", got "4"/);
  const one = await cli(['sum.py', '--test', 'cases/1.in:cases/1.out', '--test', 'cases/10.in'], work);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /^2\/2 accepted/m);
  const bad = await cli(['sum.py', '--tests', 'cases', '--compare', 'fuzzy'], work);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /--compare: expected one of exact, lines, tokens, numeric/);
});

test('stream(): a test run\'s output events say which case wrote them', T, async () => {
  const seen = new Map<number, string>();
  let result: ExecutionResult | undefined;
  for await (const e of cylo.stream({ language: 'python', code: 'print("case", input())', tests: [{ stdin: 'a' }, { stdin: 'b' }, { stdin: 'c' }] })) {
    if (e.type === 'stdout' && e.stage === 'run') {
      assert.ok(e.test !== undefined, 'every run output event carries its case');
      seen.set(e.test, (seen.get(e.test) ?? '') + e.data);
    }
    if (e.type === 'result') result = e.result;
  }
  assert.deepEqual([...seen.entries()].sort(), [[0, 'case a\n'], [1, 'case b\n'], [2, 'case c\n']]);
  assert.deepEqual(verdicts(result as ExecutionResult), ['accepted', 'accepted', 'accepted']);
});
