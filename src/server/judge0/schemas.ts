// The Judge0 API's schemas, in zod (they validate requests and document /openapi.json). Judge0
// is a Rails application: numbers and booleans may come as JSON strings ("5", "true"), any field
// may be null (= not given), and fields it does not know are ignored; so are they here.
import { z } from 'zod';

const numeric = z
  .union([z.number(), z.string().trim().regex(/^[+-]?(\d+(\.\d*)?|\.\d+)$/, 'expected a number').transform(Number)])
  .nullish();
const integer = z
  .union([z.number().int(), z.string().trim().regex(/^[+-]?\d+$/, 'expected a whole number').transform(Number)])
  .nullish();
const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).nullish();
const text = z.string().nullish();

export const judge0SubmissionSchema = z
  .object({
    source_code: text.describe('The program (base64 with base64_encoded=true). Required.'),
    language_id: integer.describe('A Judge0 language id (GET /languages). Required.'),
    compiler_options: text.describe('Compiler flags (C, C++), split on whitespace and checked against the server\'s allowlist (docs/judge0.md).'),
    command_line_arguments: text.describe('The program\'s arguments as one string, split with shell quoting rules (no expansion).'),
    stdin: text,
    expected_output: text.describe('When given, stdout is compared with it (trailing whitespace of every line and trailing blank lines ignored): 3 Accepted or 4 Wrong Answer.'),
    cpu_time_limit: numeric.describe('Seconds of CPU time (float).'),
    cpu_extra_time: numeric.describe('Accepted and ignored: cylo stops a program at cpu_time_limit.'),
    wall_time_limit: numeric.describe('Seconds of wall-clock time (float).'),
    memory_limit: numeric.describe('Kilobytes.'),
    stack_limit: numeric.describe('Accepted and ignored: the stack is bounded by memory_limit.'),
    max_processes_and_or_threads: integer,
    enable_per_process_and_thread_time_limit: flag.describe('Only false: cylo limits a sandbox as a whole.'),
    enable_per_process_and_thread_memory_limit: flag.describe('Only false: cylo limits a sandbox as a whole.'),
    max_file_size: numeric.describe('Accepted and ignored: files are bounded by the workspace size.'),
    redirect_stderr_to_stdout: flag,
    number_of_runs: integer.describe('1..20: the program runs that many times; time and memory are averaged.'),
    callback_url: text.describe('Validated; delivered by the submissions service (asynchronous submissions).'),
    additional_files: text.describe('A base64 zip whose files are added to the workspace.'),
    enable_network: flag.describe('Only false: cylo sandboxes have no network.'),
  })
  .describe('A Judge0 submission.');

export type Judge0SubmissionInput = z.output<typeof judge0SubmissionSchema>;

export const judge0QuerySchema = z.object({
  base64_encoded: z.string().optional().describe('"true": text fields in and out are base64.'),
  wait: z.string().optional().describe('"true": run now and answer with the result (201).'),
  fields: z.string().optional().describe('Comma-separated fields of the answer; "*" for all.'),
});

export const judge0LanguageSchema = z.object({ id: z.number(), name: z.string() });
export const judge0LanguageDetailSchema = z.object({
  id: z.number(),
  name: z.string(),
  is_archived: z.boolean(),
  source_file: z.string(),
  compile_cmd: z.string().nullable(),
  run_cmd: z.string(),
});
export const judge0StatusSchema = z.object({ id: z.number(), description: z.string() });
export const judge0SubmissionResultSchema = z.record(z.string(), z.unknown()).describe('The submission with the requested fields (docs/judge0.md).');
export const judge0ErrorSchema = z.union([z.object({ error: z.string() }), z.record(z.string(), z.array(z.string()))]).describe('Judge0 errors: 400/503 {error}, 422 {field: [messages]}.');
