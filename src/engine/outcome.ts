// The one place that decides what a stage's outcome means: a pure function from the facts a
// backend reports (src/backend/backend.ts: StageReport) to the Stage every interface returns
// (status, exit code or signal, message, limit). Order of precedence, first match wins:
//   cancelled by the caller > setup failed > output limit > wall-clock limit > CPU limit >
//   OOM kill (memory limit) > no exit reported > exit 0 (ok) > any other exit (runtime error)
// A compile stage's runtime error is a compile error, and its messages name the compiler.
// A runtime (or compile) error names the limit the program ran into when the kernel's counters
// show one: SIGXFSZ (file_size) > a full workspace (workspace) > a refused fork (pids).
import type { ExecutionStatus, Stage, StageLimit } from '../api/result.js';
import type { StageLimits, StageReport } from '../backend/backend.js';
import { constants } from 'node:os';
import { signalName } from '../util/signals.js';

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
  const byCylo = stopped(report, who, limits);
  if (byCylo !== undefined) return byCylo;
  if (report.oomKilled) return { status: 'memory_limit', message: `memory limit of ${limits.memoryBytes} bytes exceeded; ${who} was killed`, limit: 'memory' };
  if (report.exit === null) return { status: 'internal_error', message: 'the sandbox ended without reporting the program exit status', limit: null };
  if (report.exit.code === 0) return { status: 'ok', message: null, limit: null };
  return { status: kind === 'compile' ? 'compile_error' : 'runtime_error', ...failedAt(report, who, limits) };
}

/** The Stage of a backend's report. `limits` are the ones the stage ran under (they appear in
 *  the messages). */
export function classifyStage(report: StageReport, kind: StageKind, limits: StageLimits): Stage {
  const { status, message, limit } = verdict(report, kind, limits);
  const exitSignal = report.exit?.signalNumber ?? null;
  // A program cylo stopped (limits, cancellation) was killed with SIGKILL, unless it reported
  // its own end first; so was a program the OOM killer ended without PID 1 reporting its end
  // (the kernel's OOM kill is always SIGKILL). A sandbox that never started has no signal.
  const stoppedByCylo = report.stopReason !== null && report.stopReason !== 'setup';
  const oomUnreported = status === 'memory_limit' && report.exit === null;
  const signal = exitSignal !== null ? signalName(exitSignal) : stoppedByCylo || oomUnreported ? 'SIGKILL' : null;
  return {
    status,
    exitCode: report.exit?.code ?? null,
    signal,
    stdout: report.stdout.toString('utf8'),
    stderr: report.stderr.toString('utf8'),
    stdoutTruncated: report.stdoutTruncated,
    stderrTruncated: report.stderrTruncated,
    wallMs: report.wallMs,
    cpuMs: report.cpuMs,
    memoryBytes: report.memoryBytes,
    message,
    limit,
  };
}

/** The Stage reported for a compile skipped by a compile-cache hit. */
export function cachedCompileStage(): Stage {
  return { status: 'ok', exitCode: 0, signal: null, stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false, wallMs: 0, cpuMs: 0, memoryBytes: 0, message: null, limit: null, cached: true };
}
