// Pre-started runtimes (issue 19): the job a slot's next sandbox starts its language runtime
// with ahead of the request, and whether a request's job can be handed to that runtime. Pure.
//
// A pre-started runtime is the request's own runtime, started by PID 1 under every layer the
// program has, that blocks in a trusted stub (native/prestart/) right before it would load the
// program; the request then hands over only the extra argv and its lower rlimits
// (native/prestart.c). It is only used when the request's job is exactly the one it was started
// for (same interpreter, entry, environment, stderr routing; rlimits no higher and cgroup
// limits no lower than the runtime's): anything else discards that sandbox and starts the
// program cold in a new one (namespace-backend.ts sandboxFor).
import type { PrestartKind } from '../backend/backend.js';
import type { SandboxJob } from '../backend/file-bundle.js';

/** Where the stubs appear inside the sandbox (read-only; the host's dist/native/prestart). */
export const PRESTART_IN_SANDBOX = '/.cylo/prestart';
const PYTHON_STUB_DIR = `${PRESTART_IN_SANDBOX}/python`;
const NODE_STUB = `${PRESTART_IN_SANDBOX}/node/preload.cjs`;
/** The Java stub: a JVMTI agent built from native/prestart/java/agent.c (scripts/build-native.js),
 *  relative to the stubs' directory (absent when cylo was built without a JDK). */
export const JAVA_AGENT = 'java/libcylo-prestart.so';
/** Variables the JVM or its launcher read options from: a job with one runs cold (their options
 *  would be applied, and announced on stderr, before the handover). */
const JAVA_OPTION_VARIABLES = ['JAVA_TOOL_OPTIONS', 'JDK_JAVA_OPTIONS', '_JAVA_OPTIONS'];

/** Variables read when a process starts that may name the request's files, which do not exist
 *  yet when a runtime is pre-started: the dynamic loader's (it would skip a preload, or remember
 *  a library directory as missing for every later dlopen, where a cold start finds them) and
 *  Python's home. A job with one runs cold (found by the zygote suite: LD_PRELOAD of the
 *  program's own library; PYTHONHOME in the workspace). */
const STARTUP_VARIABLES = ['LD_PRELOAD', 'LD_AUDIT', 'LD_LIBRARY_PATH', 'PYTHONHOME'];

/** The request-dependent rlimits at their highest (CPU seconds, processes of the uid): the
 *  runtime starts with these and the handover lowers them to the request's. A request above
 *  them runs cold. */
export const PRESTART_RLIMITS = { cpu: 24 * 3600, nproc: 4096 } as const;

/** Bytes of command line a pre-started runtime reserves (a last argument of this many bytes,
 *  which the stub drops): PID 1 writes the program's whole argv there at the handover, so that
 *  /proc/PID/cmdline and ps show it as for a cold start. A longer argv runs cold. */
export const PRESTART_ARGV_ROOM = 4096;
const ROOM_ARG = '.'.repeat(PRESTART_ARGV_ROOM);

/** The job a runtime is pre-started with, and how many argv items of the request it has. */
export interface PrestartJob extends SandboxJob {
  kind: PrestartKind;
  argv: string[];
  env: Record<string, string>;
  rlimits: Record<string, number>;
  stderrToStdout: boolean;
  /** The request's argv[0..given) are in the runtime already; the rest is handed over. */
  given: number;
  /** The cgroup limits the runtime waits under (those of the request it was learned from): a
   *  request is handed over only with limits at least as high, so that the runtime never holds
   *  more memory or tasks (Node's threads count) than the request allows. */
  cgroup: CgroupWait;
}

export interface CgroupWait {
  memoryBytes: number;
  pids: number;
}

/** What a request would run: its argv, environment, rlimits and stderr routing, and its cgroup
 *  limits. */
export type RequestJob = Pick<SandboxJob, 'argv' | 'env' | 'rlimits' | 'stderrToStdout'> & { cgroup: CgroupWait };

/** The variable that tells the Python stub which modules to import before it waits (an
 *  environment's pre-imports, comma-separated); the stub removes it from os.environ. */
export const PREIMPORT_VARIABLE = 'CYLO_PRESTART_IMPORTS';

/** The variable that tells the Python stub to be a zygote (src/sandbox/zygote.ts); the stub
 *  removes it. A program's own would be taken by the stub: such a job is not pre-started. */
export const ZYGOTE_FDS_VARIABLE = 'CYLO_ZYGOTE_FDS';

/** The lowest memory limit (bytes) a runtime pre-imports under: the pre-imported modules (numpy
 *  and pandas: about 60 MiB) count against the program's memory limit, so below this a runtime
 *  of such an environment is pre-started without them (the program imports what it needs). */
export const PREIMPORT_MIN_MEMORY_BYTES = 256 * 1024 * 1024;

/** The pre-start job for a request's job of runtime `kind`, or undefined when it cannot be
 *  pre-started (no entry file as argv[1], or an environment variable the stub needs for
 *  itself). `preimport`: Python modules the runtime imports before it waits (the request's
 *  environment's, src/environments/preimport.ts); only with a memory limit of at least
 *  PREIMPORT_MIN_MEMORY_BYTES. */
export function prestartJob(kind: PrestartKind, job: RequestJob, preimport: readonly string[] = []): PrestartJob | undefined {
  if (STARTUP_VARIABLES.some((v) => v in job.env)) return undefined;
  const rlimits = { ...job.rlimits, ...PRESTART_RLIMITS };
  const stderrToStdout = job.stderrToStdout === true;
  const cgroup = { ...job.cgroup };
  if (kind === 'java') return javaJob(job, rlimits, stderrToStdout, cgroup);
  const [bin, entry] = job.argv;
  if (bin === undefined || entry === undefined || entry.startsWith('-')) return undefined;
  if (kind === 'python') {
    // PYTHONPATH makes site import the stub as sitecustomize: the stub's directory goes first,
    // before the job's own PYTHONPATH (a built environment's tree, the request's), and the stub
    // restores the job's value (or removes the variable). A program's own pre-import variable
    // would be taken by the stub: such a job is not pre-started.
    if (PREIMPORT_VARIABLE in job.env || ZYGOTE_FDS_VARIABLE in job.env) return undefined;
    const own = job.env.PYTHONPATH;
    if (own === '') return undefined; // "STUB:" would add the working directory to sys.path
    const env: Record<string, string> = { ...job.env, PYTHONPATH: own === undefined ? PYTHON_STUB_DIR : `${PYTHON_STUB_DIR}:${own}` };
    if (preimport.length > 0 && job.cgroup.memoryBytes >= PREIMPORT_MIN_MEMORY_BYTES) env[PREIMPORT_VARIABLE] = preimport.join(',');
    return { kind, argv: [bin, entry, ROOM_ARG], env, rlimits, stderrToStdout, given: 2, cgroup };
  }
  // --require runs the stub after Node's bootstrap, before the main module is loaded; the
  // stub takes it out of process.execArgv again.
  return { kind, argv: [bin, '--require', NODE_STUB, entry, ROOM_ARG], env: { ...job.env }, rlimits, stderrToStdout, given: 2, cgroup };
}

/** `java FLAGS -cp CP MAIN ARGS...` is pre-started as `java FLAGS -agentpath:STUB -cp CP MAIN
 *  ROOM`: the launcher creates the JVM, the agent waits in VMInit for the handover and then gives
 *  main the program's arguments (native/prestart/java/agent.c). Undefined for any other shape
 *  (every item before -cp must be a JVM option) or with an option variable in the environment. */
function javaJob(job: RequestJob, rlimits: Record<string, number>, stderrToStdout: boolean, cgroup: CgroupWait): PrestartJob | undefined {
  const cp = job.argv.indexOf('-cp');
  const main = job.argv[cp + 2];
  if (cp < 2 || main === undefined || main.startsWith('-') || !job.argv.slice(1, cp).every((a) => a.startsWith('-'))) return undefined;
  if (JAVA_OPTION_VARIABLES.some((v) => v in job.env)) return undefined;
  const argv = [...job.argv.slice(0, cp), `-agentpath:${PRESTART_IN_SANDBOX}/${JAVA_AGENT}`, ...job.argv.slice(cp, cp + 3), ROOM_ARG];
  return { kind: 'java', argv, env: { ...job.env }, rlimits, stderrToStdout, given: cp + 3, cgroup };
}

/** The argv to hand over to runtime `pre` for the request's job, or undefined when the job is
 *  not the one `pre` was started for (then the runtime is discarded and the job runs cold).
 *  `preimport`: the request's environment's pre-imports (they must be the runtime's: they are
 *  part of its environment). */
export function handoverArgs(pre: PrestartJob, kind: PrestartKind | undefined, job: RequestJob, preimport: readonly string[] = []): string[] | undefined {
  if (kind === undefined) return undefined;
  const wanted = prestartJob(kind, job, preimport);
  if (wanted === undefined || !sameJob(wanted, pre)) return undefined;
  if (job.cgroup.memoryBytes < pre.cgroup.memoryBytes || job.cgroup.pids < pre.cgroup.pids) return undefined;
  // Every rlimit the request sets must be one the runtime has, at that value or below it (a
  // handover only lowers: native/prestart.c).
  for (const [name, value] of Object.entries(job.rlimits)) {
    const has = pre.rlimits[name];
    if (has === undefined || value > has) return undefined;
  }
  // The program's whole command line must fit the room the runtime reserved.
  const bytes = (argv: readonly string[]): number => argv.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
  if (bytes(job.argv) > bytes(pre.argv)) return undefined;
  return job.argv.slice(pre.given);
}

function sameJob(a: PrestartJob, b: PrestartJob): boolean {
  return (
    a.kind === b.kind &&
    a.stderrToStdout === b.stderrToStdout &&
    a.given === b.given &&
    sameList(a.argv, b.argv) &&
    sameList(flatEntries(a.env), flatEntries(b.env)) &&
    sameList(flatEntries(a.rlimits), flatEntries(b.rlimits))
  );
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** [k1, v1, k2, v2...] sorted by key, values as strings. */
function flatEntries(o: Readonly<Record<string, string | number>>): string[] {
  return Object.keys(o)
    .sort()
    .flatMap((k) => [k, String(o[k])]);
}
