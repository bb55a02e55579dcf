// A Judge0 submission translated to a cylo request (pure: the synchronous route and an
// asynchronous adapter share it). Field by field (docs/judge0.md has the table):
// source_code -> the language's entry file; stdin; expected_output -> one test case compared
// line by line with trailing whitespace ignored (Judge0's rule); number_of_runs -> that many
// identical test cases; cpu_time_limit / wall_time_limit (s) -> cpuTimeMs / timeoutMs;
// memory_limit (KB) -> memoryBytes; max_processes_and_or_threads -> pids; command_line_arguments
// -> args (./command-line.ts); compiler_options -> compilerOptions (the allowlist);
// redirect_stderr_to_stdout; additional_files -> more files (./zip.ts). Refused: enable_network
// and the per-process limits (cylo cannot honour them). Accepted and ignored, as documented:
// cpu_extra_time, stack_limit, max_file_size. Output always comes back as base64 (the exact
// bytes): ./submission.ts decides how to show it.
import type { ExecuteRequest, ValidationPolicy } from '../../api/request.js';
import { CyloError } from '../../errors.js';
import { splitCommandLine } from './command-line.js';
import { type Judge0Language, unknownLanguageMessage } from './languages.js';
import type { Judge0SubmissionInput } from './schemas.js';
import { unzipBounded } from './zip.js';

/** Judge0's bounds on a submission (its defaults). */
export const MAX_NUMBER_OF_RUNS = 20;
export const MAX_COMMAND_LINE_CHARS = 512;
export const MAX_CALLBACK_URL_CHARS = 2048;

/** A Judge0 validation error: 422 `{ field: [message] }`. */
export function invalid(field: string, message: string): CyloError {
  return new CyloError('CYLO_E_VALIDATION', `${field}: ${message}`, { field });
}

/** The submission's settings in Judge0's units, as the result echoes them. */
export interface Judge0Settings {
  cpu_time_limit: number;
  wall_time_limit: number;
  memory_limit: number;
  max_processes_and_or_threads: number;
  number_of_runs: number;
  redirect_stderr_to_stdout: boolean;
}

/** A translated submission: the cylo request and what the result needs to be rendered. */
export interface Judge0Translation {
  request: ExecuteRequest;
  language: Judge0Language;
  settings: Judge0Settings;
  /** The submission's own text, decoded (echoed by `fields`). */
  sourceCode: Buffer;
  stdin: Buffer;
  expectedOutput: Buffer | null;
  /** Runs as test cases (expected_output or number_of_runs > 1). */
  judged: boolean;
  callbackUrl: string | null;
}

export interface TranslateOptions {
  base64: boolean;
  /** The Judge0 languages installed here (./languages.ts). */
  languages: readonly Judge0Language[];
  policy: ValidationPolicy;
}

/** A text field's bytes: base64-decoded with base64_encoded=true, else UTF-8. */
function bytes(value: string | null | undefined, base64: boolean, field: string): Buffer | null {
  if (value === null || value === undefined) return null;
  if (!base64) return Buffer.from(value, 'utf8');
  const compact = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.replace(/=+$/, '').length % 4 === 1) throw invalid(field, 'is not valid base64 (base64_encoded=true)');
  return Buffer.from(compact, 'base64');
}

/** A positive number within `max` (Judge0's numericality messages), or undefined. */
function positive(value: number | null | undefined, field: string, max: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (!Number.isFinite(value) || value <= 0) throw invalid(field, 'must be greater than 0');
  if (value > max) throw invalid(field, `must be less than or equal to ${max}`);
  return value;
}

/** The language of the submission, or Judge0's 422. */
function language(body: Judge0SubmissionInput, languages: readonly Judge0Language[]): Judge0Language {
  if (body.language_id === null || body.language_id === undefined) throw invalid('language_id', "can't be blank");
  const found = languages.find((l) => l.id === body.language_id);
  if (found === undefined) throw invalid('language_id', unknownLanguageMessage(body.language_id));
  return found;
}

/** Fields cylo cannot honour: refused when they ask for it, checked and ignored otherwise. */
function checkUnsupported(body: Judge0SubmissionInput): void {
  if (body.enable_network === true) throw invalid('enable_network', 'cylo sandboxes have no network; only false is accepted');
  for (const field of ['enable_per_process_and_thread_time_limit', 'enable_per_process_and_thread_memory_limit'] as const) {
    if (body[field] === true) throw invalid(field, 'this option cannot be enabled (cylo limits the sandbox as a whole)');
  }
  for (const field of ['cpu_extra_time', 'stack_limit', 'max_file_size'] as const) positive(body[field], field, Number.MAX_SAFE_INTEGER);
}

/** The limits, in Judge0's units and as cylo limits. */
function limitsOf(body: Judge0SubmissionInput, policy: ValidationPolicy, languageId: string): { limits: NonNullable<ExecuteRequest['limits']>; settings: Omit<Judge0Settings, 'number_of_runs' | 'redirect_stderr_to_stdout'> } {
  const max = policy.maxLimits;
  const defaults = { ...policy.defaultLimits, ...policy.languageLimits?.(languageId) };
  const cpu = positive(body.cpu_time_limit, 'cpu_time_limit', max.cpuTimeMs / 1000);
  const wall = positive(body.wall_time_limit, 'wall_time_limit', max.timeoutMs / 1000);
  const memory = positive(body.memory_limit, 'memory_limit', Math.floor(max.memoryBytes / 1024));
  const pids = positive(body.max_processes_and_or_threads, 'max_processes_and_or_threads', max.pids);
  const limits: NonNullable<ExecuteRequest['limits']> = {};
  if (cpu !== undefined) limits.cpuTimeMs = Math.ceil(cpu * 1000);
  if (wall !== undefined) limits.timeoutMs = Math.ceil(wall * 1000);
  if (memory !== undefined) limits.memoryBytes = Math.ceil(memory) * 1024;
  if (pids !== undefined) limits.pids = pids;
  const settings = {
    cpu_time_limit: cpu ?? Math.min(defaults.cpuTimeMs, max.cpuTimeMs) / 1000,
    wall_time_limit: wall ?? Math.min(defaults.timeoutMs, max.timeoutMs) / 1000,
    memory_limit: memory ?? Math.floor(Math.min(defaults.memoryBytes, max.memoryBytes) / 1024),
    max_processes_and_or_threads: pids ?? Math.min(defaults.pids, max.pids),
  };
  return { limits, settings };
}

/** The source file and the additional files (names checked, no clash with the source). */
function filesOf(body: Judge0SubmissionInput, source: Buffer, entry: string, policy: ValidationPolicy): NonNullable<ExecuteRequest['files']> {
  const files = [{ name: entry, content: source.toString('base64'), encoding: 'base64' as const }];
  const zip = bytes(body.additional_files, true, 'additional_files');
  if (zip === null || zip.length === 0) return files;
  const extra = unzipBounded(zip, { maxFiles: Math.max(0, policy.bounds.maxFiles - 1), maxBytes: policy.bounds.maxFilesBytes });
  for (const f of extra) {
    if (f.name === entry) throw invalid('additional_files', `the entry ${JSON.stringify(f.name)} has the name of the source file; rename it`);
    files.push({ name: f.name, content: f.content.toString('base64'), encoding: 'base64' });
  }
  return files;
}

/** callback_url checked (http or https, an absolute URL); null when not given. */
function callbackUrlOf(value: string | null | undefined): string | null {
  if (value === null || value === undefined || value === '') return null;
  if (value.length > MAX_CALLBACK_URL_CHARS) throw invalid('callback_url', `must be at most ${MAX_CALLBACK_URL_CHARS} characters`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid('callback_url', 'is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('callback_url', 'must be an http or https URL');
  return url.toString();
}

/** A string field split like a shell would (no expansion), at most 512 characters. */
function splitField(value: string | null | undefined, field: string): string[] {
  if (value === null || value === undefined) return [];
  if (value.length > MAX_COMMAND_LINE_CHARS) throw invalid(field, `is too long (maximum is ${MAX_COMMAND_LINE_CHARS} characters)`);
  return splitCommandLine(value, field);
}

/** Translates a (schema-valid) Judge0 submission. Throws CyloError naming the Judge0 field. */
export function judge0ToCyloRequest(body: Judge0SubmissionInput, options: TranslateOptions): Judge0Translation {
  const { base64, policy } = options;
  const lang = language(body, options.languages);
  const sourceCode = bytes(body.source_code, base64, 'source_code');
  if (sourceCode === null || sourceCode.length === 0) throw invalid('source_code', "can't be blank");
  checkUnsupported(body);
  const runs = positive(body.number_of_runs, 'number_of_runs', MAX_NUMBER_OF_RUNS) ?? 1;
  const stdin = bytes(body.stdin, base64, 'stdin') ?? Buffer.alloc(0);
  const expectedOutput = bytes(body.expected_output, base64, 'expected_output');
  const { limits, settings } = limitsOf(body, policy, lang.runtime);
  const redirect = body.redirect_stderr_to_stdout === true;
  const request: ExecuteRequest = {
    language: lang.runtime,
    files: filesOf(body, sourceCode, policy.defaultEntry(lang.runtime), policy),
    stdin: stdin.toString('base64'),
    stdinEncoding: 'base64',
    outputEncoding: 'base64',
    args: splitField(body.command_line_arguments, 'command_line_arguments'),
  };
  const compilerOptions = splitField(body.compiler_options, 'compiler_options');
  if (compilerOptions.length > 0) request.compilerOptions = compilerOptions;
  if (Object.keys(limits).length > 0) request.limits = limits;
  if (redirect) request.redirectStderrToStdout = true;
  const judged = expectedOutput !== null || runs > 1;
  if (judged) {
    // Identical cases: the request's stdin and args; the expected output as UTF-8 text.
    const expected = expectedOutput === null ? {} : { expectedOutput: expectedOutput.toString('utf8') };
    request.tests = Array.from({ length: runs }, () => ({ ...expected }));
    if (expectedOutput !== null) request.comparison = { mode: 'lines' };
  }
  return {
    request,
    language: lang,
    settings: { ...settings, number_of_runs: runs, redirect_stderr_to_stdout: redirect },
    sourceCode,
    stdin,
    expectedOutput,
    judged,
    callbackUrl: callbackUrlOf(body.callback_url),
  };
}

/** The Judge0 field a cylo request field came from (for errors the engine raises). */
export function judge0Field(field: string | undefined): string | undefined {
  if (field === undefined) return undefined;
  const rules: ReadonlyArray<readonly [RegExp, string]> = [
    [/^language$/, 'language_id'],
    [/^(code|files(\[0\].*)?)$/, 'source_code'],
    [/^files/, 'additional_files'],
    [/^(stdin|tests\[\d+\]\.stdin)$/, 'stdin'],
    [/^args/, 'command_line_arguments'],
    [/^compilerOptions/, 'compiler_options'],
    [/^(limits|tests\[\d+\]\.limits)\.timeoutMs$/, 'wall_time_limit'],
    [/^(limits|tests\[\d+\]\.limits)\.cpuTimeMs$/, 'cpu_time_limit'],
    [/^(limits|tests\[\d+\]\.limits)\.(memoryBytes|workspaceBytes)$/, 'memory_limit'],
    [/^(limits|tests\[\d+\]\.limits)\.pids$/, 'max_processes_and_or_threads'],
    [/^tests\[\d+\]\.expectedOutput$/, 'expected_output'],
    [/^tests$/, 'number_of_runs'],
    [/^redirectStderrToStdout$/, 'redirect_stderr_to_stdout'],
  ];
  return rules.find(([re]) => re.test(field))?.[1] ?? field;
}
