// `cylo exec`: run code in the sandbox and behave like the program itself: its stdout and
// stderr (live, as they are produced), its exit code; 124 on timeout, 137 when killed for
// memory or output, 125 when cylo itself fails. With --json, the whole result object instead.
// Also its command-line declaration (register), which main.ts assembles into the program.
import { readFile } from 'node:fs/promises';
import { basename, extname, isAbsolute, normalize } from 'node:path';
import type { Command } from 'commander';
import { createCylo, type Cylo, type CyloOptions } from '../../cylo.js';
import type { ExecuteRequest } from '../../api/request.js';
import { CyloError } from '../../errors.js';
import { EXIT_CYLO_FAILURE, exitCodeFor } from '../exit-codes.js';
import { processIO, readAll, type CommandIO } from '../../util/io.js';
import { parseCount, parseDuration, parseSize } from '../../util/units.js';
import { cyloOptionsFromEnvironment } from '../cylo-options.js';
import { untilAborted, untilTerminated } from '../termination.js';

export interface ExecOptions {
  lang?: string;
  code?: string;
  files?: string[];
  stdin?: string;
  stdinFile?: string;
  args?: string[];
  timeoutMs?: number;
  cpuTimeMs?: number;
  memoryBytes?: number;
  pids?: number;
  outputBytes?: number;
  json?: boolean;
  /** Ends the execution (every process of it killed, its cgroup removed) when aborted: the
   *  CLI's SIGINT/SIGTERM/SIGHUP (src/cli/termination.ts). Nothing is printed for it. */
  signal?: AbortSignal;
  /** Use this instance instead of creating one (library use, tests). */
  cylo?: Cylo;
  cyloOptions?: CyloOptions;
}

/** The request name of a --file: its relative path when it stays inside the current folder. */
function requestName(path: string): string {
  const n = normalize(path);
  return isAbsolute(n) || n.startsWith('..') ? basename(n) : n;
}

async function languageFor(options: ExecOptions, cylo: Cylo): Promise<string> {
  if (options.lang !== undefined) return options.lang;
  const first = options.files?.[0];
  if (first !== undefined) {
    const ext = extname(first);
    const found = cylo.registry.ids().map((id) => cylo.registry.get(id)).find((d) => d.extension === ext);
    if (found !== undefined) return found.id;
    throw new CyloError('CYLO_E_USAGE', `--lang: cannot tell the language of ${first} from its extension; pass --lang`, { field: '--lang' });
  }
  throw new CyloError('CYLO_E_USAGE', '--lang: which language? e.g. cylo exec --lang python "print(1)"', { field: '--lang' });
}

/** The program: its --file sources (read and base64-encoded), else the inline code, else stdin. */
async function addProgram(request: ExecuteRequest, options: ExecOptions, io: CommandIO): Promise<void> {
  if (options.files !== undefined && options.files.length > 0) {
    if (options.code !== undefined) throw new CyloError('CYLO_E_USAGE', 'give the code either inline or with --file, not both', { field: '--file' });
    request.files = await Promise.all(
      options.files.map(async (p) => {
        const content = await readFile(p).catch((e: NodeJS.ErrnoException) => {
          throw new CyloError('CYLO_E_USAGE', `--file: cannot read ${p} (${e.code ?? e.message})`, { field: '--file' });
        });
        return { name: requestName(p), content: content.toString('base64'), encoding: 'base64' as const };
      }),
    );
  } else {
    request.code = options.code ?? (await readAll(io.stdin)).toString('utf8');
  }
}

/** The program's standard input: --stdin or the content of --stdin-file (not both). */
async function addStdin(request: ExecuteRequest, options: ExecOptions): Promise<void> {
  if (options.stdin !== undefined && options.stdinFile !== undefined) throw new CyloError('CYLO_E_USAGE', 'use --stdin or --stdin-file, not both', { field: '--stdin' });
  if (options.stdin !== undefined) request.stdin = options.stdin;
  if (options.stdinFile !== undefined) {
    request.stdin = (
      await readFile(options.stdinFile).catch((e: NodeJS.ErrnoException) => {
        throw new CyloError('CYLO_E_USAGE', `--stdin-file: cannot read ${options.stdinFile} (${e.code ?? e.message})`, { field: '--stdin-file' });
      })
    ).toString('utf8');
  }
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

/** The execution request the options describe; throws CYLO_E_USAGE naming the flag. */
async function buildRequest(options: ExecOptions, cylo: Cylo, io: CommandIO): Promise<ExecuteRequest> {
  const request: ExecuteRequest = { language: await languageFor(options, cylo) };
  await addProgram(request, options, io);
  await addStdin(request, options);
  if (options.args !== undefined) request.args = options.args;
  addLimits(request, options);
  return request;
}

/** Runs the request and reports it: the program's output live (or the result as JSON), then
 *  the compiler's output and cylo's message when the program did not get to run normally. */
async function runAndReport(cylo: Cylo, request: ExecuteRequest, json: boolean, io: CommandIO, signal?: AbortSignal): Promise<number> {
  const live = !json;
  const result = await cylo.execute(request, {
    signal,
    onEvent: (event) => {
      if (!live || event.type === 'state' || event.stage !== 'run') return;
      (event.type === 'stdout' ? io.stdout : io.stderr).write(event.data);
    },
  });
  if (!live) {
    io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return exitCodeFor(result);
  }
  if (result.status === 'compile_error' && result.compile !== null) {
    io.stdout.write(result.compile.stdout);
    io.stderr.write(result.compile.stderr);
  }
  const stage = result.run ?? result.compile;
  const message = result.run?.message ?? result.compile?.message;
  // A runtime error speaks for itself (its stderr), unless a limit broke it: then say which.
  if (result.status !== 'ok' && (result.status !== 'runtime_error' || stage?.limit != null) && message) {
    io.stderr.write(`cylo: ${result.status}: ${message}${stage?.limit == null ? '' : ` (limit: ${stage.limit})`}\n`);
  }
  return exitCodeFor(result);
}

export async function execCommand(options: ExecOptions, io: CommandIO): Promise<number> {
  // One execution, then exit: no spare sandbox prepared ahead for a next one that never comes.
  const cylo = options.cylo ?? createCylo({ prepare: false, ...options.cyloOptions });
  try {
    const request = await untilAborted(buildRequest(options, cylo, io), options.signal);
    return await runAndReport(cylo, request, options.json === true, io, options.signal);
  } catch (error) {
    // Stopped by the caller (Ctrl-C): as a shell, say nothing; the caller picks the exit code.
    if (error instanceof CyloError && error.code === 'CYLO_E_CANCELLED' && options.signal?.aborted === true) return EXIT_CYLO_FAILURE;
    if (error instanceof CyloError) {
      io.stderr.write(`cylo: ${error.message}\n`);
      return EXIT_CYLO_FAILURE;
    }
    throw error;
  } finally {
    if (options.cylo === undefined) await cylo.close();
  }
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

type ExecFlags = Record<string, string | string[] | boolean | undefined>;

/** The command line's values as ExecOptions: durations, sizes and counts parsed (in flag order,
 *  so the first bad one is the one reported), library options from the environment. */
function execOptionsFromFlags(code: string | undefined, o: ExecFlags): ExecOptions {
  return {
    lang: o.lang as string | undefined,
    code,
    files: o.file as string[] | undefined,
    stdin: o.stdin as string | undefined,
    stdinFile: o.stdinFile as string | undefined,
    args: o.arg as string[] | undefined,
    timeoutMs: o.timeout === undefined ? undefined : parseDuration(o.timeout as string, '--timeout'),
    cpuTimeMs: o.cpuTime === undefined ? undefined : parseDuration(o.cpuTime as string, '--cpu-time'),
    memoryBytes: o.memory === undefined ? undefined : parseSize(o.memory as string, '--memory'),
    pids: o.pids === undefined ? undefined : parseCount(o.pids as string, '--pids'),
    outputBytes: o.outputLimit === undefined ? undefined : parseSize(o.outputLimit as string, '--output-limit'),
    json: o.json === true,
    cyloOptions: cyloOptionsFromEnvironment(),
  };
}

/** Declares `cylo exec` on the program: its argument, options, help and action. */
export function register(program: Command): Command {
  return program
    .command('exec')
    .description('run code in the sandbox; the exit code is the program\'s (124 timeout, 137 memory/output limit, 125 cylo error)')
    .argument('[code]', 'the program text (default: read from stdin, or use --file)')
    .option('-l, --lang <language>', 'language id or alias (python, js, bash, ...); inferred from --file when omitted')
    .option('-f, --file <path>', 'a source file (repeatable; the first is the entry point)', collect)
    .option('--stdin <text>', 'text for the program\'s standard input')
    .option('--stdin-file <path>', 'a file for the program\'s standard input')
    .option('-a, --arg <value>', 'an argument for the program (repeatable)', collect)
    .option('-t, --timeout <duration>', 'wall-clock limit, e.g. 500ms, 5s (default 10s)')
    .option('--cpu-time <duration>', 'CPU-time limit (default 10s)')
    .option('-m, --memory <size>', 'memory limit, e.g. 256M, 1G (default 256M)')
    .option('--pids <n>', 'process/thread limit (default 64)')
    .option('--output-limit <size>', 'bytes kept per output stream (default 1M)')
    .option('--json', 'print the whole result object as JSON instead of the program\'s output')
    .action(async (code: string | undefined, o: ExecFlags) => {
      process.exitCode = await untilTerminated((signal) => execCommand({ ...execOptionsFromFlags(code, o), signal }, processIO));
    });
}
