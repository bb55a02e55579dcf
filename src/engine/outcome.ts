// The one place that decides what a stage's outcome means: a pure function from the facts a
// backend reports (src/backend/backend.ts: StageReport) to the Stage every interface returns
// (status, exit code or signal, message, limit). Order of precedence, first match wins:
//   cancelled by the caller > setup failed > could not be started > output limit > wall-clock limit > CPU limit >
//   OOM kill (memory limit) > no exit reported > exit 0 (ok) > any other exit (runtime error)
// A compile stage's runtime error is a compile error, and its messages name the compiler.
// A runtime (or compile) error names the limit the program ran into when the kernel's counters
// show one: SIGXFSZ (file_size) > a full workspace (workspace) > a refused fork (pids).
import type { ExecutionStatus, Stage, StageLimit } from '../api/result.js';
import type { StageLimits, StageReport } from '../backend/backend.js';
import { constants } from 'node:os';
import { encodeOutput, type OutputEncoding } from '../api/output-encoding.js';
import { signalName } from '../util/signals.js';
import { stageFiles } from './output-files.js';

export type StageKind = 'compile' | 'run';

interface Verdict {
  status: ExecutionStatus;
  message: string | null;
  limit: StageLimit | null;
}

/** SIGXFSZ: a file reached RLIMIT_FSIZE (the per-file size limit, see rlimitsFor). */
const SIGXFSZ = constants.signals.SIGXFSZ;

function stopped(report: StageReport, who: string, limits: StageLimits): Verdict | undefined {
  switch (report.stopReason) {
    case 'stdout':
    case 'stderr':
      return { status: 'output_limit', message: `${report.stopReason} exceeded the output limit of ${limits.outputBytes} bytes; ${who} was stopped`, limit: 'output' };
    case 'timeout':
      return { status: 'timeout', message: `wall-clock time limit of ${limits.timeoutMs} ms exceeded; ${who} was killed`, limit: 'wall' };
    case 'cpu':
      return { status: 'timeout', message: `CPU time limit of ${limits.cpuTimeMs} ms exceeded; ${who} was killed`, limit: 'cpu' };
    default:
      return undefined;
  }
}

/** The limit a program that failed on its own ran into, with what to tell a person. */
function failedAt(report: StageReport, who: string, limits: StageLimits): Pick<Verdict, 'message' | 'limit'> {
  if (report.exit?.signalNumber === SIGXFSZ) {
    return { limit: 'file_size', message: `${who} made a file larger than the per-file size limit (SIGXFSZ)` };
  }
  if (report.workspaceFull === true) {
    return { limit: 'workspace', message: `the workspace was full (workspaceBytes ${limits.workspaceBytes}, or its file count cap) when ${who} ended; writes failed with ENOSPC` };
  }
  if (report.pidsLimitHit === true) {
    return { limit: 'pids', message: `${who} reached the pids limit of ${limits.pids} processes and threads; a fork or thread creation failed with EAGAIN` };
  }
  return { limit: null, message: null };
}

function verdict(report: StageReport, kind: StageKind, limits: StageLimits): Verdict {
  const who = kind === 'compile' ? 'the compiler' : 'the program';
  switch (report.stopReason) {
    case 'cancelled':
      return { status: 'internal_error', message: 'cancelled by the caller', limit: null };
    case 'setup':
      return { status: 'internal_error', message: `sandbox setup failed: ${report.setupError ?? 'the sandbox did not start in time'}`, limit: null };
    default:
  }
  if (report.setupError !== null) return { status: 'internal_error', message: `sandbox setup failed: ${report.setupError}`, limit: null };
  if (report.execError != null) return cannotStart(report.execError, kind);
  const byCylo = stopped(report, who, limits);
  if (byCylo !== undefined) return byCylo;
  if (report.oomKilled) return { status: 'memory_limit', message: `memory limit of ${limits.memoryBytes} bytes exceeded; ${who} was killed`, limit: 'memory' };
  if (report.exit === null && report.isolationLost != null) return { status: 'internal_error', message: `the isolation ended before ${who} reported its status: ${report.isolationLost}`, limit: null };
  if (report.exit === null) return { status: 'internal_error', message: 'the sandbox ended without reporting the program exit status', limit: null };
  if (report.exit.code === 0) return { status: 'ok', message: null, limit: null };
  return { status: kind === 'compile' ? 'compile_error' : 'runtime_error', ...failedAt(report, who, limits) };
}

/** Why execve fails, by Linux errno, in words a user can act on. */
const EXEC_CAUSES: Readonly<Record<number, string>> = {
  2: 'the file, or the interpreter its #! line names, does not exist in the sandbox', // ENOENT
  8: 'the file is not a program the system can start (not an ELF executable, no #! line)', // ENOEXEC
  13: 'the file is not executable (no execute permission, or not a regular file)', // EACCES
  20: 'a directory in its path is not a directory', // ENOTDIR
  21: 'it is a directory', // EISDIR
};

/** How the message of a run stage whose program could not be started begins (the Judge0 API
 *  reports such a stage as its "Exec Format Error"). */
export const CANNOT_START_MESSAGE = 'the program could not be started: ';

/** A stage whose program could not be started (the sandbox was fine). The run stage: the
 *  program's fault, a runtime_error naming the cause. The compile stage: the compiler the
 *  runtime definition names cannot be started, which no request can cause (internal_error). */
function cannotStart(exec: { errno: number; message: string }, kind: StageKind): Verdict {
  const cause = EXEC_CAUSES[exec.errno];
  const why = `${exec.message}${cause === undefined ? '' : `; ${cause}`}`;
  return kind === 'compile'
    ? { status: 'internal_error', message: `the compiler could not be started: ${why}; check the runtime definition`, limit: null }
    : { status: 'runtime_error', message: `${CANNOT_START_MESSAGE}${why}`, limit: null };
}

/** The Stage of a backend's report (with the output files when the stage had outputs). `limits` are the ones the stage ran under (they appear in
 *  the messages); `encoding` is how the request wants the output bytes carried (the request's
 *  outputEncoding: UTF-8 text or base64 of the exact bytes). */
export function classifyStage(report: StageReport, kind: StageKind, limits: StageLimits, encoding: OutputEncoding): Stage {
  const { status, message, limit } = verdict(report, kind, limits);
  const exitSignal = report.exit?.signalNumber ?? null;
  // A program cylo stopped (limits, cancellation) was killed with SIGKILL, unless it reported
  // its own end first; so was a program the OOM killer ended without PID 1 reporting its end
  // (the kernel's OOM kill is always SIGKILL). A sandbox that never started has no signal.
  const stoppedByCylo = report.stopReason !== null && report.stopReason !== 'setup';
  const oomUnreported = status === 'memory_limit' && report.exit === null;
  const files = stageFiles(report);
  const signal = exitSignal !== null ? signalName(exitSignal) : stoppedByCylo || oomUnreported ? 'SIGKILL' : null;
  return {
    status,
    exitCode: report.exit?.code ?? null,
    signal,
    stdout: encodeOutput(report.stdout, encoding),
    stderr: encodeOutput(report.stderr, encoding),
    stdoutTruncated: report.stdoutTruncated,
    stderrTruncated: report.stderrTruncated,
    wallMs: report.wallMs,
    cpuMs: report.cpuMs,
    memoryBytes: report.memoryBytes,
    message,
    limit,
    ...files,
  };
}

/** A compile that exited 0 but gave the run stage nothing it can start: a compile_error saying
 *  why (`problem`, from artifact-check.ts) and what to change (`hint`, from the definition). */
export function unrunnableCompileStage(stage: Stage, problem: string, hint: string | undefined): Stage {
  const fix = hint === undefined ? '' : `; ${hint}`;
  return { ...stage, status: 'compile_error', message: `the compiler exited 0 but produced no runnable program: ${problem}${fix}` };
}


/** Why a session ended (src/sessions/): asked for (closed, idle, shutdown), its lifetime
 *  (expired), its sandbox's limits (memory_limit, output_limit), a run that did not stop when
 *  interrupted (timeout), or its driver died or broke the protocol (crashed). */
export type SessionEndReason = 'closed' | 'idle' | 'expired' | 'shutdown' | 'memory_limit' | 'output_limit' | 'timeout' | 'crashed';

/** A session's end: why, the status a run in progress gets, and a message for people. */
export interface SessionEnd {
  reason: SessionEndReason;
  status: ExecutionStatus;
  message: string;
}

/** How a session's stage ended. `requested`: the host ended it (and why), or null when it ended
 *  on its own (the stage's timeoutMs is the session's lifetime). */
export function classifySessionEnd(report: StageReport, limits: StageLimits, requested: { reason: SessionEndReason; message: string } | null): SessionEnd {
  if (requested !== null) return { ...requested, status: requested.reason === 'timeout' ? 'timeout' : 'internal_error' };
  if (report.stopReason === 'timeout') return { reason: 'expired', status: 'timeout', message: `the session's lifetime of ${limits.timeoutMs} ms ended; the session was destroyed` };
  const v = verdict(report, 'run', limits);
  if (v.status === 'memory_limit') return { reason: 'memory_limit', status: 'memory_limit', message: `the session's memory limit of ${limits.memoryBytes} bytes was exceeded; its sandbox was killed with everything in it (variables and files are lost)` };
  if (v.status === 'output_limit') return { reason: 'output_limit', status: 'output_limit', message: `the session's driver exceeded its output channel budget of ${limits.outputBytes} bytes; the session was destroyed` };
  const how = v.message ?? (report.exit?.code != null ? `its driver exited with code ${report.exit.code}` : 'its driver ended');
  return { reason: 'crashed', status: v.status === 'ok' ? 'runtime_error' : v.status, message: `the session crashed: ${how}; its sandbox was destroyed` };
}

/** A session run's status from the driver's answer: `error.type` as the driver named it
 *  (KeyboardInterrupt: interrupted by the host's SIGINT; TimeoutError: the driver's own timer),
 *  `interrupted`: the host interrupted the run because its wall time was over. */
export function classifySessionRun(error: { type: string } | null | undefined, interrupted: boolean, timeoutMs: number): Verdict {
  if ((interrupted && error?.type === 'KeyboardInterrupt') || error?.type === 'TimeoutError') {
    return { status: 'timeout', message: `wall-clock time limit of ${timeoutMs} ms exceeded; the run was interrupted and the session kept its state`, limit: 'wall' };
  }
  if (error != null) return { status: 'runtime_error', message: null, limit: null };
  return { status: 'ok', message: null, limit: null };
}
