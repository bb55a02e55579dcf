// The Piston v2 compatibility layer: Piston's request fields translated to a cylo request, and a
// cylo result translated to Piston's response (stages with stdout, stderr, interleaved output,
// code, signal, message, status RE/SG/TO/OL/EL/XX, cpu_time, wall_time, memory). Pure functions
// plus the routes; the execution itself goes through the same path as the native API.
import { signalNumber as signalNumberOf } from '../util/signals.js';
import { OutputDecoder } from '../api/output-decoder.js';
import type { OutputEncoding } from '../api/output-encoding.js';
import type { FastifyInstance } from 'fastify';
import type { Cylo } from '../cylo.js';
import type { ExecuteRequest } from '../api/request.js';
import type { Limits } from '../api/limits.js';
import type { ExecutionResult, Stage } from '../api/result.js';
import type { ExecutionEvent } from '../engine/lifecycle.js';
import { versionMatches } from '../runtimes/version.js';
import { CyloError } from '../errors.js';
import {
  pistonErrorResponses,
  pistonExecuteRequestSchema,
  pistonExecuteResponseSchema,
  pistonRuntimesResponseSchema,
  type PistonExecuteRequest,
  type PistonExecuteResponse,
  type PistonStage,
  type PistonStatus,
} from './schemas.js';
import type { ServerContext } from './context.js';

/** Piston's limit fields and the cylo limit each one sets (compile_cpu_time has none: cylo
 *  bounds the compile stage by its wall clock, so it is validated against that maximum). */
export const PISTON_LIMIT_FIELDS: ReadonlyArray<readonly [keyof PistonExecuteRequest, keyof Limits, boolean]> = [
  ['compile_timeout', 'compileTimeoutMs', true],
  ['run_timeout', 'timeoutMs', true],
  ['compile_cpu_time', 'compileTimeoutMs', false],
  ['run_cpu_time', 'cpuTimeMs', true],
  ['compile_memory_limit', 'compileMemoryBytes', true],
  ['run_memory_limit', 'memoryBytes', true],
];

export interface PistonRuntime {
  language: string;
  version: string;
  aliases: string[];
}

/** The runtimes Piston clients see: only the installed ones (Piston lists installed packages). */
export async function pistonRuntimes(ctx: Pick<ServerContext, 'runtimes'>): Promise<PistonRuntime[]> {
  const all = await ctx.runtimes();
  return all.filter((r) => r.available).map((r) => ({ language: r.language, version: r.version ?? 'unknown', aliases: r.aliases }));
}

/** Finds the runtime for Piston's `language` (name or alias) and `version` selector; Piston's
 *  400 message `"<language>-<version> runtime is unknown"` otherwise. */
export async function resolvePistonRuntime(cylo: Cylo, language: string, version: string | undefined): Promise<{ id: string; version: string }> {
  const unknown = (): CyloError => new CyloError('CYLO_E_UNKNOWN_LANGUAGE', `${language}-${version ?? '*'} runtime is unknown`, { field: 'language' });
  const def = cylo.registry.find(language);
  if (def === undefined) throw unknown();
  const resolved = await cylo.registry.resolve(def.id);
  if (!resolved.available || resolved.version === undefined) throw unknown();
  if (version !== undefined && !versionMatches(resolved.version, version)) throw unknown();
  return { id: def.id, version: resolved.version };
}

/** Translates a (schema-valid) Piston request into a cylo request. Limits follow Piston: 0, -1
 *  or absent take the server's default; negative is refused; above the server's maximum is
 *  refused with Piston's message. Piston appends a newline to stdin that lacks one: so does this. */
export function pistonToCyloRequest(body: PistonExecuteRequest, language: string, cylo: Pick<Cylo, 'policy'>): ExecuteRequest {
  const limits: NonNullable<ExecuteRequest['limits']> = {};
  for (const [field, limit, applies] of PISTON_LIMIT_FIELDS) {
    const value = body[field] as number | null | undefined;
    if (value === undefined || value === null || value === 0 || value === -1) continue;
    if (!Number.isFinite(value)) throw new CyloError('CYLO_E_VALIDATION', `If specified, ${field} must be a number`, { field });
    if (value < 0) throw new CyloError('CYLO_E_VALIDATION', `${field} must be non-negative`, { field });
    const max = cylo.policy.maxLimits[limit];
    if (value > max) throw new CyloError('CYLO_E_LIMIT_EXCEEDED', `${field} cannot exceed the configured limit of ${max}`, { field });
    if (applies) limits[limit] = Math.ceil(value);
  }
  const entry = cylo.policy.defaultEntry(language);
  const files = body.files.map((f, i) => ({
    name: f.name !== undefined && f.name !== '' ? f.name : i === 0 ? entry : `file${i}.code`,
    content: f.content,
    ...(f.encoding === undefined ? {} : { encoding: f.encoding }),
  }));
  let stdin = body.stdin ?? '';
  // Binary stdin is given byte for byte: a newline appended to base64 text would be dropped by
  // the decoder, and one appended to the bytes would change them.
  if (body.stdinEncoding !== 'base64' && !stdin.endsWith('\n')) stdin += '\n';
  const request: ExecuteRequest = { language, files, stdin, args: body.args ?? [] };
  if (Object.keys(limits).length > 0) request.limits = limits;
  if (body.stdinEncoding !== undefined) request.stdinEncoding = body.stdinEncoding;
  if (body.outputEncoding !== undefined) request.outputEncoding = body.outputEncoding;
  if (body.redirectStderrToStdout !== undefined) request.redirectStderrToStdout = body.redirectStderrToStdout;
  if (body.outputs !== undefined) request.outputs = body.outputs;
  if (body.environment !== undefined) request.environment = body.environment;
  return request;
}

/**
 * Rebuilds Piston's `output` (stdout and stderr in the order cylo read them from their two
 * pipes: not the order of the program's writes, which two pipes cannot keep; with
 * redirectStderrToStdout there is one pipe and `output` is stdout) from the execution's output
 * events. With outputEncoding "utf8", as text (one UTF-8 decoder per stream, so a character
 * split across chunks stays whole); with "base64", the base64 of the exact bytes. The engine
 * reports exactly the bytes it keeps (never beyond the output limit), so the memory used is at
 * most that of the result itself.
 */
export class OutputInterleaver {
  private readonly text = new Map<string, string>();
  private readonly bytes = new Map<string, Buffer[]>();
  private readonly decoder = new OutputDecoder();

  constructor(private readonly encoding: OutputEncoding = 'utf8') {}

  readonly onEvent = (event: ExecutionEvent): void => {
    if (event.type !== 'stdout' && event.type !== 'stderr') return;
    if (this.encoding === 'base64') {
      const chunks = this.bytes.get(event.stage) ?? [];
      chunks.push(event.data);
      this.bytes.set(event.stage, chunks);
      return;
    }
    this.text.set(event.stage, (this.text.get(event.stage) ?? '') + this.decoder.decode(event.stage, event.type, event.data));
  };

  /** The interleaved output of a stage, or undefined when no event was seen for it. */
  output(stage: 'compile' | 'run'): string | undefined {
    if (this.encoding === 'base64') {
      const chunks = this.bytes.get(stage);
      return chunks === undefined ? undefined : Buffer.concat(chunks).toString('base64');
    }
    const text = this.text.get(stage);
    if (text === undefined) return undefined;
    return text + this.decoder.flush(stage).map((rest) => rest.text).join('');
  }
}

/** stdout then stderr as one output in `encoding` (base64 strings cannot be concatenated). */
function joinedOutput(stage: Stage, encoding: OutputEncoding): string {
  if (encoding === 'utf8') return stage.stdout + stage.stderr;
  return Buffer.concat([Buffer.from(stage.stdout, 'base64'), Buffer.from(stage.stderr, 'base64')]).toString('base64');
}

function signalNumber(name: string | null): number | undefined {
  return name === null ? undefined : signalNumberOf(name);
}

/** One cylo stage as a Piston stage. Memory-limit kills are reported as SG (SIGKILL) with a
 *  message, as Piston (isolate) reports them. `encoding` is the result's outputEncoding. */
export function pistonStage(stage: Stage, output: string | undefined, encoding: OutputEncoding = 'utf8'): PistonStage {
  let status: PistonStatus | null = null;
  let signal = stage.signal;
  let message = stage.message;
  switch (stage.status) {
    case 'ok':
      break;
    case 'runtime_error':
    case 'compile_error':
      if (signal !== null) {
        status = 'SG';
        message ??= `Caught fatal signal ${signalNumber(signal) ?? signal}`;
      } else {
        status = 'RE';
        message ??= `Exited with error status ${stage.exitCode ?? 'unknown'}`;
      }
      break;
    case 'timeout':
      status = 'TO';
      signal ??= 'SIGKILL';
      message ??= 'Time limit exceeded';
      break;
    case 'memory_limit':
      status = 'SG';
      signal ??= 'SIGKILL';
      message ??= 'Memory limit exceeded';
      break;
    case 'output_limit':
      status = stage.stdoutTruncated || !stage.stderrTruncated ? 'OL' : 'EL';
      signal ??= 'SIGKILL';
      message ??= status === 'OL' ? 'stdout length exceeded' : 'stderr length exceeded';
      break;
    case 'internal_error':
      status = 'XX';
      message ??= 'internal error';
      break;
  }
  return {
    stdout: stage.stdout,
    stderr: stage.stderr,
    output: output ?? joinedOutput(stage, encoding),
    code: stage.exitCode,
    signal,
    message,
    status,
    cpu_time: stage.cpuMs,
    wall_time: stage.wallMs,
    memory: stage.memoryBytes,
    // cylo extension field: which limit ended or broke the stage (Piston has none).
    limit: stage.limit,
    // cylo extension fields: the output files of a request with outputs (run stage only).
    ...(stage.files === undefined ? {} : { files: stage.files as PistonStage['files'], filesSkipped: stage.filesSkipped, filesIncomplete: stage.filesIncomplete, filesError: stage.filesError }),
  };
}

const EMPTY_STAGE: Stage = {
  status: 'internal_error',
  exitCode: null,
  signal: null,
  stdout: '',
  stderr: '',
  stdoutTruncated: false,
  stderrTruncated: false,
  wallMs: 0,
  cpuMs: 0,
  memoryBytes: 0,
  message: 'the execution produced no stage',
  limit: null,
};

/** A cylo result as Piston's response. When the compile stage failed there is no run stage:
 *  `run` then repeats `compile`, as Piston does for backward compatibility. */
export function cyloToPistonResponse(result: ExecutionResult, outputs?: OutputInterleaver): PistonExecuteResponse {
  const encoding = result.outputEncoding;
  const compile = result.compile === null ? undefined : pistonStage(result.compile, outputs?.output('compile'), encoding);
  const run = result.run === null ? (compile ?? pistonStage(EMPTY_STAGE, undefined)) : pistonStage(result.run, outputs?.output('run'), encoding);
  // Piston's shape unless the client asked for base64 (an extension it then knows about).
  return { language: result.language, version: result.version, run, ...(compile === undefined ? {} : { compile }), ...(encoding === 'base64' ? { outputEncoding: encoding } : {}) };
}

export function registerPistonRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get(
    '/api/v2/runtimes',
    { schema: { tags: ['piston'], summary: 'Installed runtimes (Piston v2)', response: { 200: pistonRuntimesResponseSchema, ...pistonErrorResponses } } },
    async () => pistonRuntimes(ctx),
  );

  app.post(
    '/api/v2/execute',
    {
      config: { execution: 'piston' },
      schema: {
        tags: ['piston'],
        summary: 'Run code (Piston v2)',
        description: 'Piston-compatible execution. The body is parsed as JSON whatever its Content-Type (the piston-client package sends none).',
        body: pistonExecuteRequestSchema,
        response: { 200: pistonExecuteResponseSchema, ...pistonErrorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body as PistonExecuteRequest;
      const runtime = await resolvePistonRuntime(ctx.cylo, body.language, body.version);
      const cyloRequest = pistonToCyloRequest(body, runtime.id, ctx.cylo);
      const outputs = new OutputInterleaver(body.outputEncoding ?? 'utf8');
      const result = await ctx.execute('piston', request, reply, cyloRequest, outputs.onEvent);
      return cyloToPistonResponse(result, outputs);
    },
  );
}
