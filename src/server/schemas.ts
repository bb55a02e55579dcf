// The HTTP schemas, in zod: request bodies are validated with them (see ./validation.ts) and the
// OpenAPI document at /openapi.json is generated from them (see ./openapi.ts), so the two can
// never disagree. The native execute body is the library's own `executeRequestSchema`.
import { z } from 'zod';
import { executeRequestSchema } from '../api/request.js';
import { executionResultSchema, stageSchema } from '../api/result-schema.js';
import { ERROR_CODES, type CyloErrorCode } from '../errors.js';
import { STAGE_LIMITS } from '../api/result.js';
import { OUTPUT_ENCODINGS } from '../api/output-encoding.js';

export { executeRequestSchema };

// ---------------------------------------------------------------------------------------------
// Native API (/v1): the library's result and runtime list, field for field.

export { executionResultSchema, stageSchema };

export const runtimeInfoSchema = z.object({
  language: z.string(),
  aliases: z.array(z.string()),
  version: z.string().nullable(),
  extension: z.string(),
  available: z.boolean(),
  compiled: z.boolean(),
  package: z.string().optional().describe('The Debian/Ubuntu package that provides the toolchain.'),
  problem: z.string().nullable().describe('Why the runtime is unavailable, with the fix; null when available.'),
  environments: z
    .array(z.object({ name: z.string(), builtin: z.boolean(), packages: z.array(z.object({ name: z.string(), version: z.string() })) }))
    .describe('The named environments a request of this language can select (`environment`), with their packages and versions.'),
});

export const runtimesResponseSchema = z.array(runtimeInfoSchema);

const errorCodes = Object.keys(ERROR_CODES) as [CyloErrorCode, ...CyloErrorCode[]];

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.enum(errorCodes).describe('A stable error code (see docs/errors.md).'),
      message: z.string().describe('What is wrong, naming the field, and what to do.'),
      field: z.string().optional().describe('The request field the error is about, e.g. "limits.memoryBytes".'),
      layer: z.string().optional().describe('The isolation layer the error is about.'),
    }),
  })
  .describe('Every error answer of the native API. Never a stack trace.');

export const healthSchema = z.object({ status: z.enum(['ok', 'shutting_down']) });

// ---------------------------------------------------------------------------------------------
// Piston v2 compatibility (/api/v2). Unknown fields are ignored, as Piston does.

const pistonLimit = (what: string) =>
  z
    .number()
    .nullable()
    .optional()
    .describe(`${what}. -1, 0 or absent: this server's default. Above this server's maximum: 400.`);

export const pistonFileSchema = z.object({
  name: z.string().optional().describe('File name; default: the language\'s entry file for the first file, "file<i>.code" for the others.'),
  content: z.string(),
  encoding: z.enum(['utf8', 'base64', 'hex']).optional().describe('How `content` is encoded (default utf8).'),
});

export const pistonExecuteRequestSchema = z
  .object({
    language: z.string().min(1).max(64).describe('Language name or alias.'),
    version: z.string().max(64).optional().describe('SemVer selector; "*" (or absent) takes the installed version.'),
    files: z.array(pistonFileSchema).min(1).describe('The program; the first file is the entry point.'),
    stdin: z.string().optional(),
    args: z.array(z.string()).optional(),
    compile_timeout: pistonLimit('Wall-clock limit of the compile stage, in ms'),
    run_timeout: pistonLimit('Wall-clock limit of the run stage, in ms'),
    compile_cpu_time: pistonLimit('CPU-time limit of the compile stage, in ms (bounded by compile_timeout in cylo)'),
    run_cpu_time: pistonLimit('CPU-time limit of the run stage, in ms'),
    compile_memory_limit: pistonLimit('Memory limit of the compile stage, in bytes'),
    run_memory_limit: pistonLimit('Memory limit of the run stage, in bytes'),
    // cylo extensions (Piston has none of these; the names are the native API's):
    stdinEncoding: z.enum(['utf8', 'base64']).optional().describe('cylo extension: how `stdin` is encoded, utf8 (default) or base64. With base64 no newline is appended.'),
    outputEncoding: z.enum(OUTPUT_ENCODINGS).optional().describe('cylo extension: how stdout, stderr and output are encoded in the response, utf8 (default) or base64 of the exact bytes.'),
    redirectStderrToStdout: z.boolean().optional().describe("cylo extension: the run stage's stderr goes into its stdout, in write order (stderr is then empty)."),
    outputs: executeRequestSchema.shape.outputs.describe('cylo extension: files the program writes that come back as `run.files` (the native API\'s outputs: "*.png", "out/**"; see docs/api.md).'),
    environment: executeRequestSchema.shape.environment.describe('cylo extension: a named environment of the language (read-only packages, e.g. "datasci"); GET /v1/runtimes lists them (docs/environments.md).'),
  })
  .describe('A Piston v2 execute request.');

export type PistonExecuteRequest = z.infer<typeof pistonExecuteRequestSchema>;

export const PISTON_STATUSES = ['RE', 'SG', 'TO', 'OL', 'EL', 'XX'] as const;
export type PistonStatus = (typeof PISTON_STATUSES)[number];

export const pistonStageSchema = z.object({
  stdout: z.string(),
  stderr: z.string(),
  output: z.string().describe('stdout and stderr interleaved in the order they were written.'),
  code: z.number().int().nullable(),
  signal: z.string().nullable(),
  message: z.string().nullable(),
  status: z.enum(PISTON_STATUSES).nullable().describe('RE runtime error, SG killed by a signal (also: memory limit), TO timed out, OL stdout limit, EL stderr limit, XX internal error; null when fine.'),
  cpu_time: z.number().describe('ms'),
  wall_time: z.number().describe('ms'),
  memory: z.number().describe('bytes'),
  limit: z.enum(STAGE_LIMITS).nullable().describe('cylo extension: the limit that ended or broke the stage (wall, cpu, memory, output, pids, workspace, file_size), or null.'),
  // cylo extensions, on the run stage of a request with outputs only (as in the native result):
  files: stageSchema.shape.files,
  filesSkipped: stageSchema.shape.filesSkipped,
  filesIncomplete: stageSchema.shape.filesIncomplete,
  filesError: stageSchema.shape.filesError,
});

export type PistonStage = z.infer<typeof pistonStageSchema>;

export const pistonExecuteResponseSchema = z.object({
  language: z.string(),
  version: z.string(),
  run: pistonStageSchema,
  compile: pistonStageSchema.optional(),
  outputEncoding: z.enum(OUTPUT_ENCODINGS).optional().describe('cylo extension, present when the request asked for base64: stdout, stderr and output of every stage are base64 of the exact bytes.'),
});

export type PistonExecuteResponse = z.infer<typeof pistonExecuteResponseSchema>;

export const pistonRuntimeSchema = z.object({
  language: z.string(),
  version: z.string(),
  aliases: z.array(z.string()),
  runtime: z.string().optional(),
});

export const pistonRuntimesResponseSchema = z.array(pistonRuntimeSchema);

export const pistonErrorBodySchema = z
  .object({
    message: z.string().describe('What Piston clients read.'),
    error: errorBodySchema.shape.error,
  })
  .describe('Errors of the Piston API: Piston\'s `message`, plus cylo\'s error object.');

export const anyErrorResponses = {
  400: errorBodySchema,
  401: errorBodySchema,
  413: errorBodySchema,
  500: errorBodySchema,
  503: errorBodySchema,
} as const;

export const pistonErrorResponses = {
  400: pistonErrorBodySchema,
  401: pistonErrorBodySchema,
  413: pistonErrorBodySchema,
  500: pistonErrorBodySchema,
  503: pistonErrorBodySchema,
} as const;

/** True for a zod schema (as opposed to a plain JSON Schema object). */
export function isZodSchema(value: unknown): value is z.ZodType {
  return value instanceof z.ZodType;
}
