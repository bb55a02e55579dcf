// The execution result (src/api/result.ts) as a zod schema, with a description per field: the
// one schema behind the HTTP API's response and OpenAPI document (src/server/schemas.ts) and
// the MCP tool run_code's output schema (src/mcp/schemas.ts). Objects are loose (additional
// properties allowed) so a field added to the core later does not make clients that validate
// results reject them. test/server/routes.test.ts checks it against real results.
import { z } from 'zod';
import { BACKENDS, EXECUTION_STATUSES, LAYERS, STAGE_LIMITS } from './result.js';
import { OUTPUT_ENCODINGS } from './output-encoding.js';
import { VERDICTS } from './verdict.js';
import { OUTPUT_SKIP_REASONS } from './outputs.js';

export const outputFileSchema = z
  .looseObject({
    name: z.string().describe('Workspace-relative path, e.g. "plot.png" or "out/data.csv".'),
    size: z.number().int().describe('Its size in the workspace, in bytes.'),
    encoding: z.literal('base64'),
    content: z.string().describe('Its bytes, base64: all of them, or the first ones when truncated.'),
    truncated: z.boolean().describe('Cut at limits.outputFileBytes or at what limits.outputFilesBytes had left.'),
    mimeType: z.string().optional().describe('image/png, image/jpeg, image/gif, image/webp or image/svg+xml when the bytes are such an image (by magic bytes, not by name).'),
  })
  .describe('A file the program wrote that matched the request\'s outputs.');

export const stageSchema = z
  .looseObject({
    status: z.enum(EXECUTION_STATUSES),
    exitCode: z.number().int().nullable().describe("The program's exit code, or null when a signal ended it."),
    signal: z.string().nullable().describe('The signal that ended the program (e.g. "SIGKILL"), or null.'),
    stdout: z.string().describe("The program's stdout, in the result's outputEncoding (with redirectStderrToStdout: stdout and stderr in write order)."),
    stderr: z.string().describe("The program's stderr, in the result's outputEncoding (empty with redirectStderrToStdout)."),
    stdoutTruncated: z.boolean(),
    stderrTruncated: z.boolean(),
    wallMs: z.number().describe('Wall-clock time from the program\'s exec to its end, in milliseconds (sandbox setup excluded).'),
    cpuMs: z.number().describe('CPU time of the program and every process and thread it started, from its exec to its exit, in milliseconds (sandbox setup excluded).'),
    memoryBytes: z.number().describe('Peak memory of the stage, in bytes.'),
    message: z.string().nullable().describe('What stopped the stage when cylo did (limit hit, setup failure), or the limit a failed program ran into; null otherwise. For people: the wording may change.'),
    limit: z
      .enum(STAGE_LIMITS)
      .nullable()
      .describe('The limit that ended or broke a stage that did not end ok, from the kernel\'s counters: wall (timeoutMs), cpu (cpuTimeMs), memory (memoryBytes: OOM kill), output (outputBytes), pids (a fork or thread was refused), workspace (workspaceBytes or its file count: the workspace was full), file_size (SIGXFSZ); null otherwise.'),
    cached: z.boolean().optional().describe('Compile stages only: true when this execution did not run the compiler (compile cache hit, or an identical compile in progress): the same output and exit code as that compile, zero times.'),
    files: z.array(outputFileSchema).optional().describe('Run stages of a request with outputs only: the matching regular files, by name (read inside the sandbox after every process of it ended, never following a link).'),
    filesSkipped: z
      .array(z.looseObject({ name: z.string(), reason: z.enum(OUTPUT_SKIP_REASONS) }))
      .optional()
      .describe('Matching entries that did not come back and why: symlink, fifo, socket, device (never opened or followed), total_limit, too_many_files, too_deep, unreadable, bad_name. At most 100 listed.'),
    filesIncomplete: z.boolean().optional().describe('True when a matching file was cut or left out at a cap, or more entries were skipped than listed.'),
    filesError: z.string().nullable().optional().describe('Why no output file could be read at all (the execution was cancelled, the sandbox was killed), or null.'),
  })
  .describe('One stage (compile or run) of an execution.');

export const testCaseResultSchema = stageSchema
  .extend({
    index: z.number().int().describe("The case's position in the request's tests."),
    name: z.string().nullable().describe("The case's name, or null."),
    status: z.enum(EXECUTION_STATUSES).nullable().describe("The case's run stage's status; null when the case did not run (compile_error, skipped)."),
    verdict: z.enum(VERDICTS).describe('accepted, wrong_answer, time_limit, memory_limit, output_limit, runtime_error, compile_error, internal_error (cylo or the checker failed), skipped (stopOnFailure).'),
    verdictMessage: z.string().nullable().describe('Why the verdict, for people: the first difference from the expected output, the checker\'s message, the limit; null for accepted.'),
    checker: z
      .looseObject({ exitCode: z.number().int().nullable(), signal: z.string().nullable(), wallMs: z.number(), cpuMs: z.number() })
      .nullable()
      .describe("The checker's run for this case (when a checker judged it), else null."),
  })
  .describe("One test case's verdict and its run stage's fields (zero times and empty output when it did not run).");

export const testSummarySchema = z
  .looseObject({
    total: z.number().int(),
    passed: z.number().int().describe('Cases accepted.'),
    verdict: z.enum(VERDICTS).describe('accepted when every case is; else the verdict of the first case (in order) that is not.'),
    verdicts: z.record(z.string(), z.number().int()).describe('How many cases got each verdict (verdicts no case got are left out).'),
    maxWallMs: z.number(),
    maxCpuMs: z.number(),
    maxMemoryBytes: z.number(),
  })
  .describe('The summary of a test-case run.');

export const executionResultSchema = z
  .looseObject({
    id: z.string(),
    language: z.string(),
    version: z.string(),
    status: z.enum(EXECUTION_STATUSES).describe('ok, or what went wrong: compile_error, runtime_error (non-zero exit or signal), timeout, memory_limit, output_limit, internal_error.'),
    compile: stageSchema.nullable().describe('The compile stage, for compiled languages; else null.'),
    run: stageSchema.nullable().describe('The run stage; null when compilation failed.'),
    layers: z.array(z.enum(LAYERS)).describe('The isolation layers that were in force.'),
    backend: z.enum(BACKENDS).describe('The isolation backend that ran the execution (namespace: bubblewrap, cgroups, seccomp, Landlock).'),
    outputEncoding: z.enum(OUTPUT_ENCODINGS).describe('How every stage\'s stdout and stderr are encoded: utf8 text (invalid UTF-8 replaced with U+FFFD) or base64 of the exact bytes (the request\'s outputEncoding).'),
    tests: z.array(testCaseResultSchema).optional().describe('Requests with tests only: every case\'s verdict and run stage, in order (run is then null).'),
    summary: testSummarySchema.optional().describe('Requests with tests only.'),
  })
  .describe('The result of an execution (the same object the library returns).');
