// The Judge0 API's informational answers: /about, /config_info (cylo's real defaults and
// maxima in Judge0's names and units: seconds, kilobytes), /system_info, and a language's
// details (/languages/{id}). Pure, from the cylo instance's policy and runtimes.
import { arch, cpus, totalmem } from 'node:os';
import type { Cylo, RuntimeInfo } from '../../cylo.js';
import type { RuntimeDefinition } from '../../runtimes/definition.js';
import { cyloVersion } from '../../version.js';
import type { Judge0Language } from './languages.js';
import { MAX_NUMBER_OF_RUNS } from './request.js';

/** The Judge0 batch size (the batch endpoints come with the submissions service). */
export const MAX_SUBMISSION_BATCH_SIZE = 20;

export function about(): Record<string, string | null> {
  return { version: cyloVersion(), homepage: null, source_code: null, maintainer: 'cylo (a Judge0-compatible API over cylo sandboxes; see docs/judge0.md)' };
}

const kb = (bytes: number): number => Math.floor(bytes / 1024);
const s = (ms: number): number => ms / 1000;

/** /config_info: what this server accepts, in Judge0's fields. `asyncSubmissions`: whether
 *  submissions without wait=true (and callbacks, batches) are served. */
export function configInfo(cylo: Pick<Cylo, 'policy' | 'stats'>, languages: readonly Judge0Language[], asyncSubmissions: boolean): Record<string, unknown> {
  const { defaultLimits: d, maxLimits: m, bounds } = cylo.policy;
  const compilable = languages.filter((l) => !l.is_archived && cylo.policy.compilerOptions?.accepts(l.runtime) === true).map((l) => l.name);
  return {
    maintenance_mode: false,
    enable_wait_result: true,
    enable_compiler_options: compilable.length > 0,
    allowed_languages_for_compile_options: compilable,
    enable_command_line_arguments: true,
    enable_submission_delete: false,
    enable_callbacks: asyncSubmissions,
    callbacks_max_tries: asyncSubmissions ? 3 : 0,
    callbacks_timeout: asyncSubmissions ? 5 : 0,
    enable_additional_files: true,
    max_queue_size: cylo.stats().queueLimit,
    cpu_time_limit: s(d.cpuTimeMs),
    max_cpu_time_limit: s(m.cpuTimeMs),
    cpu_extra_time: 0,
    max_cpu_extra_time: 0,
    wall_time_limit: s(d.timeoutMs),
    max_wall_time_limit: s(m.timeoutMs),
    memory_limit: kb(d.memoryBytes),
    max_memory_limit: kb(m.memoryBytes),
    stack_limit: kb(d.memoryBytes),
    max_stack_limit: kb(m.memoryBytes),
    max_processes_and_or_threads: d.pids,
    max_max_processes_and_or_threads: m.pids,
    enable_per_process_and_thread_time_limit: false,
    allow_enable_per_process_and_thread_time_limit: false,
    enable_per_process_and_thread_memory_limit: false,
    allow_enable_per_process_and_thread_memory_limit: false,
    max_file_size: kb(d.workspaceBytes),
    max_max_file_size: kb(m.workspaceBytes),
    number_of_runs: 1,
    max_number_of_runs: MAX_NUMBER_OF_RUNS,
    redirect_stderr_to_stdout: false,
    max_extract_size: kb(bounds.maxFilesBytes),
    enable_batched_submissions: asyncSubmissions,
    max_submission_batch_size: MAX_SUBMISSION_BATCH_SIZE,
    submission_cache_duration: 0,
    use_docs_as_homepage: false,
    allow_enable_network: false,
    enable_network: false,
  };
}

/** /system_info: a few facts about the machine (Judge0 prints lscpu's). */
export function systemInfo(): Record<string, string> {
  const list = cpus();
  return { Architecture: arch(), 'CPU(s)': String(list.length), 'Model name': list[0]?.model ?? 'unknown', Mem: `${Math.round(totalmem() / 1024 / 1024)} MiB` };
}

/** /languages/{id}: the language with its source file and commands (the runtime's templates). */
export function languageDetail(language: Judge0Language, def: RuntimeDefinition | undefined, info: RuntimeInfo | undefined): Record<string, unknown> {
  const compile = def?.compile?.argv.join(' ') ?? null;
  return {
    id: language.id,
    name: language.name,
    is_archived: language.is_archived,
    source_file: def?.entry ?? info?.extension ?? '',
    compile_cmd: compile,
    run_cmd: def?.run.argv.join(' ') ?? '',
  };
}
