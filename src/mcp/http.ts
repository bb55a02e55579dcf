// The MCP Streamable HTTP transport, for `cylo serve` at /mcp: a framework-neutral handler over
// node's (req, res) plus Fastify routes that mount it. Authentication is the host server's
// (its bearer-token hook runs before these routes); this module adds the Origin check the MCP
// specification asks of HTTP servers (DNS-rebinding protection; the policy is in ./origin.ts).
//
// Sessions: an `initialize` POST creates a session (its own McpServer and transport, id in the
// Mcp-Session-Id header); later POSTs, the GET stream and DELETE use it. Sessions are what let a
// client's notifications/cancelled reach the call it cancels, and keep a logging level. They
// are bounded: at most `maxSessions` (the least recently used idle one is closed to make room,
// 503 when all are busy), closed after `sessionIdleMs` without a request, and all closed with
// the server (./sessions.ts). A session is not tied to one connection: when the connection of a
// POST that waits for a tool result is dropped, that call is cancelled (its sandbox killed), not
// left running (./open-calls.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Cylo } from '../cylo.js';
import { OpenCalls } from './open-calls.js';
import { allowedOriginsFromEnvironment, checkOrigin, normalizeOrigin } from './origin.js';
import { createCyloMcpServer, createToolContext, type CyloMcpServerOptions } from './server.js';
import type { ToolContext } from './schemas.js';
import { SessionStore, type Session } from './sessions.js';

export { allowedOriginsFromEnvironment, checkOrigin, normalizeOrigin, type OriginVerdict } from './origin.js';

export const MCP_PATH = '/mcp';

function jsonRpcError(res: ServerResponse, httpStatus: number, code: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(httpStatus, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

export const DEFAULT_MAX_SESSIONS = 256;
export const DEFAULT_SESSION_IDLE_MS = 30 * 60 * 1000;

export interface McpHttpOptions extends Omit<CyloMcpServerOptions, 'context' | 'cylo' | 'callSignal'> {
  cylo: Cylo;
  /** Origins allowed besides loopback ones (default: CYLO_MCP_ALLOWED_ORIGINS). */
  allowedOrigins?: string[];
  /** The tools' facts; read from cylo once when omitted. */
  context?: ToolContext;
  /** Sessions open at once (default 256). */
  maxSessions?: number;
  /** A session without any request for this long is closed (default 30 minutes). */
  sessionIdleMs?: number;
  /** Called with unexpected failures (the host server's logger). */
  onError?: (error: Error) => void;
}

export interface McpHttpHandler {
  /** Handles one HTTP request to the MCP endpoint; `body` is the parsed JSON body of a POST. */
  handle(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void>;
  /** Sessions open now. */
  sessionCount(): number;
  /** Starts shutting down: new requests get 503 and the sessions' GET streams are ended, while
   *  tool calls already running go on (the host's grace period applies to them). */
  drain(): void;
  /** Closes every session (cancelling their calls) and stops the idle sweep. */
  close(): Promise<void>;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function isInitialize(body: unknown): boolean {
  return Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body);
}

/** The framework-neutral handler: Origin check, then the session's MCP exchange. */
export async function createMcpHttpHandler(options: McpHttpOptions): Promise<McpHttpHandler> {
  const context = options.context ?? (await createToolContext(options.cylo, options.environments));
  const allowed = (options.allowedOrigins ?? allowedOriginsFromEnvironment()).map(normalizeOrigin);
  const onError = options.onError ?? (() => {});
  const calls = new OpenCalls();
  const sessions = new SessionStore({
    maxSessions: options.maxSessions ?? DEFAULT_MAX_SESSIONS,
    idleMs: options.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS,
    onError,
    createServer: () => createCyloMcpServer({ ...options, context, callSignal: (sessionId, requestId) => calls.signal(sessionId, requestId) }),
  });
  return new McpHttpEndpoint(allowed, sessions, calls, onError);
}

class McpHttpEndpoint implements McpHttpHandler {
  private closed = false;

  constructor(
    private readonly allowed: readonly string[],
    private readonly sessions: SessionStore,
    private readonly calls: OpenCalls,
    private readonly onError: (error: Error) => void,
  ) {}

  sessionCount(): number {
    return this.sessions.size;
  }

  drain(): void {
    this.closed = true;
    this.sessions.endStreams();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.calls.abortAll();
    await this.sessions.close();
  }

  async handle(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
    if (this.refused(req, res)) return;
    const sessionId = header(req, 'mcp-session-id');
    const session = await this.sessionFor(req, res, body, sessionId);
    if (session === undefined) return;
    this.track(req, res, body, session, sessionId);
    try {
      await session.transport.handleRequest(req, res, body);
    } catch (error) {
      this.onError(error as Error);
      jsonRpcError(res, 500, -32603, 'Internal server error');
    }
  }

  /** Answers a request from a forbidden Origin (403) or one that comes while shutting down
   *  (503); true when it did. */
  private refused(req: IncomingMessage, res: ServerResponse): boolean {
    const verdict = checkOrigin(header(req, 'origin'), this.allowed);
    if (!verdict.ok) {
      jsonRpcError(res, 403, -32000, `Forbidden: ${verdict.reason}`);
      return true;
    }
    if (this.closed) {
      jsonRpcError(res, 503, -32000, 'Service unavailable: the server is shutting down', { connection: 'close' });
      return true;
    }
    return false;
  }

  /** The session the Mcp-Session-Id names, or a new one for an initialize POST; otherwise the
   *  request is answered with an error and the result is undefined. */
  private async sessionFor(req: IncomingMessage, res: ServerResponse, body: unknown, sessionId: string | undefined): Promise<Session | undefined> {
    if (sessionId !== undefined) {
      const session = this.sessions.get(sessionId);
      if (session === undefined) jsonRpcError(res, 404, -32001, 'Session not found: it expired or the server restarted; initialize a new session');
      return session;
    }
    if (req.method === 'POST' && isInitialize(body)) {
      if (!this.sessions.makeRoom()) {
        jsonRpcError(res, 503, -32000, `Service unavailable: ${this.sessions.maxSessions} MCP sessions are busy; retry later`, { 'retry-after': '5' });
        return undefined;
      }
      return this.sessions.open();
    }
    jsonRpcError(res, 400, -32000, 'Bad Request: no Mcp-Session-Id; start with an initialize request');
    return undefined;
  }

  /** Marks the session busy while the request is handled, and ties a POST's tool calls to its
   *  connection. */
  private track(req: IncomingMessage, res: ServerResponse, body: unknown, session: Session, sessionId: string | undefined): void {
    session.lastSeen = Date.now();
    session.active += 1;
    const keys = req.method === 'POST' ? this.calls.track(sessionId, body) : [];
    // While shutting down, a connection is not kept alive once its response is complete (the
    // host's onSend hook that says "Connection: close" does not see these hijacked replies).
    res.once('finish', () => {
      if (this.closed) req.socket.end();
    });
    // A connection dropped before its response was complete: cancel the calls it waited for.
    res.once('close', () => {
      this.calls.release(keys, res.writableFinished);
      session.active -= 1;
      session.lastSeen = Date.now();
    });
  }
}
