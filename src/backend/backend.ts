// The isolation backend interface: everything the execution lifecycle (src/engine/lifecycle.ts)
// needs from whatever isolates a stage. The lifecycle decides what runs (argv, environment,
// files, limits, compile then run); a backend decides how it is isolated and reports what
// happened as facts; src/engine/outcome.ts turns those facts into a status and a message, the
// same way for every backend.
//
// Implementations: the namespace sandbox (src/sandbox/namespace-backend.ts: bubblewrap, the
// native helper, cgroups, seccomp, Landlock). A hardware-virtualisation backend implements the
// same interface (see docs/architecture.md, "Adding a backend").
import type { Limits } from '../api/limits.js';
import type { BackendName, Layer } from '../api/result.js';
import type { BundleFile } from './file-bundle.js';
import type { OutputBundle, OutputCaps } from './output-bundle.js';
import type { ForwardableSignal } from '../util/signals.js';
import type { PoolSlot } from '../engine/pool.js';

/** Why a backend stopped a stage rather than it ending on its own. */
export type StopReason = 'timeout' | 'cpu' | 'stdout' | 'stderr' | 'cancelled' | 'setup';

/** Where every backend puts the workspace (the fresh, size-capped, only writable place) and
 *  runs the program from; runtime templates see it as {workspace}. */
export const WORKSPACE = '/work';
/** Temporary files live inside the workspace (and count against its size); /tmp points here. */
export const WORKSPACE_TMP = '/work/.tmp';

/** A host tree a stage needs read-only at another place (a runtime's node packages). */
export interface HostMount {
  source: string;
  dest: string;
}

export type { BackendName };

/** The limits one stage is held to (units: ms and bytes; meanings in src/api/limits.ts). A
 *  compile stage gets compileTimeoutMs and compileMemoryBytes as its timeoutMs and memoryBytes. */
export type StageLimits = Pick<Limits, 'timeoutMs' | 'cpuTimeMs' | 'memoryBytes' | 'pids' | 'outputBytes' | 'workspaceBytes'>;

/** Lets the caller signal a stage's program while it runs (interactive sessions). */
export interface StageControl {
  /** Sends a signal to the running program; false when it is not running. Filled in by the
   *  backend when the program has started. */
  signal?: (signal: ForwardableSignal) => boolean;
}

/** One stage to run: a program, its files and input, and its limits. */
export interface StageSpec {
  kind: 'compile' | 'run';
  /** Host trees the program needs read-only (its toolchain), from the runtime registry. */
  roots: readonly string[];
  mounts: readonly HostMount[];
  /** The program's argv inside the isolation (argv[0] absolute) and its whole environment. */
  argv: string[];
  env: Record<string, string>;
  /** Files written into the fresh workspace before the program starts. */
  files: readonly BundleFile[];
  /** Workspace-relative directories created before the files (compile stages: the artifact's
   *  parents, which compilers rarely create themselves). */
  mkdirs?: readonly string[] | undefined;
  stdin: Buffer;
  /** The program's stderr is written into its stdout (one stream, in the order of the writes;
   *  the report's stderr is then empty and stdout counts against the output limit for both).
   *  A backend must make fd 2 the same channel as fd 1 inside the isolation: merging two
   *  streams afterwards cannot recover their order. Default false. */
  stderrToStdout?: boolean | undefined;
  /** Interactive input after `stdin`, written as it arrives; its end closes stdin. */
  stdinStream?: AsyncIterable<Buffer> | undefined;
  control?: StageControl | undefined;
  /** false: output is only passed to onStdout/onStderr (still counted against outputBytes) and
   *  the report's stdout/stderr are empty; for a long-lived stage (a session) whose output
   *  must not pile up in the service's memory. Default true. */
  retainOutput?: boolean | undefined;
  limits: StageLimits;
  /** Compile stages: workspace-relative paths streamed back out after a clean exit, at most
   *  maxBytes in all (the host never reads the isolated filesystem). */
  emit?: { paths: readonly string[]; maxBytes: number } | undefined;
  /** Run stages: the request's output patterns (src/api/outputs.ts) and caps. After the program
   *  ended (whatever its status; a stage stopped at a limit too, but not a cancelled one) and
   *  every process of the stage is dead, the matching regular files are read INSIDE the
   *  isolation, never following a link, and streamed back (src/backend/output-bundle.ts). */
  outputs?: ({ patterns: readonly string[] } & OutputCaps) | undefined;
  /** Environment builds only (`cylo env build --network`): outbound network through a user-mode
   *  stack attached to the stage's own network namespace (src/sandbox/build-network.ts: TCP to
   *  ports 80/443, never the host's loopback, link-local or private ranges). Only the namespace
   *  backend runs such stages (the build asks it directly); it refuses the stage (setupError),
   *  never runs it without that isolation. Default: no network at all. */
  network?: boolean | undefined;
  /** Cancels the stage: every process of it is killed before runStage resolves. */
  signal?: AbortSignal | undefined;
  onStdout?: ((chunk: Buffer) => void) | undefined;
  onStderr?: ((chunk: Buffer) => void) | undefined;
  /** Called when the program starts (its wall-clock time starts here). */
  onStart?: (() => void) | undefined;
  /** Run stages: how this runtime can be started ahead of its request (a runtime definition's
   *  `prestart`); a backend may then start the next such stage's runtime ahead of time and hand
   *  it only the program. Undefined: always started cold. */
  prestart?: PrestartKind | undefined;
  /** With `prestart: 'python'`: modules a pre-started runtime imports before it waits (the
   *  request's environment's pre-imports, src/environments/preimport.ts); the runtime is handed
   *  over only to a stage with the same list. */
  preimport?: readonly string[] | undefined;
}

/** How a runtime is pre-started: 'python' (CPython, a stub run as its sitecustomize), 'node'
 *  (Node.js, a stub run as a --require preload) or 'java' (the JVM's launcher with a JVMTI agent
 *  stub). See docs/security.md, "Pre-started runtimes". */
export type PrestartKind = 'python' | 'node' | 'java';
export const PRESTART_KINDS: readonly PrestartKind[] = ['python', 'node', 'java'];

/** What happened to a stage, as facts (no status, no message: see src/engine/outcome.ts). */
export interface StageReport {
  /** Why the backend stopped the stage; null when it ended on its own. */
  stopReason: StopReason | null;
  /** Why the isolation could not be set up (nothing of the program ran), or null. */
  setupError: string | null;
  /** The isolation was set up but the program could not be started (its execve failed): the
   *  errno (Linux numbering) and a message naming the path and the reason; null otherwise. */
  execError?: { errno: number; message: string } | null | undefined;
  /** The isolation itself ended before the program's status came back, and not because the
   *  backend stopped it (a VM's guest kernel panicked, QEMU died): why, or null/absent. */
  isolationLost?: string | null | undefined;
  /** How the program ended, as the isolation's PID 1 saw it; null when it never reported. */
  exit: { code: number | null; signalNumber: number | null } | null;
  /** The kernel's OOM killer ended a process of the stage (its memory limit). */
  oomKilled: boolean;
  /** The kernel refused a fork or thread of the stage at its pids limit (the cgroup's
   *  pids.events `max` counter grew during the stage). Absent: not observed. */
  pidsLimitHit?: boolean | undefined;
  /** The workspace had no free bytes or no free inodes left when the program ended (PID 1's
   *  statfs of the workspace). Absent: not observed. */
  workspaceFull?: boolean | undefined;
  stdout: Buffer;
  stderr: Buffer;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** Wall-clock ms from the program's start to its end (0 if it never started). */
  wallMs: number;
  /** CPU ms of the stage's program: every process and thread it started, from its exec to its
   *  exit; the isolation's own setup before the exec is not included. */
  cpuMs: number;
  /** Peak memory of the stage in bytes (page cache and workspace files included). */
  memoryBytes: number;
  /** Compile stages: the emitted artifact bundle (see src/sandbox/file-bundle.ts). */
  artifact?: Buffer | undefined;
  /** Compile stages: why the artifact could not be emitted, or null. */
  artifactError?: string | null | undefined;
  /** Run stages with outputs: the files that came back (decoded and checked), or undefined when
   *  none could be read (then outputFilesError says why). */
  outputFiles?: OutputBundle | undefined;
  /** Run stages with outputs: why no output file could be read, or null. */
  outputFilesError?: string | null | undefined;
}

/** A slot: what one execution at a time runs in (for the namespace backend, an unprivileged
 *  uid and a cgroup, with a sandbox prepared ahead of time). The pool creates, resets and
 *  destroys slots. */
export type BackendSlot = PoolSlot;

export interface SandboxBackend<S extends BackendSlot = BackendSlot> {
  readonly name: BackendName;
  /** The isolation layers this backend has in force (a result's `layers`). */
  readonly layers: readonly Layer[];
  /** Creates a slot (the pool calls it ahead of time, up to its concurrency). Throws a
   *  CyloError naming the layer when the isolation cannot be set up. */
  createSlot(): S;
  /** Runs one stage in `slot`. Resolves when no process of it is alive; the slot may then run
   *  the execution's next stage. Rejects only for a bug or a host failure, never because of
   *  what the program did. */
  runStage(slot: S, spec: StageSpec): Promise<StageReport>;
  /** Optional: true when `slot`'s sandbox prepared ahead of time is the kind the run stage of a
   *  runtime pre-starting `prestart` would use (a pre-started runtime of that kind; none for
   *  `undefined`). The pool then hands such a slot rather than the last one freed, so that a
   *  slot pre-starting Python is not taken by a C program (whose stage would start a sandbox on
   *  demand). A hint only: runStage still checks that the whole plan fits. */
  preparedFor?(slot: S, prestart: PrestartKind | undefined): boolean;
  /** How stages got their isolation: prepared ahead of time or started on demand. */
  stats(): { prepared: number; startedOnDemand: number };
}
