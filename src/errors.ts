// The catalogue of cylo's stable error codes. Every error a user can see is created here, with a
// code that never changes meaning, an HTTP status, and a message that names the field or layer
// and says what to do. docs/errors.md lists the same table for users.

export const ERROR_CODES = {
  CYLO_E_VALIDATION: { status: 400, summary: 'A request field is missing, has the wrong type or is out of range, or limits contradict each other.' },
  CYLO_E_UNKNOWN_LANGUAGE: { status: 400, summary: 'The requested language (or version) is not known to this cylo.' },
  CYLO_E_RUNTIME_UNAVAILABLE: { status: 400, summary: "The language is known but its toolchain is not installed on this host." },
  CYLO_E_LIMIT_EXCEEDED: { status: 400, summary: "A requested limit is above the server's maximum." },
  CYLO_E_COMPILER_OPTION: { status: 400, summary: "A compiler option (compilerOptions, Judge0's compiler_options) is not on the server's allowlist, is refused as dangerous, or the language takes none." },
  CYLO_E_UNSUPPORTED: { status: 400, summary: 'The request asks for a feature this server does not offer (the message says which, and what to use instead).' },
  CYLO_E_BODY_TOO_LARGE: { status: 413, summary: 'The request body is larger than the server accepts.' },
  CYLO_E_UNAUTHORIZED: { status: 401, summary: 'A bearer token is required and was missing or wrong.' },
  CYLO_E_FORBIDDEN_ORIGIN: { status: 403, summary: 'A browser sent the request from another site (its Origin is neither this server nor in corsOrigins): refused against cross-site request forgery.' },
  CYLO_E_NOT_FOUND: { status: 404, summary: 'No such route.' },
  CYLO_E_SUBMISSION_NOT_FOUND: { status: 404, summary: 'No submission with this id is visible to this key (unknown, expired, or made with another key).' },
  CYLO_E_CALLBACK_NOT_ALLOWED: { status: 400, summary: "A submission's callbackUrl is not http(s) or points to a destination outside the operator's webhookAllow list." },
  CYLO_E_STORAGE: { status: 500, summary: 'The submission database cannot be opened or used (directory, permissions, schema version, or in use by another cylo serve).' },
  CYLO_E_QUEUE_FULL: { status: 503, summary: 'Every slot is busy and the queue is full; retry after the Retry-After delay.' },
  CYLO_E_SHUTTING_DOWN: { status: 503, summary: 'The service is shutting down and accepts no new executions.' },
  CYLO_E_CANCELLED: { status: 499, summary: 'The execution was cancelled by its caller before it finished.' },
  CYLO_E_SANDBOX_UNAVAILABLE: { status: 500, summary: 'A required isolation layer cannot be set up on this host; the message names the layer and the fix.' },
  CYLO_E_CONFIG: { status: 500, summary: 'The configuration (options, file or environment) is invalid.' },
  CYLO_E_USAGE: { status: 400, summary: 'The command line was used incorrectly.' },
  CYLO_E_INTERNAL: { status: 500, summary: 'An unexpected failure inside cylo; please report it.' },
  CYLO_E_SESSION_NOT_FOUND: { status: 404, summary: 'No session has this id (or it belongs to another API key).' },
  CYLO_E_SESSION_LIMIT: { status: 429, summary: 'The most sessions this server (or MCP client) may hold are open; close one or retry later.' },
  CYLO_E_SESSION_ENDED: { status: 410, summary: 'The session has ended (closed, idle, expired, memory_limit, crashed...); the message says why. Create a new one.' },
  CYLO_E_FILE_TOO_LARGE: { status: 413, summary: "A session file is larger than the server's file cap." },
  CYLO_E_BAD_PATH: { status: 400, summary: 'A session file path is not a plain relative path inside the workspace, or it is a symbolic link, a directory or missing.' },
  CYLO_E_CLOSED: { status: 503, summary: 'The cylo instance was closed.' },
  CYLO_E_UNKNOWN_ENVIRONMENT: { status: 400, summary: 'The requested environment does not exist, or it is for another language (the message lists those of the language).' },
  CYLO_E_ENVIRONMENT_BUILD: { status: 500, summary: '`cylo env build` failed: the installer failed in its sandbox (the message ends with its output), or the tree it built could not come back (a symbolic link in it, too large).' },
  CYLO_E_ENVIRONMENT_STORE: { status: 500, summary: 'The environments directory, or an environment in it, is unsafe (a symlink, not owned by root, writable by others) or its manifest is broken.' },
  CYLO_E_QUEUE_UNAVAILABLE: { status: 503, summary: 'Queue mode: the Redis server of the job queue cannot be reached (or lost the job); retry after the Retry-After delay.' },
  CYLO_E_RESIDENT: { status: 503, summary: 'The resident cylo (cylo daemon) cannot start (its socket directory is unsafe, or another resident listens there), or it ended during a `cylo exec` it had accepted (the outcome is unknown; the command was not run again).' },
  CYLO_E_NO_WORKER: { status: 503, summary: 'Queue mode: no live worker offers the requested language; start a worker that has it (cylo worker), or retry after the Retry-After delay.' },
} as const;

export type CyloErrorCode = keyof typeof ERROR_CODES;

export interface CyloErrorOptions {
  /** The request field the error is about, as a dotted path (`limits.memoryBytes`, `files[2].name`). */
  field?: string;
  /** The isolation layer the error is about (`cgroups`, `landlock`, ...). */
  layer?: string;
  cause?: unknown;
}

/** The one error class of cylo: a stable `code`, an HTTP `status`, and the field or layer. */
export class CyloError extends Error {
  readonly code: CyloErrorCode;
  readonly status: number;
  readonly field: string | undefined;
  readonly layer: string | undefined;

  constructor(code: CyloErrorCode, message: string, options: CyloErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CyloError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.field = options.field;
    this.layer = options.layer;
  }

  /** The JSON shape clients receive: `{ error: { code, message, field? } }`; never a stack. */
  toJSON(): { error: { code: CyloErrorCode; message: string; field?: string; layer?: string } } {
    const error: { code: CyloErrorCode; message: string; field?: string; layer?: string } = { code: this.code, message: this.message };
    if (this.field !== undefined) error.field = this.field;
    if (this.layer !== undefined) error.layer = this.layer;
    return { error };
  }
}

export function isCyloError(value: unknown): value is CyloError {
  return value instanceof CyloError;
}

/** Wraps anything thrown into a CyloError, keeping the original as `cause` for debugging. */
export function toCyloError(value: unknown): CyloError {
  if (value instanceof CyloError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new CyloError('CYLO_E_INTERNAL', `internal error: ${message}`, { cause: value });
}
