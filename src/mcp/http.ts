// The MCP Streamable HTTP transport, for `cylo serve` at /mcp: a framework-neutral handler over
// node's (req, res) plus Fastify routes that mount it. Authentication is the host server's
// (its bearer-token hook runs before these routes); this module adds the Origin check the MCP
// specification asks of HTTP servers (DNS-rebinding protection).
//
// Sessions: an `initialize` POST creates a session (its own McpServer and transport, id in the
// Mcp-Session-Id header); later POSTs, the GET stream and DELETE use it. Sessions are what let a
// client's notifications/cancelled reach the call it cancels, and keep a logging level. They
// are bounded: at most `maxSessions` (the least recently used idle one is closed to make room,
// 503 when all are busy), closed after `sessionIdleMs` without a request, and all closed with
// the server. A session is not tied to one connection: when the connection of a POST that waits
// for a tool result is dropped, that call is cancelled (its sandbox killed), not left running.
//
// Origin policy (documented in docs/mcp.md):
//   - no Origin header: allowed (non-browser clients such as the SDK's send none);
//   - an Origin whose host is loopback (localhost, 127.0.0.0/8, [::1]), any scheme and port: allowed;
//   - an Origin listed in `allowedOrigins` (exact scheme://host[:port]): allowed;
//   - anything else, including "null" and unparsable values: 403 with a JSON-RPC error.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Cylo } from '../cylo.js';
import { CyloError } from '../errors.js';
import { createCyloMcpServer, createToolContext, type CyloMcpServerOptions } from './server.js';
import type { ToolContext } from './schemas.js';

export const MCP_PATH = '/mcp';

export type OriginVerdict = { ok: true } | { ok: false; reason: string };

function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  if (h === 'localhost' || h === '[::1]' || h === '::1') return true;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m !== null && m[1] === '127' && m.slice(1).every((p) => Number(p) <= 255);
}

/** Normalises an allowed-origin entry ("https://app.example.com", trailing slash tolerated). */
export function normalizeOrigin(origin: string): string {
  const bad = (why: string): never => {
    throw new CyloError('CYLO_E_CONFIG', `CYLO_MCP_ALLOWED_ORIGINS: ${JSON.stringify(origin)} ${why}`, { field: 'CYLO_MCP_ALLOWED_ORIGINS' });
  };
  let url: URL | undefined;
  try {
    url = new URL(origin);
  } catch {
    bad('is not an origin; write scheme://host[:port], e.g. https://app.example.com');
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) return bad('is not allowed: only http and https origins can be allowed');
  return url.origin;
}

/** The Origin policy above. */
export function checkOrigin(origin: string | undefined, allowedOrigins: readonly string[] = []): OriginVerdict {
  if (origin === undefined || origin === '') return { ok: true };
  if (origin === 'null') return { ok: false, reason: 'Origin "null" is not allowed' };
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return { ok: false, reason: `Origin ${JSON.stringify(origin.slice(0, 100))} is not a valid origin` };
  }
  if ((url.protocol === 'http:' || url.protocol === 'https:') && isLoopbackHost(url.hostname)) return { ok: true };
  if (allowedOrigins.some((a) => a === url.origin)) return { ok: true };
  return { ok: false, reason: `Origin ${url.origin} is not allowed (only loopback origins and those in CYLO_MCP_ALLOWED_ORIGINS)` };
}

/** Reads CYLO_MCP_ALLOWED_ORIGINS: comma-separated origins allowed besides loopback ones. */
export function allowedOriginsFromEnvironment(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.CYLO_MCP_ALLOWED_ORIGINS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(normalizeOrigin);
}

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

interface Session {
  id: string;
  server: McpServer;
  transport: StreamableHTTPServerTransport;
  lastSeen: number;
  /** HTTP requests of this session being handled now. */
  active: number;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The ids of the JSON-RPC requests in a POST body (one message or a batch). */
function requestIds(body: unknown): (string | number)[] {
  const messages = Array.isArray(body) ? body : [body];
  const ids: (string | number)[] = [];
  for (const m of messages) {
    if (m === null || typeof m !== 'object') continue;
    const { id, method } = m as { id?: unknown; method?: unknown };
    if (typeof method === 'string' && (typeof id === 'string' || typeof id === 'number')) ids.push(id);
  }
  return ids;
}

function isInitialize(body: unknown): boolean {
  return Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body);
}

/** The framework-neutral handler: Origin check, then the session's MCP exchange. */
export async function createMcpHttpHandler(options: McpHttpOptions): Promise<McpHttpHandler> {
  const context = options.context ?? (await createToolContext(options.cylo));
  const allowed = (options.allowedOrigins ?? allowedOriginsFromEnvironment()).map(normalizeOrigin);
  const onError = options.onError ?? (() => {});
  const maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
  const idleMs = options.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS;
  const sessions = new Map<string, Session>();
  // Tool calls whose POST connection is still open, by session and request id: dropping the
  // connection aborts the call.
  const calls = new Map<string, AbortController>();
  const callKey = (sessionId: string | undefined, requestId: string | number): string => `${sessionId ?? ''}\u0000${typeof requestId}:${String(requestId)}`;
  let closed = false;

  const closeSession = async (session: Session): Promise<void> => {
    sessions.delete(session.id);
    await session.transport.close().catch(onError);
    await session.server.close().catch(onError);
  };

  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const session of sessions.values()) {
        if (session.active === 0 && now - session.lastSeen > idleMs) void closeSession(session);
      }
    },
    Math.min(60_000, Math.max(1000, Math.floor(idleMs / 2))),
  );
  sweep.unref();

  /** Makes room for one more session: closes the least recently used idle one, if needed. */
  const makeRoom = (): boolean => {
    if (sessions.size < maxSessions) return true;
    let oldest: Session | undefined;
    for (const s of sessions.values()) if (s.active === 0 && (oldest === undefined || s.lastSeen < oldest.lastSeen)) oldest = s;
    if (oldest === undefined) return false;
    void closeSession(oldest);
    return true;
  };

  const newSession = async (): Promise<Session> => {
    const server = createCyloMcpServer({ ...options, context, callSignal: (sessionId, requestId) => calls.get(callKey(sessionId, requestId))?.signal });
    const session: Session = { id: '', server, transport: undefined as unknown as StreamableHTTPServerTransport, lastSeen: Date.now(), active: 0 };
    session.transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        session.id = id;
        sessions.set(id, session);
      },
      onsessionclosed: (id) => {
        sessions.delete(id);
      },
    });
    session.transport.onerror = onError;
    session.transport.onclose = () => {
      if (session.id !== '') sessions.delete(session.id);
    };
    await server.connect(session.transport);
    return session;
  };

  return {
    sessionCount: () => sessions.size,
    drain() {
      closed = true;
      for (const session of sessions.values()) session.transport.closeStandaloneSSEStream();
    },
    async close() {
      closed = true;
      clearInterval(sweep);
      for (const c of calls.values()) c.abort();
      await Promise.all([...sessions.values()].map(closeSession));
    },
    async handle(req, res, body) {
      const verdict = checkOrigin(header(req, 'origin'), allowed);
      if (!verdict.ok) {
        jsonRpcError(res, 403, -32000, `Forbidden: ${verdict.reason}`);
        return;
      }
      if (closed) {
        jsonRpcError(res, 503, -32000, 'Service unavailable: the server is shutting down', { connection: 'close' });
        return;
      }
      const sessionId = header(req, 'mcp-session-id');
      let session: Session | undefined;
      if (sessionId !== undefined) {
        session = sessions.get(sessionId);
        if (session === undefined) {
          jsonRpcError(res, 404, -32001, 'Session not found: it expired or the server restarted; initialize a new session');
          return;
        }
      } else if (req.method === 'POST' && isInitialize(body)) {
        if (!makeRoom()) {
          jsonRpcError(res, 503, -32000, `Service unavailable: ${maxSessions} MCP sessions are busy; retry later`, { 'retry-after': '5' });
          return;
        }
        session = await newSession();
      } else {
        jsonRpcError(res, 400, -32000, 'Bad Request: no Mcp-Session-Id; start with an initialize request');
        return;
      }

      session.lastSeen = Date.now();
      session.active += 1;
      const keys: string[] = [];
      if (req.method === 'POST') {
        for (const id of requestIds(body)) {
          const key = callKey(sessionId, id);
          calls.set(key, new AbortController());
          keys.push(key);
        }
      }
      // While shutting down, a connection is not kept alive once its response is complete (the
      // host's onSend hook that says "Connection: close" does not see these hijacked replies).
      res.once('finish', () => {
        if (closed) req.socket.end();
      });
      // A connection dropped before its response was complete: cancel the calls it waited for.
      res.once('close', () => {
        for (const key of keys) {
          if (!res.writableFinished) calls.get(key)?.abort();
          calls.delete(key);
        }
        if (session !== undefined) {
          session.active -= 1;
          session.lastSeen = Date.now();
        }
      });
      try {
        await session.transport.handleRequest(req, res, body);
      } catch (error) {
        onError(error as Error);
        jsonRpcError(res, 500, -32603, 'Internal server error');
      }
    },
  };
}
