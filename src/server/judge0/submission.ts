// A cylo result rendered as a Judge0 submission (pure: the synchronous route and an asynchronous
// adapter share it): the status (./statuses.ts), stdout / stderr / compile_output / message
// (null when empty, as Judge0), exit_code, exit_signal (a number), time and wall_time (seconds
// as strings with 3 decimals), memory (KB), the submission's own fields, and `fields` filtering.
// Text goes out as base64 with base64_encoded=true; otherwise it must be valid UTF-8, else
// Judge0's conversion error is the answer (the client is told to use base64_encoded=true).
import type { ExecutionResult, Stage, StageLimit } from '../../api/result.js';
import type { TestCaseResult } from '../../api/verdict.js';
import { CyloError } from '../../errors.js';
import { signalNumber } from '../../util/signals.js';
import type { Judge0Translation } from './request.js';
import { judge0Status, representativeCase, resultStatusId, verdictId, type Judge0Status, type Judge0StatusId } from './statuses.js';

/** Judge0's default fields of a submission. */
export const DEFAULT_FIELDS = ['token', 'time', 'memory', 'stdout', 'stderr', 'compile_output', 'message', 'status'] as const;

/** Every field a submission has (`fields=*`); `cylo_limit` is cylo's extension. */
export const ALL_FIELDS = [
  'source_code', 'language_id', 'stdin', 'expected_output', 'stdout', 'status_id', 'created_at', 'finished_at', 'time', 'memory', 'stderr', 'token',
  'number_of_runs', 'cpu_time_limit', 'cpu_extra_time', 'wall_time_limit', 'memory_limit', 'stack_limit', 'max_processes_and_or_threads',
  'enable_per_process_and_thread_time_limit', 'enable_per_process_and_thread_memory_limit', 'max_file_size', 'compile_output', 'exit_code',
  'exit_signal', 'message', 'wall_time', 'compiler_options', 'command_line_arguments', 'redirect_stderr_to_stdout', 'callback_url',
  'additional_files', 'enable_network', 'status', 'language', 'cylo_limit',
] as const;

/** Text fields: base64 with base64_encoded=true, else UTF-8 (or the conversion error). */
const TEXT_FIELDS = new Set(['source_code', 'stdin', 'expected_output', 'stdout', 'stderr', 'compile_output', 'message']);

export const UTF8_ERROR = 'some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter';

/** The requested fields: the default set, `*` for all, or a comma-separated list. Throws
 *  CYLO_E_VALIDATION (field `fields`, answered 400 `invalid fields: [...]`) for unknown names. */
export function requestedFields(fields: string | undefined): readonly string[] {
  if (fields === undefined || fields.trim() === '') return DEFAULT_FIELDS;
  const names = fields.split(',').map((f) => f.trim()).filter((f) => f !== '');
  if (names.includes('*')) return ALL_FIELDS;
  const unknown = names.filter((f) => !(ALL_FIELDS as readonly string[]).includes(f));
  if (unknown.length > 0) throw new CyloError('CYLO_E_VALIDATION', `invalid fields: [${unknown.join(', ')}]`, { field: 'fields' });
  return names;
}

/** What a finished submission reports from its execution. */
interface Outcome {
  status: Judge0Status;
  stdout: Buffer | null;
  stderr: Buffer | null;
  compileOutput: Buffer | null;
  message: string | null;
  exitCode: number | null;
  exitSignal: number | null;
  time: string | null;
  wallTime: string | null;
  memory: number | null;
  limit: StageLimit | null;
}

const nonEmpty = (b: Buffer): Buffer | null => (b.length === 0 ? null : b);
const fromBase64 = (s: string): Buffer => Buffer.from(s, 'base64');
const seconds = (ms: number): string => (ms / 1000).toFixed(3);
const mean = (xs: number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/** Judge0's message for a run that has none of cylo's own (isolate's wording). */
function runMessage(id: Judge0StatusId, run: Pick<Stage, 'exitCode' | 'signal' | 'message'>): string | null {
  if (run.message !== null) return run.message;
  if (id === 11 && run.exitCode !== null) return `Exited with error status ${run.exitCode}`;
  const signal = run.signal === null ? undefined : signalNumber(run.signal);
  if (id >= 7 && id <= 12 && signal !== undefined) return `Caught fatal signal ${signal}`;
  return null;
}

/** The outcome of a result: its run stage, or (test cases) the representative case with time
 *  and memory averaged over the cases that ran (number_of_runs, as Judge0). */
export function outcomeOf(result: ExecutionResult): Outcome {
  const compile = result.compile;
  const compileOutput = compile === null ? null : nonEmpty(Buffer.concat([fromBase64(compile.stdout), fromBase64(compile.stderr)]));
  const base = { compileOutput, stdout: null, stderr: null, exitCode: null, exitSignal: null, time: null, wallTime: null, memory: null };
  if (compile !== null && compile.status !== 'ok') {
    const id: Judge0StatusId = compile.status === 'internal_error' ? 13 : 6;
    return { ...base, status: judge0Status(id), message: compile.message, limit: compile.limit };
  }
  const tests = result.tests;
  let run: Omit<Stage, 'status'> | TestCaseResult | null = result.run;
  let id: Judge0StatusId = resultStatusId(result);
  let ran: Array<Pick<Stage, 'cpuMs' | 'wallMs' | 'memoryBytes'>> = run === null ? [] : [run];
  if (tests !== undefined) {
    const chosen = representativeCase(tests);
    run = chosen ?? null;
    id = chosen === undefined ? 13 : verdictId(chosen.verdict, chosen);
    ran = tests.filter((t) => t.status !== null);
  }
  if (run === null) return { ...base, status: judge0Status(13), message: 'the execution produced no run', limit: null };
  const signal = run.signal === null ? null : (signalNumber(run.signal) ?? null);
  return {
    compileOutput,
    status: judge0Status(id),
    stdout: nonEmpty(fromBase64(run.stdout)),
    stderr: nonEmpty(fromBase64(run.stderr)),
    message: runMessage(id, run),
    exitCode: run.exitCode,
    exitSignal: signal,
    time: seconds(mean(ran.map((r) => r.cpuMs))),
    wallTime: seconds(mean(ran.map((r) => r.wallMs))),
    memory: Math.round(mean(ran.map((r) => r.memoryBytes)) / 1024),
    limit: run.limit,
  };
}

/** One submission as Judge0 stores it: what was asked, and the result once there is one. */
export interface SubmissionRecord {
  token: string;
  createdAt: Date;
  finishedAt: Date | null;
  translation: Judge0Translation;
  /** The submission as sent (for the fields it echoes). */
  input: { compiler_options?: string | null | undefined; command_line_arguments?: string | null | undefined; callback_url?: string | null | undefined; additional_files?: string | null | undefined };
  /** null while queued or running (async). */
  result: ExecutionResult | null;
  /** 1 In Queue or 2 Processing while there is no result. */
  pendingStatus?: 1 | 2;
}

/** Every field of a submission, text as Buffers (encoded by renderSubmission). */
function allValues(record: SubmissionRecord): Record<string, unknown> {
  const t = record.translation;
  const o: Outcome | null = record.result === null ? null : outcomeOf(record.result);
  const status = o?.status ?? judge0Status(record.pendingStatus ?? 1);
  return {
    source_code: t.sourceCode, language_id: t.language.id, stdin: nonEmpty(t.stdin), expected_output: t.expectedOutput, stdout: o?.stdout ?? null,
    status_id: status.id, created_at: record.createdAt.toISOString(), finished_at: record.finishedAt?.toISOString() ?? null, time: o?.time ?? null,
    memory: o?.memory ?? null, stderr: o?.stderr ?? null, token: record.token, number_of_runs: t.settings.number_of_runs,
    cpu_time_limit: String(t.settings.cpu_time_limit), cpu_extra_time: '0.0', wall_time_limit: String(t.settings.wall_time_limit),
    memory_limit: t.settings.memory_limit, stack_limit: t.settings.memory_limit, max_processes_and_or_threads: t.settings.max_processes_and_or_threads,
    enable_per_process_and_thread_time_limit: false, enable_per_process_and_thread_memory_limit: false, max_file_size: null,
    compile_output: o?.compileOutput ?? null, exit_code: o?.exitCode ?? null, exit_signal: o?.exitSignal ?? null,
    message: o?.message === null || o?.message === undefined ? null : Buffer.from(o.message, 'utf8'), wall_time: o?.wallTime ?? null,
    compiler_options: record.input.compiler_options ?? null, command_line_arguments: record.input.command_line_arguments ?? null,
    redirect_stderr_to_stdout: t.settings.redirect_stderr_to_stdout, callback_url: t.callbackUrl, additional_files: record.input.additional_files ?? null,
    enable_network: false, status, language: { id: t.language.id, name: t.language.name }, cylo_limit: o?.limit ?? null,
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The submission with the requested `fields`; text fields as base64 (`base64: true`) or as
 *  UTF-8 text. Returns `{ error: UTF8_ERROR }` when a text field is not valid UTF-8 and base64
 *  was not asked for. */
export function renderSubmission(record: SubmissionRecord, options: { base64: boolean; fields: readonly string[] }): { ok: true; body: Record<string, unknown> } | { ok: false; error: string } {
  const values = allValues(record);
  const body: Record<string, unknown> = {};
  for (const field of options.fields) {
    const value = values[field];
    if (TEXT_FIELDS.has(field) && Buffer.isBuffer(value)) {
      if (options.base64) body[field] = value.toString('base64');
      else {
        try {
          body[field] = utf8.decode(value);
        } catch {
          return { ok: false, error: UTF8_ERROR };
        }
      }
    } else body[field] = value ?? null;
  }
  return { ok: true, body };
}
