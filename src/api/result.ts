// The execution result, as every interface (library, CLI --json, HTTP, MCP) returns it.
import type { OutputEncoding } from './output-encoding.js';

export const EXECUTION_STATUSES = ['ok', 'compile_error', 'runtime_error', 'timeout', 'memory_limit', 'output_limit', 'internal_error'] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

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
  /** Wall-clock time from the program's start to its end. */
  wallMs: number;
  /** CPU time of all the stage's processes. */
  cpuMs: number;
  /** Peak memory of the stage (all processes, page cache and workspace files included). */
  memoryBytes: number;
  /** What stopped the stage when cylo did (limit hit, setup failure); null otherwise. */
  message: string | null;
  /** Compile stages only: true when the compile was skipped because the compile cache had the
   *  artifact (the stage then reports no output and zero times), false when it ran. */
  cached?: boolean;
}

/** The isolation layers cylo knows; `layers` in a result lists those in force for it. */
export const LAYERS = ['namespaces', 'identity', 'filesystem', 'landlock', 'seccomp', 'cgroups', 'rlimits', 'environment', 'limits', 'output-caps'] as const;
export type Layer = (typeof LAYERS)[number];

/** The isolation backends (src/backend/backend.ts); a result says which one ran it. */
export const BACKENDS = ['namespace'] as const;
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
}
