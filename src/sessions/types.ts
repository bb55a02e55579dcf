// The shapes of the session API (library, HTTP, MCP). Units: ms and bytes.
import type { ExecutionStatus, StageLimit } from '../api/result.js';
import type { SessionEndReason } from '../engine/outcome.js';

/** Limits of a session: `timeoutMs` and `outputBytes` hold each run (its wall time; each of
 *  stdout, stderr and the result), the others the whole session (its one sandbox). */
export interface SessionLimits {
  timeoutMs: number;
  outputBytes: number;
  memoryBytes: number;
  pids: number;
  workspaceBytes: number;
}

export interface SessionCreateOptions {
  /** `python` or `javascript` (or an alias of them). */
  language: string;
  limits?: Partial<SessionLimits>;
  /** The session ends after this long without a request (default: sessionIdleTimeoutMs). */
  idleTimeoutMs?: number;
  /** The session ends this long after it was created (default and maximum: sessionMaxLifetimeMs). */
  lifetimeMs?: number;
  /** Who owns it (an API key's hash): get() with another owner finds nothing. */
  owner?: string;
  /** A named environment of the language (docs/environments.md), e.g. "datasci". */
  environment?: string;
}

/** One run's result. `sessionEnded` is set when the session ended with this run (its sandbox
 *  was killed: a memory limit, a run that would not stop, a crash); the session is then gone. */
export interface SessionRunResult {
  status: ExecutionStatus;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** repr()/util.inspect of the last expression's value, or null. */
  result: string | null;
  /** Figures (matplotlib) drawn by the run, base64. */
  images: Array<{ mimeType: 'image/png'; data: string }>;
  /** The exception the code raised (Python) or threw (JavaScript), or null. */
  error: { type: string; message: string; traceback?: string | undefined } | null;
  /** Host-measured wall time of the run (request to answer). */
  wallMs: number;
  message: string | null;
  limit: StageLimit | null;
  sessionEnded: { reason: SessionEndReason; message: string } | null;
}

/** A workspace entry (`.tmp` excluded). */
export interface SessionFile {
  path: string;
  size: number;
  type: 'file' | 'symlink' | 'other';
}

/** What a caller sees of a session. */
export interface SessionInfo {
  id: string;
  language: string;
  createdAt: string;
  expiresAt: string;
  idleTimeoutMs: number;
  limits: SessionLimits;
}
