// The cylo MCP server: the tools run_code and list_runtimes on an McpServer from the official
// SDK, independent of the transport (stdio in ./stdio.ts, Streamable HTTP in ./http.ts).
//
// Errors: a program that fails, times out or hits a limit is a normal tool result with
// isError: true (the model reads it and fixes its code). A request cylo refuses (bad file name,
// limit above the maximum, sandbox unavailable, queue full) is also a tool result with
// isError: true and cylo's message, since the model or its user can act on it. Arguments that
// do not match the input schema (an unknown language among them) are answered by the SDK as a
// tool result with isError: true naming the field, as the MCP specification asks of input
// validation errors. Only protocol misuse (unknown method, malformed JSON-RPC) is a JSON-RPC error.
import { setTimeout as delay } from 'node:timers/promises';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SetLevelRequestSchema, type CallToolResult, type LoggingLevel } from '@modelcontextprotocol/sdk/types.js';
import type { Cylo } from '../cylo.js';
import type { ExecuteRequest } from '../api/request.js';
import type { ExecutionResult } from '../api/result.js';
import type { ExecutionEvent } from '../engine/lifecycle.js';
import { CyloError } from '../errors.js';
import { cyloVersion } from '../version.js';
import { formatResult, DEFAULT_MAX_STREAM_CHARS } from './format.js';
import { LiveOutput, type LiveSegment } from './live-output.js';
import { availableRuntimes, findAvailable, listRuntimesOutputShape, runCodeInputShape, runCodeOutputShape, unknownLanguageMessage, type ToolContext } from './schemas.js';

export const SERVER_NAME = 'cylo';

/** Pause between the last live-output notification and the result (see run_code). */
const RESULT_SETTLE_MS = 40;
export const SERVER_VERSION = cyloVersion();

/** The facts the tools are built from, read once when the server starts. */
export async function createToolContext(cylo: Cylo): Promise<ToolContext> {
  return {
    runtimes: await cylo.runtimes(),
    defaultTimeoutMs: cylo.policy.defaultLimits.timeoutMs,
    maxTimeoutMs: cylo.policy.maxLimits.timeoutMs,
  };
}

export interface CyloMcpServerOptions {
  cylo: Cylo;
  context: ToolContext;
  /** Characters of each output stream kept in run_code's text block (default 20000). */
  maxStreamChars?: number;
  /** Live output: at most one notification per stream this often (default 100 ms). */
  liveIntervalMs?: number;
  /** The execution path of the host service (its shutdown refusal, metrics and logs; see
   *  src/server/context.ts); default: `cylo.execute`. */
  execute?: (request: ExecuteRequest, options: { signal: AbortSignal; onEvent?: (event: ExecutionEvent) => void }) => Promise<ExecutionResult>;
  /** A further signal that cancels a tool call (the HTTP transport aborts it when the client
   *  drops the connection that waits for the result). */
  callSignal?: (sessionId: string | undefined, requestId: string | number) => AbortSignal | undefined;
}

const LOG_SEVERITY: Record<LoggingLevel, number> = { debug: 0, info: 1, notice: 2, warning: 3, error: 4, critical: 5, alert: 6, emergency: 7 };

function instructions(context: ToolContext): string {
  const langs = availableRuntimes(context)
    .map((r) => `${r.language} ${r.version ?? ''}`.trim())
    .join(', ');
  return [
    `cylo runs code in a locked-down Linux sandbox. Languages: ${langs || 'none available'}.`,
    'Every run_code call starts from a fresh, empty workspace (nothing persists between calls) with no network access,',
    `a wall-clock limit (default ${context.defaultTimeoutMs} ms, timeout_ms up to ${context.maxTimeoutMs} ms), memory, process and output limits.`,
    'Only the language runtime and its standard library are there: no package installation.',
    'A failing program returns isError: true with its stdout, stderr and exit code, so read them and fix the code.',
  ].join(' ');
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
  if (args.stdin !== undefined) request.stdin = args.stdin;
  if (args.args !== undefined) request.args = args.args;
  if (args.timeout_ms !== undefined) {
    const { defaultLimits, maxLimits } = cylo.policy;
    request.limits = { timeoutMs: args.timeout_ms };
    // A longer wall-clock limit also raises the CPU-time limit, or a busy program would be
    // stopped by the (default 10 s) CPU limit before the limit the model asked for.
    if (args.timeout_ms > defaultLimits.cpuTimeMs) request.limits.cpuTimeMs = Math.min(args.timeout_ms, maxLimits.cpuTimeMs);
  }
  return request;
}

export interface RunCodeArgs {
  language: string;
  code: string;
  files?: { name: string; content: string; encoding?: 'utf8' | 'base64' | undefined }[] | undefined;
  stdin?: string | undefined;
  args?: string[] | undefined;
  timeout_ms?: number | undefined;
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

export function createCyloMcpServer(options: CyloMcpServerOptions): McpServer {
  const { cylo, context } = options;
  const execute = options.execute ?? ((request, o) => cylo.execute(request, o));
  const server = new McpServer({ name: SERVER_NAME, version: SERVER_VERSION }, { capabilities: { logging: {} }, instructions: instructions(context) });

  // Output as log notifications only for a client that asked for them (logging/setLevel at
  // "info" or more verbose). The SDK's own handler would record the level where we cannot read it.
  let logLevel: LoggingLevel | undefined;
  server.server.setRequestHandler(SetLevelRequestSchema, (request) => {
    logLevel = request.params.level;
    return {};
  });

  server.registerTool(
    'run_code',
    {
      title: 'Run code in the cylo sandbox',
      description:
        'Runs a program in a secure sandbox and returns its stdout, stderr, exit code, status, time and memory. ' +
        'Each call gets a fresh empty workspace, no network, and limits on time, memory, processes and output. ' +
        'A program that fails, times out or hits a limit returns isError: true with its output, so it can be fixed and run again.',
      inputSchema: runCodeInputShape(context),
      outputSchema: runCodeOutputShape,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    async (args, extra): Promise<CallToolResult> => {
      const progressToken = extra._meta?.progressToken;
      const outer = options.callSignal?.(extra.sessionId, extra.requestId);
      const signal = outer === undefined ? extra.signal : AbortSignal.any([extra.signal, outer]);
      const wantLogs = logLevel !== undefined && LOG_SEVERITY[logLevel] <= LOG_SEVERITY.info;
      let progress = 0;
      let lastSentAt = -Infinity;
      const send = async (segment: LiveSegment): Promise<void> => {
        if (signal.aborted) return;
        lastSentAt = performance.now();
        const meta = { 'cylo/stream': segment.stream, 'cylo/stage': segment.stage };
        if (progressToken !== undefined) {
          progress += 1;
          await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress, message: segment.text, _meta: meta } });
        }
        if (wantLogs) {
          await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', logger: `cylo.${segment.stage}.${segment.stream}`, data: segment.text } });
        }
      };
      const live = progressToken !== undefined || wantLogs ? new LiveOutput({ send, ...(options.liveIntervalMs === undefined ? {} : { intervalMs: options.liveIntervalMs }) }) : undefined;
      let result: ExecutionResult;
      try {
        const runtime = findAvailable(context, args.language);
        if (runtime === undefined) throw new CyloError('CYLO_E_UNKNOWN_LANGUAGE', unknownLanguageMessage(context, args.language), { field: 'language' });
        const request = toExecuteRequest(cylo, { ...args, language: runtime.language });
        result = await execute(request, { signal, ...(live === undefined ? {} : { onEvent: live.onEvent }) });
        if (live !== undefined) {
          await live.finish();
          // The SDK's client (1.x) handles a notification a microtask after the response that
          // follows it in the same read, by when it has dropped the progress handler, so output
          // sent just before the result would be lost (SDK issue 2580). A short pause after the
          // last notification lets it arrive on its own.
          const wait = lastSentAt + RESULT_SETTLE_MS - performance.now();
          if (wait > 0) await delay(wait);
        }
      } catch (error) {
        live?.discard();
        // Cancelled by this call's client: nobody waits for an answer.
        if (error instanceof CyloError && error.code === 'CYLO_E_CANCELLED' && signal.aborted) throw error;
        if (error instanceof CyloError) return refusal(error);
        throw error;
      }
      const text = formatResult(result, {
        maxStreamChars: options.maxStreamChars ?? DEFAULT_MAX_STREAM_CHARS,
        timeoutMs: args.timeout_ms ?? cylo.policy.languageLimits?.(result.language)?.timeoutMs ?? context.defaultTimeoutMs,
      });
      return {
        content: [{ type: 'text', text }],
        structuredContent: result as unknown as Record<string, unknown>,
        isError: result.status !== 'ok',
      };
    },
  );

  server.registerTool(
    'list_runtimes',
    {
      title: 'List the languages cylo can run',
      description: 'Lists the languages run_code accepts on this server, with their versions and aliases.',
      outputSchema: listRuntimesOutputShape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (): CallToolResult => {
      const runtimes = availableRuntimes(context).map((r) => ({ language: r.language, version: r.version, aliases: r.aliases, compiled: r.compiled }));
      const missing = context.runtimes.filter((r) => !r.available).map((r) => r.language);
      const lines = runtimes.map((r) => `${r.language} ${r.version ?? '(unknown version)'}${r.aliases.length > 0 ? ` (aliases: ${r.aliases.join(', ')})` : ''}${r.compiled ? ', compiled' : ''}`);
      if (lines.length === 0) lines.push('No language is available on this server.');
      if (missing.length > 0) lines.push(`Known but not installed here: ${missing.join(', ')}.`);
      lines.push('Pass the language id (the first word) as run_code.language.');
      return { content: [{ type: 'text', text: lines.join('\n') }], structuredContent: { runtimes } };
    },
  );

  return server;
}
