// The run_code tool of the cylo MCP server: its arguments turned into a cylo ExecuteRequest, the
// execution (with live output when the client asked for it), and the answer: the formatted
// result, or cylo's refusal as a tool result with isError: true (see ./server.ts on errors).
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Cylo } from '../cylo.js';
import type { ExecuteRequest } from '../api/request.js';
import type { ExecutionResult } from '../api/result.js';
import { CyloError } from '../errors.js';
import { formatResult, DEFAULT_MAX_STREAM_CHARS } from './format.js';
import { fileBlocks } from './output-content.js';
import { LiveNotifications, type ToolExtra } from './live-notifications.js';
import { checkMcpEnvironment, findAvailable, runCodeInputShape, runCodeOutputShape, unknownLanguageMessage } from './schemas.js';
import type { CyloMcpServerOptions } from './server.js';

export interface RunCodeArgs {
  language: string;
  environment?: string | undefined;
  code: string;
  files?: { name: string; content: string; encoding?: 'utf8' | 'base64' | undefined }[] | undefined;
  stdin?: string | undefined;
  args?: string[] | undefined;
  timeout_ms?: number | undefined;
  outputs?: string[] | undefined;
}

/** Builds the cylo ExecuteRequest from run_code's (already schema-validated) arguments. */
export function toExecuteRequest(cylo: Cylo, args: RunCodeArgs): ExecuteRequest {
  const entry = cylo.policy.defaultEntry(args.language);
  const extra = args.files ?? [];
  const clash = extra.findIndex((f) => f.name === entry);
  if (clash !== -1) {
    throw new CyloError('CYLO_E_VALIDATION', `files[${clash}].name: "${entry}" is where code is saved; give this file another name`, { field: `files[${clash}].name` });
  }
  const request: ExecuteRequest = {
    language: args.language,
    files: [{ name: entry, content: args.code }, ...extra.map((f) => ({ name: f.name, content: f.content, ...(f.encoding === undefined ? {} : { encoding: f.encoding }) }))],
  };
  if (args.environment !== undefined) request.environment = args.environment;
  if (args.stdin !== undefined) request.stdin = args.stdin;
  if (args.args !== undefined) request.args = args.args;
  if (args.outputs !== undefined) request.outputs = args.outputs;
  if (args.timeout_ms !== undefined) {
    const { defaultLimits, maxLimits } = cylo.policy;
    request.limits = { timeoutMs: args.timeout_ms };
    // A longer wall-clock limit also raises the CPU-time limit, or a busy program would be
    // stopped by the (default 10 s) CPU limit before the limit the model asked for.
    if (args.timeout_ms > defaultLimits.cpuTimeMs) request.limits.cpuTimeMs = Math.min(args.timeout_ms, maxLimits.cpuTimeMs);
  }
  return request;
}

/** cylo's request errors name request fields; run_code's files are shifted by one (the code is files[0]). */
function toolFieldMessage(error: CyloError): string {
  return error.message.replace(/^files\[(\d+)\]/, (_m, i: string) => `files[${Number(i) - 1}]`);
}

function refusal(error: CyloError): CallToolResult {
  const what: Partial<Record<string, string>> = {
    CYLO_E_QUEUE_FULL: 'The server is busy; try again in a few seconds.',
    CYLO_E_SANDBOX_UNAVAILABLE: 'The sandbox cannot run on this host; this is not a problem with the code. Tell the operator.',
    CYLO_E_SHUTTING_DOWN: 'The server is shutting down; try again later.',
    CYLO_E_CLOSED: 'The server is shutting down; try again later.',
  };
  const text = `cylo did not run the program: ${toolFieldMessage(error)} [${error.code}]${what[error.code] === undefined ? '' : `\n${what[error.code]}`}`;
  return { content: [{ type: 'text', text }], isError: true };
}

/** The server options run_code uses, with the execution path resolved. */
type RunCodeOptions = CyloMcpServerOptions & { execute: NonNullable<CyloMcpServerOptions['execute']> };

/** Registers run_code; `wantsLogs` says whether the client asked for output as log notifications. */
export function registerRunCode(server: McpServer, serverOptions: CyloMcpServerOptions, wantsLogs: () => boolean): void {
  const { cylo, context } = serverOptions;
  const options: RunCodeOptions = { ...serverOptions, execute: serverOptions.execute ?? ((request, o) => cylo.execute(request, o)) };
  server.registerTool(
    'run_code',
    {
      title: 'Run code in the cylo sandbox',
      description:
        'Runs a program in a secure sandbox and returns its stdout, stderr, exit code, status, time and memory. ' +
        'Each call gets a fresh empty workspace, no network, and limits on time, memory, processes and output. ' +
        'A program that fails, times out or hits a limit returns isError: true with its output, so it can be fixed and run again. ' +
        'Files the program writes come back when named in outputs (e.g. ["*.png", "out/**"]): images as image content, other files as embedded resources.',
      inputSchema: runCodeInputShape(context),
      outputSchema: runCodeOutputShape,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    (args, extra) => runCode(options, args, extra, wantsLogs()),
  );
}

/** One run_code call: runs the program and answers with its result or cylo's refusal. */
async function runCode(options: RunCodeOptions, args: RunCodeArgs, extra: ToolExtra, wantLogs: boolean): Promise<CallToolResult> {
  const { cylo, context } = options;
  const outer = options.callSignal?.(extra.sessionId, extra.requestId);
  const signal = outer === undefined ? extra.signal : AbortSignal.any([extra.signal, outer]);
  const live = LiveNotifications.forCall(extra, { signal, wantLogs, intervalMs: options.liveIntervalMs });
  let result: ExecutionResult;
  try {
    const runtime = findAvailable(context, args.language);
    if (runtime === undefined) throw new CyloError('CYLO_E_UNKNOWN_LANGUAGE', unknownLanguageMessage(context, args.language), { field: 'language' });
    checkMcpEnvironment(context, args.environment);
    const request = toExecuteRequest(cylo, { ...args, language: runtime.language });
    result = await options.execute(request, { signal, ...(live === undefined ? {} : { onEvent: live.onEvent }) });
    await live?.finish();
  } catch (error) {
    live?.discard();
    // Cancelled by this call's client: nobody waits for an answer.
    if (error instanceof CyloError && error.code === 'CYLO_E_CANCELLED' && signal.aborted) throw error;
    if (error instanceof CyloError) return refusal(error);
    throw error;
  }
  return toolResult(options, result, args.timeout_ms);
}

/** The answer to a run: the text a model reads, the full result as structuredContent, and
 *  isError unless the program ran to a clean exit. */
function toolResult(options: RunCodeOptions, result: ExecutionResult, timeoutMs: number | undefined): CallToolResult {
  const { cylo, context } = options;
  const text = formatResult(result, {
    maxStreamChars: options.maxStreamChars ?? DEFAULT_MAX_STREAM_CHARS,
    timeoutMs: timeoutMs ?? cylo.policy.languageLimits?.(result.language)?.timeoutMs ?? context.defaultTimeoutMs,
  });
  return {
    content: [{ type: 'text', text }, ...fileBlocks(result)],
    structuredContent: result as unknown as Record<string, unknown>,
    isError: result.status !== 'ok',
  };
}
