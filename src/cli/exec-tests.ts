// `cylo exec` with test cases (judges, competitive programmers):
//   cylo exec sol.cpp --test 1.in:1.out --test 2.in     IN[:EXPECTED] files, repeatable
//   cylo exec sol.cpp --tests cases/                    every NAME.in in the folder, with NAME.out
//                                                       (or NAME.ans) as its expected output
//   --compare exact|lines|tokens|numeric  --tolerance 1e-6  --checker check.py  --stop-on-failure
// The program is compiled once; one line per case (verdict, time, memory, why), then a summary
// line; exit 0 when every case is accepted, 1 when one is not (as test runners do), 125 when
// cylo fails. With --json, the whole result object.
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Cylo } from '../cylo.js';
import type { ExecuteRequest } from '../api/request.js';
import type { ExecutionResult } from '../api/result.js';
import { COMPARISON_MODES, type ComparisonMode } from '../api/test-cases.js';
import type { TestCaseResult } from '../api/verdict.js';
import { CyloError } from '../errors.js';
import { formatSize } from '../util/units.js';
import { inDir, languageFor, programSource } from './exec-program.js';

/** The test-case flags of `cylo exec`, as commander gives them. */
export interface TestFlags {
  /** --test IN[:EXPECTED] values. */
  test?: string[] | undefined;
  /** --tests DIR. */
  tests?: string | undefined;
  compare?: string | undefined;
  tolerance?: string | undefined;
  checker?: string | undefined;
  stopOnFailure?: boolean | undefined;
  /** The directory relative paths are read from (exec-program.ts inDir). */
  cwd?: string | undefined;
}

export const EXIT_NOT_ACCEPTED = 1;

const usage = (message: string, field: string): CyloError => new CyloError('CYLO_E_USAGE', message, { field });

/** True when the flags ask for a test-case run. */
export function wantsTests(flags: TestFlags): boolean {
  return (flags.test?.length ?? 0) > 0 || flags.tests !== undefined;
}

/** The file at `path` (as typed; read from `cwd`), at most `maxBytes`. */
async function readCapped(path: string, field: string, maxBytes: number, cwd: string | undefined): Promise<string> {
  const info = await stat(inDir(cwd, path)).catch(() => undefined);
  if (info === undefined || !info.isFile()) throw usage(`${field}: ${path} is not a file`, field);
  if (info.size > maxBytes) throw usage(`${field}: ${path} is ${formatSize(info.size)}, above the maximum of ${formatSize(maxBytes)}`, field);
  return readFile(inDir(cwd, path), 'utf8');
}

/** `IN[:EXPECTED]`: a value naming an existing file is IN alone (paths may contain ':'). */
async function caseFromFlag(value: string, maxBytes: number, cwd: string | undefined): Promise<NonNullable<ExecuteRequest['tests']>[number]> {
  const whole = await stat(inDir(cwd, value)).then((s) => s.isFile(), () => false);
  const cut = value.lastIndexOf(':');
  const [input, expected] = whole || cut <= 0 ? [value, undefined] : [value.slice(0, cut), value.slice(cut + 1)];
  return {
    name: basename(input).replace(/\.in$/, ''),
    stdin: await readCapped(input, '--test', maxBytes, cwd),
    ...(expected === undefined ? {} : { expectedOutput: await readCapped(expected, '--test', maxBytes, cwd) }),
  };
}

/** Every NAME.in of `dir`, in natural order (2 before 10), with NAME.out or NAME.ans. */
async function casesFromDirectory(dir: string, maxBytes: number, cwd: string | undefined): Promise<NonNullable<ExecuteRequest['tests']>> {
  const names = await readdir(inDir(cwd, dir)).catch(() => {
    throw usage(`--tests: cannot read the folder ${dir}`, '--tests');
  });
  const inputs = names.filter((n) => n.endsWith('.in')).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (inputs.length === 0) throw usage(`--tests: ${dir} has no NAME.in files (each case is NAME.in, with NAME.out or NAME.ans as its expected output)`, '--tests');
  return Promise.all(
    inputs.map(async (file) => {
      const name = file.slice(0, -'.in'.length);
      const answer = [`${name}.out`, `${name}.ans`].find((n) => names.includes(n));
      return { name, stdin: await readCapped(join(dir, file), '--tests', maxBytes, cwd), ...(answer === undefined ? {} : { expectedOutput: await readCapped(join(dir, answer), '--tests', maxBytes, cwd) }) };
    }),
  );
}

/** Adds `tests`, `comparison`, `checker` and `stopOnFailure` to `request` from the flags.
 *  Throws CYLO_E_USAGE naming the flag. */
export async function addTestCases(request: ExecuteRequest, flags: TestFlags, cylo: Cylo): Promise<void> {
  const maxBytes = cylo.policy.bounds.maxStdinBytes;
  const { cwd } = flags;
  const tests = [...(await Promise.all((flags.test ?? []).map((v) => caseFromFlag(v, maxBytes, cwd)))), ...(flags.tests === undefined ? [] : await casesFromDirectory(flags.tests, maxBytes, cwd))];
  request.tests = tests;
  if (flags.compare !== undefined || flags.tolerance !== undefined) {
    const mode = (flags.compare ?? 'numeric') as ComparisonMode;
    if (!COMPARISON_MODES.includes(mode)) throw usage(`--compare: expected one of ${COMPARISON_MODES.join(', ')} (got ${JSON.stringify(flags.compare)})`, '--compare');
    if (flags.tolerance !== undefined && mode !== 'numeric') throw usage('--tolerance: only with --compare numeric', '--tolerance');
    const tolerance = flags.tolerance === undefined ? undefined : Number(flags.tolerance);
    if (tolerance !== undefined && !(tolerance >= 0)) throw usage(`--tolerance: expected a number >= 0, e.g. 1e-6 (got ${JSON.stringify(flags.tolerance)})`, '--tolerance');
    request.comparison = tolerance === undefined ? { mode } : { mode, absoluteTolerance: tolerance, relativeTolerance: tolerance };
  }
  if (flags.checker !== undefined) {
    const source = await programSource({ program: flags.checker, cwd });
    if (source.kind !== 'files') throw usage(`--checker: ${flags.checker} is not a file`, '--checker');
    request.checker = { language: languageFor(undefined, source, cylo), code: await readCapped(flags.checker, '--checker', cylo.policy.bounds.maxFilesBytes, cwd) };
  }
  if (flags.stopOnFailure === true) request.stopOnFailure = true;
}

const ms = (n: number): string => `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`;

function caseLine(c: TestCaseResult): string {
  const mark = c.verdict === 'accepted' ? 'ok  ' : c.verdict === 'skipped' ? 'skip' : 'FAIL';
  const name = c.name ?? String(c.index + 1);
  const cost = c.status === null ? '' : `  ${ms(c.wallMs)}  ${formatSize(c.memoryBytes)}`;
  const why = c.verdict === 'accepted' ? '' : `  ${c.verdict}${c.verdictMessage === null ? '' : `: ${c.verdictMessage}`}`;
  return `${mark} ${name}${cost}${why}\n`;
}

/** One line per case on stdout and a summary line; the compiler's diagnostics (when the
 *  program did not compile) on stderr. Returns the exit code: 0 all accepted, 1 otherwise. */
export function reportTests(result: ExecutionResult, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): number {
  if (result.compile !== null && result.status === 'compile_error') io.stderr.write(result.compile.stderr || result.compile.stdout);
  for (const c of result.tests ?? []) io.stdout.write(caseLine(c));
  const s = result.summary;
  if (s === undefined) return EXIT_NOT_ACCEPTED;
  io.stdout.write(`${s.passed}/${s.total} accepted${s.verdict === 'accepted' ? '' : ` (first failure: ${s.verdict})`}; max ${ms(s.maxWallMs)}, ${formatSize(s.maxMemoryBytes)}\n`);
  return s.verdict === 'accepted' ? 0 : EXIT_NOT_ACCEPTED;
}
