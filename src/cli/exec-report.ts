// How `cylo exec` speaks when the program did not simply exit: a signal death as a shell says it
// (bash's one line: "Segmentation fault", "Aborted", "Killed"), and cylo's own errors — a line on
// stderr, or with --json a JSON error object `{ "error": { code, message, field? } }` on STDOUT (where
// --json puts the result object too, so a script parses one stream; the exit code is still 125).
// Errors about limits name the flag the user typed and speak its unit, not the library's field.
import { CyloError } from '../errors.js';
import type { ExecutionResult } from '../api/result.js';
import { MIN_LIMITS, type LimitName } from '../api/limits.js';
import { formatDuration, formatSize } from '../util/units.js';

/** bash's texts for a process killed by a signal (its siglist.c / strsignal(3)). SIGINT and SIGPIPE
 *  are missing on purpose: bash prints nothing for them (the user pressed Ctrl-C; a reader went away). */
const SHELL_TEXT: Readonly<Record<string, string>> = {
  SIGHUP: 'Hangup',
  SIGQUIT: 'Quit',
  SIGILL: 'Illegal instruction',
  SIGTRAP: 'Trace/breakpoint trap',
  SIGABRT: 'Aborted',
  SIGBUS: 'Bus error',
  SIGFPE: 'Floating point exception',
  SIGKILL: 'Killed',
  SIGUSR1: 'User defined signal 1',
  SIGSEGV: 'Segmentation fault',
  SIGUSR2: 'User defined signal 2',
  SIGALRM: 'Alarm clock',
  SIGTERM: 'Terminated',
  SIGSTKFLT: 'Stack fault',
  SIGXCPU: 'CPU time limit exceeded',
  SIGXFSZ: 'File size limit exceeded',
  SIGVTALRM: 'Virtual timer expired',
  SIGPROF: 'Profiling timer expired',
  SIGIO: 'I/O possible',
  SIGPWR: 'Power failure',
  SIGSYS: 'Bad system call',
};

/** The line a shell prints for a death by `signal` (`"SIGSEGV"` -> `"Segmentation fault"`); undefined
 *  when a shell prints nothing (SIGINT, SIGPIPE). Unknown signals: "Signal N"-like, by name. */
export function shellSignalText(signal: string): string | undefined {
  if (signal === 'SIGINT' || signal === 'SIGPIPE') return undefined;
  return SHELL_TEXT[signal] ?? `Killed by ${signal}`;
}

/** The exec flags that set a limit, and how their values are written. */
const LIMIT_FLAGS: Readonly<Partial<Record<LimitName, { flag: string; format: (n: number) => string }>>> = {
  timeoutMs: { flag: '--timeout', format: formatDuration },
  cpuTimeMs: { flag: '--cpu-time', format: formatDuration },
  memoryBytes: { flag: '--memory', format: formatSize },
  pids: { flag: '--pids', format: String },
  outputBytes: { flag: '--output-limit', format: formatSize },
};

/** A library error about a limit (`limits.memoryBytes: 1048576 is below the minimum of 4194304`)
 *  said in the command line's terms (`--memory: 1M is below the minimum of 4M`): the flag, the
 *  text the user typed (`typed[flag]`), the bound in the flag's unit, and (`maxHint`) where a
 *  maximum is set and can be raised. A bad `isolation` names --isolation. Other errors unchanged. */
export function inFlagTerms(
  error: CyloError,
  typed: Readonly<Record<string, string>>,
  maxLimits: Readonly<Partial<Record<LimitName, number>>>,
  maxHint?: (name: LimitName) => string,
): CyloError {
  if (error.field === 'isolation') {
    // The request's field is the --isolation flag's value: name the flag the user typed.
    return new CyloError(error.code, `--isolation: ${error.message.replace(/^[\w.]+: /, '')}`, { field: '--isolation', cause: error });
  }
  const name = error.field?.startsWith('limits.') === true ? (error.field.slice('limits.'.length) as LimitName) : undefined;
  const spec = name === undefined ? undefined : LIMIT_FLAGS[name];
  if (name === undefined || spec === undefined) return error;
  const value = typed[spec.flag] ?? '';
  let message: string;
  if (error.code === 'CYLO_E_LIMIT_EXCEEDED' && maxLimits[name] !== undefined) {
    message = `${spec.flag}: ${value} is above the maximum of ${spec.format(maxLimits[name])}${maxHint === undefined ? '' : ` (${maxHint(name)})`}`;
  } else if (error.code === 'CYLO_E_VALIDATION' && /below the minimum/.test(error.message)) {
    message = `${spec.flag}: ${value} is below the minimum of ${spec.format(MIN_LIMITS[name])}`;
  } else {
    message = `${spec.flag}: ${error.message.replace(/^[\w.]+: /, '')}`;
  }
  return new CyloError(error.code, message, { field: spec.flag, cause: error });
}

/** Reports cylo's own failure: one line on stderr, or the JSON error object on stdout. */
export function reportError(error: CyloError, json: boolean, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): void {
  if (json) io.stdout.write(`${JSON.stringify(error.toJSON())}\n`);
  else io.stderr.write(`cylo: ${error.message}\n`);
}

/** After the run: the compiler's output on stderr when none was printed live (a cached build),
 *  then a signal death as a shell says it, or cylo's message when a limit or cylo stopped it. */
export function reportOutcome(result: ExecutionResult, compileOutputSeen: boolean, stderr: NodeJS.WritableStream): void {
  if (result.compile !== null && !compileOutputSeen) stderr.write(result.compile.stdout + result.compile.stderr);
  const stage = result.run ?? result.compile;
  const message = result.run?.message ?? result.compile?.message;
  // A runtime error speaks for itself (its stderr, or a shell's line for a signal), unless a limit broke it: then say which.
  if (result.status === 'runtime_error' && stage?.limit == null && result.run?.signal) {
    const text = shellSignalText(result.run.signal);
    if (text !== undefined) stderr.write(`${text}\n`);
  } else if (result.status !== 'ok' && (result.status !== 'runtime_error' || stage?.limit != null) && message) {
    const flag = result.run !== null && stage?.limit != null ? RUN_LIMIT_FLAGS[stage.limit] : undefined;
    stderr.write(`cylo: ${result.status}: ${inFlagUnits(message)}${stage?.limit == null ? '' : ` (limit: ${stage.limit}${flag === undefined ? '' : `; ${flag} sets it`})`}\n`);
  }
}

/** The exec flag that sets each limit a run stage can reach (result.ts's limit names). */
const RUN_LIMIT_FLAGS: Readonly<Record<string, string>> = { wall: '--timeout', cpu: '--cpu-time', memory: '--memory', pids: '--pids', output: '--output-limit' };

/** A result's message in the flags' units: "67108864 bytes" -> "64M", "300 ms" -> "300ms" (the
 *  texts --memory and --timeout read back); the library's own message keeps exact numbers. */
function inFlagUnits(message: string): string {
  return message.replace(/\b(\d+) bytes\b/g, (_, n: string) => formatSize(Number(n))).replace(/\b(\d+) ms\b/g, (_, n: string) => formatDuration(Number(n)));
}
