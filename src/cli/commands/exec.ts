// `cylo exec`: run code in the sandbox and behave like the program itself: its stdout and
// stderr (live, as they are produced), its exit code; 124 on timeout, 137 when killed for
// memory or output, 125 when cylo itself fails (a signal death: 128 + n and the shell's line).
// With --json, the whole result object instead (or a JSON error object). The program's shape
// (FILE [ARGS...], -c CODE, -, --) is decided in ../exec-program.ts.
// Also its command-line declaration (register), which main.ts assembles into the program.
import type { Command, OutputConfiguration } from 'commander';
import { createCylo, type Cylo, type CyloOptions } from '../../cylo.js';
import type { ExecuteRequest } from '../../api/request.js';
import { CyloError } from '../../errors.js';
import { EXIT_CYLO_FAILURE, exitCodeFor } from '../exit-codes.js';
import type { CommandIO } from '../../util/io.js';
import { processContext, type CliContext } from '../cli-context.js';
import { parseCount, parseDuration, parseSize } from '../../util/units.js';
import { cliConfig, CONFIG_OPTION_HELP, maximumHint, type CliConfig } from '../cylo-options.js';
import { addProgram, addStdin, inDir, languageFor, programArgs, programSource, type ProgramOptions, type ProgramSource } from '../exec-program.js';
import { inFlagTerms, reportError, reportOutcome } from '../exec-report.js';
import { CompileStatus, runWithLiveStdin, wantsLiveStdin } from '../exec-terminal.js';
import { untilAborted } from '../termination.js';
import { addTestCases, reportTests, wantsTests, type TestFlags } from '../exec-tests.js';
import { writeOutputFiles } from '../output-files.js';
import type { ExecutionResult } from '../../api/result.js';

export interface ExecOptions extends ProgramOptions {
  /** A named environment (--env; docs/environments.md). */
  environment?: string | undefined;
  timeoutMs?: number;
  cpuTimeMs?: number;
  memoryBytes?: number;
  pids?: number;
  outputBytes?: number;
  json?: boolean;
  /** --output PATTERN: files the program writes to bring back (the request's outputs). */
  outputs?: string[];
  /** --output-dir DIR: where they are written (default: the current directory). */
  outputDir?: string;
  /** The limit flags as the user typed them (`{ '--memory': '1M' }`), for messages in their unit. */
  typed?: Record<string, string>;
  /** Ends the execution (every process of it killed, its cgroup removed) when aborted: the
   *  CLI's SIGINT/SIGTERM/SIGHUP (src/cli/termination.ts). Nothing is printed for it. */
  signal?: AbortSignal;
  /** Use this instance instead of creating one (library use, tests). */
  cylo?: Cylo;
  cyloOptions?: CyloOptions;
  /** Where the maxima come from (the configuration), for refusals that say where to raise one. */
  config?: Pick<CliConfig, 'cyloOptions' | 'maxLimitsOrigin'>;
  /** Test cases (--test, --tests, --compare, --tolerance, --checker, --stop-on-failure). */
  testFlags?: TestFlags;
  /** --isolation namespaces|microvm (the request's isolation; default: the configuration's). */
  isolation?: string;
}

/** The limits given on the command line; the request carries none when none was given. */
function addLimits(request: ExecuteRequest, options: ExecOptions): void {
  const limits: NonNullable<ExecuteRequest['limits']> = {};
  if (options.timeoutMs !== undefined) limits.timeoutMs = options.timeoutMs;
  if (options.cpuTimeMs !== undefined) limits.cpuTimeMs = options.cpuTimeMs;
  if (options.memoryBytes !== undefined) limits.memoryBytes = options.memoryBytes;
  if (options.pids !== undefined) limits.pids = options.pids;
  if (options.outputBytes !== undefined) limits.outputBytes = options.outputBytes;
  if (Object.keys(limits).length > 0) request.limits = limits;
}

/** The execution request the options describe, and where its program came from;
 *  throws CYLO_E_USAGE naming the flag. */
async function buildRequest(options: ExecOptions, cylo: Cylo, io: CommandIO): Promise<{ request: ExecuteRequest; source: ProgramSource }> {
  const source = await programSource(options);
  const request: ExecuteRequest = { language: languageFor(options.lang, source, cylo) };
  if (options.environment !== undefined) request.environment = options.environment;
  await addProgram(request, source, io, options.cwd);
  await addStdin(request, options);
  const args = programArgs(options);
  if (args !== undefined) request.args = args;
  addLimits(request, options);
  if (options.testFlags !== undefined && wantsTests(options.testFlags)) await addTestCases(request, options.testFlags, cylo);
  if (options.outputs !== undefined && options.outputs.length > 0) request.outputs = options.outputs;
  // Checked by the request schema (CYLO_E_VALIDATION naming `isolation` for anything else).
  if (options.isolation !== undefined) request.isolation = options.isolation as ExecuteRequest['isolation'];
  return { request, source };
}

/** Runs the request and reports it: the program's output live (or the result as JSON); the
 *  compiler's output on stderr, live, whether or not the compile succeeded; then the outcome
 *  (reportOutcome). On a terminal, stdin is live (exec-terminal.ts). */
async function runAndReport(cylo: Cylo, request: ExecuteRequest, options: ExecOptions, liveStdin: boolean, io: CommandIO): Promise<number> {
  const { signal } = options;
  const json = options.json === true;
  if (liveStdin) {
    const { result, compileOutputSeen } = await runWithLiveStdin(cylo, request, io, { signal, json, maxStdinBytes: cylo.policy.bounds.maxStdinBytes });
    if (json) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else reportOutcome(result, compileOutputSeen, io.stderr);
    return withOutputFiles(result, options, io);
  }
  let compileOutputSeen = false;
  const status = new CompileStatus(io.stderr, request.language);
  const result = await cylo.execute(request, {
    ...(signal === undefined ? {} : { signal }),
    onEvent: (event) => {
      if (json) return;
      if (event.type === 'state') return status.state(event.to);
      status.clear();
      if (event.stage === 'compile') compileOutputSeen = true;
      (event.type === 'stdout' && event.stage === 'run' ? io.stdout : io.stderr).write(event.data);
    },
  }).finally(() => status.clear());
  if (json) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else reportOutcome(result, compileOutputSeen, io.stderr);
  return withOutputFiles(result, options, io);
}

/** Writes the run's output files (--output) under --output-dir and says on stderr what was
 *  skipped, cut or not written; the exit code is the program's, or 125 when a file that came
 *  back could not be written. */
async function withOutputFiles(result: ExecutionResult, options: ExecOptions, io: CommandIO): Promise<number> {
  const code = exitCodeFor(result);
  const run = result.run;
  if (options.outputs === undefined || options.outputs.length === 0 || run === null) return code;
  const quiet = options.json === true;
  const note = (text: string): void => {
    if (!quiet) io.stderr.write(`cylo: --output: ${text}\n`);
  };
  for (const s of run.filesSkipped ?? []) note(`${s.name}: not returned (${s.reason})`);
  for (const f of run.files ?? []) if (f.truncated) note(`${f.name}: cut to ${Buffer.from(f.content, 'base64').length} of ${f.size} bytes (limits.outputFileBytes / outputFilesBytes)`);
  if (run.filesError != null) note(`no file could be read: ${run.filesError}`);
  const written = await writeOutputFiles(inDir(options.cwd, options.outputDir ?? '.'), run.files ?? []);
  for (const f of written.failed) io.stderr.write(`cylo: --output: ${f.name}: not written: ${f.reason}\n`);
  return written.failed.length > 0 ? EXIT_CYLO_FAILURE : code;
}

export async function execCommand(options: ExecOptions, io: CommandIO): Promise<number> {
  // One execution, then exit: no spare sandbox prepared ahead for a next one that never comes.
  const cylo = options.cylo ?? createCylo({ prepare: false, ...options.cyloOptions });
  try {
    const { request, source } = await untilAborted(buildRequest(options, cylo, io), options.signal);
    if (request.tests !== undefined) {
      const result = await cylo.execute(request, options.signal === undefined ? {} : { signal: options.signal });
      if (options.json === true) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return options.json === true ? reportTests(result, { stdout: nowhere, stderr: nowhere }) : reportTests(result, io);
    }
    return await runAndReport(cylo, request, options, wantsLiveStdin(request, source, io), io);
  } catch (error) {
    // Stopped by the caller (Ctrl-C): as a shell, say nothing; the caller picks the exit code.
    if (error instanceof CyloError && error.code === 'CYLO_E_CANCELLED' && options.signal?.aborted === true) return EXIT_CYLO_FAILURE;
    if (error instanceof CyloError) {
      const config = options.config;
      const hint = config === undefined ? undefined : (name: Parameters<typeof maximumHint>[0]) => maximumHint(name, config);
      reportError(inFlagTerms(error, options.typed ?? {}, cylo.policy.maxLimits, hint), options.json === true, io);
      return EXIT_CYLO_FAILURE;
    }
    throw error;
  } finally {
    if (options.cylo === undefined) await cylo.close();
  }
}

/** Discards what is written (the verdict lines under --json, which prints the result instead). */
const nowhere = { write: () => true } as unknown as NodeJS.WritableStream;

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

type ExecFlags = Record<string, string | string[] | boolean | undefined>;

const LIMIT_FLAGS = { timeout: '--timeout', cpuTime: '--cpu-time', memory: '--memory', pids: '--pids', outputLimit: '--output-limit' } as const;

/** The command line's values as ExecOptions: durations, sizes and counts parsed (in flag order,
 *  so the first bad one is the one reported), library options from the configuration (the
 *  config file, then the environment over it; docs/configuration.md). */
function execOptionsFromFlags(positionals: string[], o: ExecFlags, cwd: string | undefined): ExecOptions {
  const typed: Record<string, string> = {};
  for (const [key, flag] of Object.entries(LIMIT_FLAGS)) if (typeof o[key] === 'string') typed[flag] = o[key];
  const config = cliConfig(o.config as string | undefined);
  return {
    lang: o.lang as string | undefined,
    environment: o.env as string | undefined,
    code: o.code as string | undefined,
    program: positionals[0],
    files: o.file as string[] | undefined,
    stdin: o.stdin as string | undefined,
    stdinFile: o.stdinFile as string | undefined,
    args: [...positionals.slice(1), ...((o.arg as string[] | undefined) ?? [])],
    timeoutMs: o.timeout === undefined ? undefined : parseDuration(o.timeout as string, '--timeout'),
    cpuTimeMs: o.cpuTime === undefined ? undefined : parseDuration(o.cpuTime as string, '--cpu-time'),
    memoryBytes: o.memory === undefined ? undefined : parseSize(o.memory as string, '--memory'),
    pids: o.pids === undefined ? undefined : parseCount(o.pids as string, '--pids'),
    outputBytes: o.outputLimit === undefined ? undefined : parseSize(o.outputLimit as string, '--output-limit'),
    json: o.json === true,
    testFlags: { test: o.test as string[] | undefined, tests: o.tests as string | undefined, compare: o.compare as string | undefined, tolerance: o.tolerance as string | undefined, checker: o.checker as string | undefined, stopOnFailure: o.stopOnFailure === true, cwd },
    outputs: o.output as string[] | undefined,
    outputDir: o.outputDir as string | undefined,
    isolation: o.isolation as string | undefined,
    cwd,
    typed,
    cyloOptions: config.cyloOptions,
    config,
  };
}

/** True when `--json` is among cylo's own options (before any `--`) in the process's arguments. */
function jsonRequested(argv: readonly string[] = process.argv): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

/** An unknown option says where a program's own options go: cylo's options are taken anywhere
 *  before `--` (as git, gcc and most tools do), so `cylo exec main.py --verbose` is refused
 *  rather than passed on silently; `cylo exec main.py -- --verbose` passes it. */
export function withPassThroughHint(text: string): string {
  const unknown = /unknown option '([^']+)'/.exec(text);
  if (unknown === null) return text;
  // A likely typo (commander found a close option): the suggestion first, on the same line.
  const suggestion = /\n?\(Did you mean (\S+)\?\)/.exec(text);
  if (suggestion !== null) {
    const rest = text.replace(suggestion[0], '');
    return rest.replace(unknown[0], `${unknown[0]}: did you mean ${suggestion[1]}? (to pass ${unknown[1]} to the program instead, put it after --: cylo exec FILE -- ${unknown[1]})`);
  }
  return text.replace(unknown[0], `${unknown[0]}; cylo exec takes its own options anywhere before --, so to pass ${unknown[1]} to the program put it after --: cylo exec FILE -- ${unknown[1]}`);
}

/** commander's own usage errors (an unknown option, a missing value): with --json, the same JSON
 *  error object as every other cylo failure, on stdout, and nothing on stderr. */
function jsonAwareOutput({ argv, io }: CliContext): OutputConfiguration {
  return {
    outputError: (text: string, write: (s: string) => void): void => {
      if (!jsonRequested(argv)) return write(withPassThroughHint(text));
      const message = withPassThroughHint(text.trim().replace(/^error: /, ''));
      io.stdout.write(`${JSON.stringify(new CyloError('CYLO_E_USAGE', message).toJSON())}\n`);
    },
    writeErr: (text: string): void => {
      if (!jsonRequested(argv)) io.stderr.write(text);
    },
  };
}

/** Declares `cylo exec` on the program: its argument, options, help and action, which runs in
 *  `context` (this process, or the resident cylo for a client: ../resident/session.ts). */
export function register(program: Command, context: CliContext = processContext()): Command {
  return program
    .command('exec')
    .description('run code in the sandbox; the exit code is the program\'s (124 timeout, 137 memory/output limit, 125 cylo error)')
    .usage('[options] [FILE | - | CODE] [ARGS...]   (-- ends the options: cylo exec main.py -- --flag)')
    .argument('[program]', 'a FILE to run (its language from the extension; cylo\'s stdin goes to it), - to read the code from stdin, or (compat) the code itself; default: code from stdin')
    .argument('[args...]', 'arguments for the program (after --, they may start with -)')
    .option('-c, --code <code>', 'the program text inline, as python -c (then the first argument is an ARG)')
    .option('-l, --lang <language>', 'language id or alias (python, js, bash, ...); inferred from the FILE\'s extension when omitted')
    .option('-e, --env <name>', 'a named environment of the language: read-only packages (e.g. datasci; cylo runtimes lists them)')
    .option('-f, --file <path>', 'a source file (repeatable; the first is the entry point)', collect)
    .option('--stdin <text>', 'text for the program\'s standard input')
    .option('--stdin-file <path>', 'a file for the program\'s standard input')
    .option('-a, --arg <value>', 'an argument for the program (repeatable, after the positional ARGS)', collect)
    .option('-t, --timeout <duration>', 'wall-clock limit: 500ms, 5s, 2m; a bare number is seconds (default 10s)')
    .option('--cpu-time <duration>', 'CPU-time limit, as --timeout (default 10s)')
    .option('-m, --memory <size>', 'memory limit: 256M, 1G (a unit is required; default 256M)')
    .option('--pids <n>', 'process/thread limit (default 64)')
    .option('--output-limit <size>', 'bytes kept per output stream: 64K, 1M (a unit is required; default 1M)')
    .option('--test <in[:expected]>', 'a test case: its input file, and optionally its expected-output file (repeatable; the program is compiled once; exit 1 unless every case is accepted)', collect)
    .option('--tests <dir>', 'test cases from a folder: every NAME.in, with NAME.out (or NAME.ans) as its expected output')
    .option('--compare <mode>', 'how outputs are compared: lines (default: trailing whitespace ignored), exact, tokens, numeric')
    .option('--tolerance <x>', 'numeric comparison: absolute or relative tolerance (default 1e-6)')
    .option('--checker <file>', 'a checker program: run as CHECKER input.txt output.txt answer.txt; exit 0 accepts, 1 or 2 rejects')
    .option('--stop-on-failure', 'skip the remaining test cases after the first that is not accepted')
    .option('--output <pattern>', 'bring back the files the program writes that match PATTERN ("*.png", "out/**"; repeatable) and write them under --output-dir', collect)
    .option('--output-dir <dir>', 'where --output files are written (created if missing; default: the current directory); existing symlinks there are never followed')
    .option('--isolation <kind>', 'namespaces (the namespace sandbox on this kernel) or microvm (its own guest kernel in a VM; needs KVM, or CYLO_MICROVM_ALLOW_TCG=1); default: the configuration\'s isolation')
    .option('--json', 'print the whole result object as JSON instead of the program\'s output (and cylo\'s errors as a JSON error object)')
    .option('--config <path>', CONFIG_OPTION_HELP)
    .configureOutput(jsonAwareOutput(context))
    .action(async (program: string | undefined, args: string[], o: ExecFlags) => {
      let options: ExecOptions;
      try {
        options = execOptionsFromFlags(program === undefined ? [] : [program, ...args], o, context.cwd);
      } catch (error) {
        if (!(error instanceof CyloError)) throw error;
        reportError(error, o.json === true, context.io);
        context.setExitCode(EXIT_CYLO_FAILURE);
        return;
      }
      const cylo = context.cylo === undefined ? {} : { cylo: context.cylo };
      context.setExitCode(await context.untilTerminated((signal) => execCommand({ ...options, ...cylo, signal }, context.io)));
    });
}
