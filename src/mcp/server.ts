// The cylo MCP server: the tools run_code (./run-code.ts) and list_runtimes (./list-runtimes.ts)
// on an McpServer from the official SDK, independent of the transport (stdio in ./stdio.ts,
// Streamable HTTP in ./http.ts).
//
// Errors: a program that fails, times out or hits a limit is a normal tool result with
// isError: true (the model reads it and fixes its code). A request cylo refuses (bad file name,
// limit above the maximum, sandbox unavailable, queue full) is also a tool result with
// isError: true and cylo's message, since the model or its user can act on it. Arguments that
// do not match the input schema (an unknown language among them) are answered by the SDK as a
// tool result with isError: true naming the field, as the MCP specification asks of input
// validation errors. Only protocol misuse (unknown method, malformed JSON-RPC) is a JSON-RPC error.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SetLevelRequestSchema, type LoggingLevel } from '@modelcontextprotocol/sdk/types.js';
import type { Cylo } from '../cylo.js';
import type { ExecuteRequest } from '../api/request.js';
import type { ExecutionResult } from '../api/result.js';
import type { ExecutionEvent } from '../engine/lifecycle.js';
import { cyloVersion } from '../version.js';
import { registerListRuntimes } from './list-runtimes.js';
import { registerRunCode } from './run-code.js';
import { registerSessionTools, type McpSessionSettings } from './session-tools.js';
import { availableRuntimes, environmentsSummary, type ToolContext } from './schemas.js';

export { toExecuteRequest, type RunCodeArgs } from './run-code.js';

export const SERVER_NAME = 'cylo';
export const SERVER_VERSION = cyloVersion();

/** The facts the tools are built from, read once when the server starts. */
export async function createToolContext(cylo: Cylo, environments?: readonly string[]): Promise<ToolContext> {
  const runtimes = await cylo.runtimes();
  return {
    // Only the environments MCP clients may use are described to them.
    runtimes: environments === undefined ? runtimes : runtimes.map((r) => ({ ...r, environments: r.environments.filter((e) => environments.includes(e.name)) })),
    environments,
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
  /** The environments MCP clients may use (config mcpEnvironments); undefined: all. Read by
   *  createToolContext; the tools refuse any other. */
  environments?: readonly string[] | undefined;
  /** The session tools MCP clients get (./session-tools.ts); default: 2 sessions per client. */
  sessions?: McpSessionSettings;
}

const LOG_SEVERITY: Record<LoggingLevel, number> = { debug: 0, info: 1, notice: 2, warning: 3, error: 4, critical: 5, alert: 6, emergency: 7 };

function instructions(context: ToolContext): string {
  const langs = availableRuntimes(context)
    .map((r) => `${r.language} ${r.version ?? ''}`.trim())
    .join(', ');
  return [
    `cylo runs code in a locked-down Linux sandbox. Languages: ${langs || 'none available'}.`,
    'Every run_code call starts from a fresh, empty workspace (nothing persists between calls) with no network access;',
    'for state that persists (variables, files) across calls, use session_create then session_run.',
    'Limits:',
    `a wall-clock limit (default ${context.defaultTimeoutMs} ms, timeout_ms up to ${context.maxTimeoutMs} ms), memory, process and output limits.`,
    environmentsLine(context),
    'A failing program returns isError: true with its stdout, stderr and exit code, so read them and fix the code.',
  ].join(' ');
}

/** What the model can import: the environments, or that there are none. */
function environmentsLine(context: ToolContext): string {
  const summary = environmentsSummary(context);
  if (summary === '') return 'Only the language runtime and its standard library are there: no package installation.';
  return `Without an environment only the standard library is there (no package installation); pass environment to run_code or session_create for packages: ${summary}.`;
}

export function createCyloMcpServer(options: CyloMcpServerOptions): McpServer {
  const { context } = options;
  const server = new McpServer({ name: SERVER_NAME, version: SERVER_VERSION }, { capabilities: { logging: {} }, instructions: instructions(context) });

  // Output as log notifications only for a client that asked for them (logging/setLevel at
  // "info" or more verbose). The SDK's own handler would record the level where we cannot read it.
  let logLevel: LoggingLevel | undefined;
  server.server.setRequestHandler(SetLevelRequestSchema, (request) => {
    logLevel = request.params.level;
    return {};
  });

  registerRunCode(server, options, () => logLevel !== undefined && LOG_SEVERITY[logLevel] <= LOG_SEVERITY.info);
  registerListRuntimes(server, context);
  // A client's sessions end with its MCP session (stdio: the process exits and cylo closes).
  const closeSessions = registerSessionTools(server, options.cylo, options.sessions, context);
  const previous = server.server.onclose;
  server.server.onclose = () => {
    previous?.();
    void closeSessions();
  };
  return server;
}
