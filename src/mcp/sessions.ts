// The sessions of the MCP Streamable HTTP transport (./http.ts): each has its own McpServer and
// transport and is found by its Mcp-Session-Id. They are bounded: at most `maxSessions` (the
// least recently used idle one is closed to make room), closed after `idleMs` without a
// request, and all closed with the server.
import { randomUUID } from 'node:crypto';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';

export interface Session {
  id: string;
  server: McpServer;
  transport: StreamableHTTPServerTransport;
  lastSeen: number;
  /** HTTP requests of this session being handled now. */
  active: number;
}

export interface SessionStoreOptions {
  maxSessions: number;
  idleMs: number;
  /** Creates the McpServer of a new session. */
  createServer: () => McpServer;
  onError: (error: Error) => void;
}

export class SessionStore {
  readonly maxSessions: number;
  private readonly sessions = new Map<string, Session>();
  private readonly sweep: NodeJS.Timeout;

  constructor(private readonly options: SessionStoreOptions) {
    this.maxSessions = options.maxSessions;
    this.sweep = setInterval(() => this.closeIdle(), Math.min(60_000, Math.max(1000, Math.floor(options.idleMs / 2))));
    this.sweep.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  /** Makes room for one more session: closes the least recently used idle one, if needed. */
  makeRoom(): boolean {
    if (this.sessions.size < this.maxSessions) return true;
    let oldest: Session | undefined;
    for (const s of this.sessions.values()) if (s.active === 0 && (oldest === undefined || s.lastSeen < oldest.lastSeen)) oldest = s;
    if (oldest === undefined) return false;
    void this.closeSession(oldest);
    return true;
  }

  /** A new session; it joins the store once the transport has initialised it (and assigned its id). */
  async open(): Promise<Session> {
    const server = this.options.createServer();
    const session: Session = { id: '', server, transport: undefined as unknown as StreamableHTTPServerTransport, lastSeen: Date.now(), active: 0 };
    session.transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        session.id = id;
        this.sessions.set(id, session);
      },
      onsessionclosed: (id) => {
        this.sessions.delete(id);
      },
    });
    session.transport.onerror = this.options.onError;
    session.transport.onclose = () => {
      if (session.id !== '') this.sessions.delete(session.id);
    };
    await server.connect(session.transport);
    return session;
  }

  /** Ends every session's standalone GET (notification) stream; the sessions stay. */
  endStreams(): void {
    for (const session of this.sessions.values()) session.transport.closeStandaloneSSEStream();
  }

  /** Stops the idle sweep and closes every session. */
  async close(): Promise<void> {
    clearInterval(this.sweep);
    await Promise.all([...this.sessions.values()].map((session) => this.closeSession(session)));
  }

  private closeIdle(): void {
    const now = Date.now();
    for (const session of this.sessions.values()) {
      if (session.active === 0 && now - session.lastSeen > this.options.idleMs) void this.closeSession(session);
    }
  }

  private async closeSession(session: Session): Promise<void> {
    this.sessions.delete(session.id);
    await session.transport.close().catch(this.options.onError);
    await session.server.close().catch(this.options.onError);
  }
}
