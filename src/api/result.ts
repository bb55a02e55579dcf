// The execution result, as every interface (library, CLI --json, HTTP, MCP) returns it.
import type { OutputEncoding } from './output-encoding.js';
import type { TestCaseResult, TestSummary } from './verdict.js';
import type { OutputSkipReason } from './outputs.js';

export const EXECUTION_STATUSES = ['ok', 'compile_error', 'runtime_error', 'timeout', 'memory_limit', 'output_limit', 'internal_error'] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

/** The limits a stage can run into, as a result's `limit` names them:
 *  wall (timeoutMs or compileTimeoutMs), cpu (cpuTimeMs), memory (memoryBytes or
 *  compileMemoryBytes: the OOM killer), output (outputBytes), pids (pids: a fork or thread was
 *  refused), workspace (workspaceBytes or its inode cap: the workspace was full),
 *  file_size (a file reached the per-file size limit: SIGXFSZ). */
export const STAGE_LIMITS = ['wall', 'cpu', 'memory', 'output', 'pids', 'workspace', 'file_size'] as const;
export type StageLimit = (typeof STAGE_LIMITS)[number];

/** A file the run stage's program wrote that matched the request's `outputs`. */
export interface OutputFile {
  /** Its workspace-relative path, e.g. "plot.png" or "out/data.csv". */
  name: string;
  /** Its size in the workspace, in bytes (more than `content` holds when truncated). */
  size: number;
  encoding: 'base64';
  /** Its bytes, base64: all of them, or the first ones when `truncated`. */
  content: string;
  /** Cut at limits.outputFileBytes or at what limits.outputFilesBytes had left. */
  truncated: boolean;
  /** "image/png", "image/jpeg", "image/gif", "image/webp" or "image/svg+xml" when the bytes are
   *  an image of that type (by their magic bytes, never by the name); absent otherwise. */
  mimeType?: string;
}

export interface Stage {
  status: ExecutionStatus;
  /** The program's exit code, or null when it was ended by a signal. */
  exitCode: number | null;
  /** The signal that ended the program (e.g. "SIGKILL"), or null. */
  signal: string | null;
  /** The program's output, in the result's outputEncoding. */
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** Wall-clock ms from the program's exec to its end (sandbox setup excluded). */
  wallMs: number;
  /** CPU ms of the program and every process and thread it started, from its exec to its exit
   *  (sandbox setup excluded; see docs/api.md). */
  cpuMs: number;
  /** Peak memory of the stage's cgroup (all processes, page cache and workspace files included). */
  memoryBytes: number;
  /** What stopped the stage when cylo did (limit hit, setup failure), or which limit a failed
   *  program ran into; null otherwise. For people: wording may change. */
  message: string | null;
  /** Machine-readable: the limit that ended or broke a stage that did not end `ok` (from the
   *  kernel's counters: OOM kills, pids.events, the workspace's free space), or null. */
  limit: StageLimit | null;
  /** Compile stages only: true when this execution did not run the compiler (the compile cache
   *  had the artifact, or an identical compile in progress produced it); the stage then reports
   *  that compile's output and exit code with zero times. false when it ran. */
  cached?: boolean;
  /** Run stages of a request with `outputs` only: the matching regular files, by name. */
  files?: OutputFile[];
  /** ...the matching entries that did not come back, and why (at most 100 listed). */
  filesSkipped?: Array<{ name: string; reason: OutputSkipReason }>;
  /** ...true when any matching file was cut or left out, or more were skipped than listed. */
  filesIncomplete?: boolean;
  /** ...why no file could be read at all (e.g. the execution was cancelled), or null. */
  filesError?: string | null;
}

/** The isolation layers cylo knows; `layers` in a result lists those in force for it. */
export const LAYERS = ['namespaces', 'identity', 'filesystem', 'landlock', 'seccomp', 'cgroups', 'rlimits', 'environment', 'limits', 'output-caps'] as const;
export type Layer = (typeof LAYERS)[number];

/** The isolation backends (src/backend/backend.ts); a result says which one ran it. */
export const BACKENDS = ['namespace', 'microvm'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface ExecutionResult {
  id: string;
  language: string;
  version: string;
  status: ExecutionStatus;
  compile: Stage | null;
  run: Stage | null;
  layers: Layer[];
  /** The isolation backend that ran the execution ("namespace": bubblewrap, cgroups, seccomp,
   *  Landlock). */
  backend: BackendName;
  /** How every stage's stdout and stderr are encoded: "utf8" text (invalid UTF-8 replaced
   *  with U+FFFD) or "base64" of the exact bytes; the request's outputEncoding. */
  outputEncoding: OutputEncoding;
  /** Requests with `tests` only: every case's verdict and run stage, in the request's order
   *  (`run` is then null: the cases are the runs). */
  tests?: TestCaseResult[];
  /** Requests with `tests` only: counts, the overall verdict, the largest time and memory. */
  summary?: TestSummary;
}
