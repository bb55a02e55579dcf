// Resource limits: the names, the defaults every execution gets, and the maxima a request may
// ask for. A server (or library user) can lower or raise the maxima; a request above them is
// refused with CYLO_E_LIMIT_EXCEEDED, never silently clamped.

export interface Limits {
  /** Wall-clock time of the run stage, from the moment the program starts. */
  timeoutMs: number;
  /** CPU time of all the run stage's processes together. */
  cpuTimeMs: number;
  /** Memory (RSS + page cache + tmpfs) of the whole run stage; no swap. */
  memoryBytes: number;
  /** Processes and threads alive at once. */
  pids: number;
  /** Bytes kept per output stream (stdout and stderr each); beyond it the run is stopped. */
  outputBytes: number;
  /** Size of the tmpfs workspace (the only writable place). */
  workspaceBytes: number;
  /** Wall-clock time of the compile stage. */
  compileTimeoutMs: number;
  /** Memory of the compile stage (compilers need more than programs). */
  compileMemoryBytes: number;
  /** Content bytes of one output file the run stage returns (a request's `outputs`); a larger
   *  file comes back cut, with `truncated: true`. */
  outputFileBytes: number;
  /** Content bytes of all the output files of one run stage together; past it files come back
   *  cut or are skipped (`total_limit`). */
  outputFilesBytes: number;
}

export type LimitName = keyof Limits;

export const LIMIT_NAMES: readonly LimitName[] = [
  'timeoutMs',
  'cpuTimeMs',
  'memoryBytes',
  'pids',
  'outputBytes',
  'workspaceBytes',
  'compileTimeoutMs',
  'compileMemoryBytes',
  'outputFileBytes',
  'outputFilesBytes',
];

const MiB = 1024 * 1024;

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  timeoutMs: 10_000,
  cpuTimeMs: 10_000,
  memoryBytes: 256 * MiB,
  pids: 64,
  outputBytes: 1 * MiB,
  workspaceBytes: 64 * MiB,
  compileTimeoutMs: 30_000,
  compileMemoryBytes: 1024 * MiB,
  outputFileBytes: 2 * MiB,
  outputFilesBytes: 4 * MiB,
});

export const DEFAULT_MAX_LIMITS: Readonly<Limits> = Object.freeze({
  timeoutMs: 60_000,
  cpuTimeMs: 60_000,
  memoryBytes: 2048 * MiB,
  pids: 512,
  outputBytes: 16 * MiB,
  workspaceBytes: 512 * MiB,
  compileTimeoutMs: 120_000,
  compileMemoryBytes: 4096 * MiB,
  outputFileBytes: 64 * MiB,
  outputFilesBytes: 64 * MiB,
});

/** The smallest values that still let a sandbox start; below them a request is a mistake. */
export const MIN_LIMITS: Readonly<Limits> = Object.freeze({
  timeoutMs: 1,
  cpuTimeMs: 1,
  memoryBytes: 4 * MiB,
  pids: 2,
  outputBytes: 1,
  workspaceBytes: 64 * 1024,
  compileTimeoutMs: 1,
  compileMemoryBytes: 16 * MiB,
  outputFileBytes: 1,
  outputFilesBytes: 1,
});

/** Bounds on the request itself (not on the program). */
export interface RequestBounds {
  maxFiles: number;
  maxFileNameBytes: number;
  maxFilesBytes: number;
  maxStdinBytes: number;
  maxArgs: number;
  maxArgBytes: number;
  maxEnv: number;
  /** Test cases in one request (`tests`). */
  maxTests: number;
  /** All args and env variables together: they travel as one argv through exec(), whose total
   *  size the kernel caps (a quarter of the service's stack limit, 2 MiB with the usual 8 MiB). */
  maxArgsTotalBytes: number;
}

export const DEFAULT_REQUEST_BOUNDS: Readonly<RequestBounds> = Object.freeze({
  maxFiles: 1000,
  maxFileNameBytes: 1024,
  maxFilesBytes: 64 * MiB,
  maxStdinBytes: 64 * MiB,
  maxArgs: 256,
  maxArgBytes: 64 * 1024,
  maxEnv: 64,
  maxTests: 256,
  maxArgsTotalBytes: 1 * MiB,
});
