// The session manager: creates sessions (each on a slot of its own from the backend, never one
// of the execution pool's), finds them by id for their owner, ends them when idle, and ends
// them all when cylo closes. Bounded by maxSessions; an ended session is remembered for a
// while (bounded) so that its id answers "ended, and why" rather than "unknown".
import { z } from 'zod';
import { MIN_LIMITS, type Limits } from '../api/limits.js';
import { zodIssueToCyloError } from '../api/zod-errors.js';
import type { NamespaceBackend } from '../sandbox/namespace-backend.js';
import { CyloError } from '../errors.js';
import { workspacePathProblem } from '../util/workspace-path.js';
import type { ResolvedRuntime, RuntimeRegistry } from '../runtimes/registry.js';
import type { EnvironmentCatalog } from '../environments/catalog.js';
import { isSessionLanguage, SESSION_LANGUAGES } from './drivers.js';
import { endedError, Session, type SessionEnd } from './session.js';
import type { SessionCreateOptions, SessionFile, SessionInfo, SessionLimits, SessionRunResult } from './types.js';

/** Operator settings of sessions (library options; `cylo serve` config). */
export interface SessionSettings {
  maxSessions: number;
  sessionIdleTimeoutMs: number;
  sessionMaxLifetimeMs: number;
  /** The largest file a session uploads or downloads (bytes). */
  sessionFileMaxBytes: number;
}

export const DEFAULT_SESSION_SETTINGS: Readonly<SessionSettings> = Object.freeze({ maxSessions: 8, sessionIdleTimeoutMs: 10 * 60_000, sessionMaxLifetimeMs: 60 * 60_000, sessionFileMaxBytes: 16 * 1024 * 1024 });

/** A session as callers use it; every call counts as activity (the idle timer restarts). */
export interface SessionHandle {
  readonly id: string;
  info(): SessionInfo;
  run(code: string): Promise<SessionRunResult>;
  writeFile(path: string, content: string | Buffer): Promise<{ size: number }>;
  readFile(path: string): Promise<Buffer>;
  listFiles(): Promise<SessionFile[]>;
  deleteFile(path: string): Promise<void>;
  /** Ends the session; nothing of it is left when this resolves. */
  close(): Promise<void>;
}

export interface SessionManagerDeps {
  backend: () => Promise<NamespaceBackend>;
  registry: RuntimeRegistry;
  /** A session's `environment` (src/environments/catalog.ts); absent: none accepted. */
  environments?: Pick<EnvironmentCatalog, 'apply'> | undefined;
  defaultLimits: Limits;
  maxLimits: Limits;
  settings: SessionSettings;
  /** Set when sessions cannot run here (the operator offers only isolation "microvm": sessions
   *  run in the namespace sandbox): every create is refused with CYLO_E_UNSUPPORTED and this. */
  refusal?: string | undefined;
}

const SESSION_LIMIT_NAMES = ['timeoutMs', 'outputBytes', 'memoryBytes', 'pids', 'workspaceBytes'] as const;
const positive = z.number().int().positive();
const createSchema = z.strictObject({
  language: z.string().min(1).max(64),
  limits: z.strictObject(Object.fromEntries(SESSION_LIMIT_NAMES.map((n) => [n, positive.optional()])) as Record<keyof SessionLimits, z.ZodOptional<typeof positive>>).optional(),
  idleTimeoutMs: positive.optional(),
  lifetimeMs: positive.optional(),
  owner: z.string().max(256).optional(),
  environment: z.string().min(1).max(64).optional(),
});

/** Ended sessions remembered (id -> why) so that their id answers 410, not 404. */
const REMEMBERED_ENDS = 1024;

interface Entry {
  session: Session;
  owner: string | undefined;
  idleTimeoutMs: number;
  idleTimer: NodeJS.Timeout | undefined;
  info: SessionInfo;
}

export class SessionManager {
  private readonly live = new Map<string, Entry>();
  private readonly ends = new Map<string, { end: SessionEnd; owner: string | undefined }>();
  private starting = 0;
  private closed = false;

  constructor(private readonly deps: SessionManagerDeps) {}

  get count(): number {
    return this.live.size + this.starting;
  }

  /** Creates a session and waits until its driver answers. Throws CYLO_E_VALIDATION /
   *  CYLO_E_LIMIT_EXCEEDED for bad options, CYLO_E_SESSION_LIMIT when maxSessions are open. */
  async create(input: SessionCreateOptions): Promise<SessionHandle> {
    if (this.closed) throw new CyloError('CYLO_E_CLOSED', 'sessions: this cylo instance is closed');
    if (this.deps.refusal !== undefined) throw new CyloError('CYLO_E_UNSUPPORTED', this.deps.refusal);
    const options = this.validate(input);
    const definition = this.deps.registry.get(options.language);
    if (!isSessionLanguage(definition.id)) throw new CyloError('CYLO_E_VALIDATION', `language: sessions are available for ${SESSION_LANGUAGES.join(' and ')}, not ${definition.id}`, { field: 'language' });
    if (this.count >= this.deps.settings.maxSessions) throw new CyloError('CYLO_E_SESSION_LIMIT', `sessions: ${this.deps.settings.maxSessions} sessions are open, the most this server allows (maxSessions); close one or retry later`);
    // Counted as starting until its entry is live, never as both (two concurrent creates below
    // the bound must both succeed).
    this.starting += 1;
    let starting = true;
    const started = (): void => {
      if (starting) this.starting -= 1;
      starting = false;
    };
    let session: Session | undefined;
    try {
      const resolved = await this.deps.registry.resolve(definition.id);
      if (!resolved.available) throw new CyloError('CYLO_E_RUNTIME_UNAVAILABLE', `language: ${resolved.problem ?? `${definition.id} is not installed`}`, { field: 'language' });
      const runtime = this.withEnvironment(resolved, options.environment);
      const backend = await this.deps.backend();
      if (this.closed) throw new CyloError('CYLO_E_CLOSED', 'sessions: this cylo instance is closed');
      // A slot of its own (uid + cgroup): the execution pool's slots stay for executions.
      const slot = backend.createSlot();
      session = new Session({ backend, slot, runtime, limits: options.limits, lifetimeMs: options.lifetimeMs, fileMaxBytes: this.deps.settings.sessionFileMaxBytes, onEnd: (s) => this.ended(s) });
      const info: SessionInfo = { id: session.id, language: session.language, createdAt: new Date(session.createdAt).toISOString(), expiresAt: new Date(session.createdAt + options.lifetimeMs).toISOString(), idleTimeoutMs: options.idleTimeoutMs, limits: options.limits };
      const entry: Entry = { session, owner: options.owner, idleTimeoutMs: options.idleTimeoutMs, idleTimer: undefined, info };
      this.live.set(session.id, entry);
      started();
      this.touch(entry);
      await session.ready();
      return this.handle(entry);
    } catch (error) {
      await session?.end('crashed', 'the session could not start');
      throw error;
    } finally {
      started();
    }
  }

  /** The session `id` of `owner`. Throws CYLO_E_SESSION_NOT_FOUND (unknown, or another
   *  owner's), CYLO_E_SESSION_ENDED (it ended: the message says why). */
  get(id: string, owner?: string): SessionHandle {
    const entry = this.live.get(id);
    if (entry !== undefined && entry.owner === owner && entry.session.ended === undefined) return this.handle(entry);
    const end = this.ends.get(id) ?? (entry?.session.ended === undefined ? undefined : { end: entry.session.ended, owner: entry.owner });
    if (end !== undefined && end.owner === owner) throw endedError(end.end);
    throw new CyloError('CYLO_E_SESSION_NOT_FOUND', 'session: no session has this id (it never existed, belongs to another API key, or ended long ago)', { field: 'session' });
  }

  /** The live sessions of `owner`. */
  list(owner?: string): SessionInfo[] {
    return [...this.live.values()].filter((e) => e.owner === owner && e.session.ended === undefined).map((e) => e.info);
  }

  /** Ends every session (cylo is closing: sessions are not persisted) and refuses new ones. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.live.values()].map((e) => e.session.end('shutdown', 'the server shut down; sessions are not kept across restarts')));
  }

  private handle(entry: Entry): SessionHandle {
    const s = entry.session;
    const act = <T>(p: () => Promise<T>): Promise<T> => {
      this.touch(entry);
      // A refusal before the request (a bad path) is a rejection too, never a synchronous throw.
      return Promise.resolve().then(p).finally(() => this.touch(entry));
    };
    return {
      id: s.id,
      info: () => entry.info,
      run: (code) => act(() => s.run(code)),
      writeFile: (path, content) => act(() => s.writeFile(checkedPath(path), typeof content === 'string' ? Buffer.from(content, 'utf8') : content)),
      readFile: (path) => act(() => s.readFile(checkedPath(path))),
      listFiles: () => act(() => s.listFiles()),
      deleteFile: (path) => act(() => s.deleteFile(checkedPath(path))),
      close: () => s.close(),
    };
  }

  /** Restarts the idle timer: a session without requests for idleTimeoutMs is ended. */
  private touch(entry: Entry): void {
    clearTimeout(entry.idleTimer);
    if (entry.session.ended !== undefined) return;
    entry.idleTimer = setTimeout(() => void entry.session.end('idle', `the session was idle for ${entry.idleTimeoutMs} ms and was destroyed`), entry.idleTimeoutMs);
    entry.idleTimer.unref();
  }

  private ended(session: Session): void {
    const entry = this.live.get(session.id);
    if (entry === undefined || session.ended === undefined) return;
    clearTimeout(entry.idleTimer);
    this.live.delete(session.id);
    this.ends.set(session.id, { end: session.ended, owner: entry.owner });
    if (this.ends.size > REMEMBERED_ENDS) this.ends.delete(this.ends.keys().next().value as string);
  }

  /** The runtime with the session's environment added (its read-only trees, its variables). */
  private withEnvironment(runtime: ResolvedRuntime, environment: string | undefined): ResolvedRuntime {
    if (environment === undefined) return runtime;
    if (this.deps.environments === undefined) throw new CyloError('CYLO_E_UNKNOWN_ENVIRONMENT', 'environment: this cylo has no environments', { field: 'environment' });
    return this.deps.environments.apply(runtime, environment);
  }

  private validate(input: SessionCreateOptions): { language: string; limits: SessionLimits; idleTimeoutMs: number; lifetimeMs: number; owner: string | undefined; environment: string | undefined } {
    const parsed = createSchema.safeParse(input);
    if (!parsed.success) throw zodIssueToCyloError(parsed.error, input, { code: 'CYLO_E_VALIDATION', schemaHint: 'the SessionCreateOptions type in docs/sessions.md' });
    const o = parsed.data;
    const { defaultLimits, maxLimits, settings } = this.deps;
    const limits = Object.fromEntries(SESSION_LIMIT_NAMES.map((n) => [n, o.limits?.[n] ?? defaultLimits[n]])) as unknown as SessionLimits;
    for (const n of SESSION_LIMIT_NAMES) {
      if (limits[n] > maxLimits[n]) throw new CyloError('CYLO_E_LIMIT_EXCEEDED', `limits.${n}: ${limits[n]} is above the server maximum of ${maxLimits[n]}`, { field: `limits.${n}` });
      if (limits[n] < MIN_LIMITS[n]) throw new CyloError('CYLO_E_VALIDATION', `limits.${n}: must be at least ${MIN_LIMITS[n]} (got ${limits[n]})`, { field: `limits.${n}` });
    }
    const lifetimeMs = o.lifetimeMs ?? settings.sessionMaxLifetimeMs;
    if (lifetimeMs > settings.sessionMaxLifetimeMs) throw new CyloError('CYLO_E_LIMIT_EXCEEDED', `lifetimeMs: ${lifetimeMs} is above the server maximum of ${settings.sessionMaxLifetimeMs} (sessionMaxLifetimeMs)`, { field: 'lifetimeMs' });
    const idleTimeoutMs = Math.min(o.idleTimeoutMs ?? settings.sessionIdleTimeoutMs, lifetimeMs);
    return { language: o.language, limits, idleTimeoutMs, lifetimeMs, owner: o.owner, environment: o.environment };
  }
}

/** The workspace path rule, on the host side too (the driver checks it again). */
function checkedPath(path: string): string {
  const problem = typeof path === 'string' ? workspacePathProblem(path) : 'must be a string';
  if (problem !== undefined) throw new CyloError('CYLO_E_BAD_PATH', `path: ${String(path)} ${problem}`, { field: 'path' });
  return path;
}

