// The execution gate: the one way into cylo for every entry point (library execute / stream /
// interactive, the HTTP APIs, SSE, WebSocket, MCP, the CLI, the watcher). What it does, once
// for all of them:
//   admission  refuses when closed (CYLO_E_CLOSED); validates and normalises the request
//              (CYLO_E_VALIDATION, CYLO_E_LIMIT_EXCEEDED); resolves the runtime
//              (CYLO_E_UNKNOWN_LANGUAGE, CYLO_E_RUNTIME_UNAVAILABLE)
//   cancellation  links the caller's AbortSignal with the gate's own (close's grace period)
//   events     a caller's listener that throws never breaks the execution
//   shutdown   close() stops admitting, rejects queued work and waits for running work,
//              cancelling it when the grace period ends
// Then: pool (a slot) -> lifecycle (the stages) -> backend (the isolation).
import type { NormalizedRequest, ExecuteRequest, ValidationPolicy } from '../api/request.js';
import { normalizeRequest } from '../api/request.js';
import type { ExecutionResult } from '../api/result.js';
import type { BackendSlot, StageControl } from '../backend/backend.js';
import type { ExecutionPool } from '../engine/pool.js';
import type { ExecutionEvent, Lifecycle } from '../engine/lifecycle.js';
import { CyloError, toCyloError } from '../errors.js';
import type { ResolvedRuntime, RuntimeRegistry } from '../runtimes/registry.js';
import type { EnvironmentCatalog } from '../environments/catalog.js';
import { versionMatches } from '../runtimes/version.js';
import { linkAbort } from '../util/abort.js';
import type { CheckerRequest } from '../api/test-cases.js';
import type { AdmittedChecker } from '../judge/checker.js';
import { runTestCases } from '../judge/test-run.js';

export interface ExecuteOptions {
  signal?: AbortSignal;
  /** Interactive input after `request.stdin`; its end closes the program's stdin. */
  stdinStream?: AsyncIterable<Buffer>;
  /** Filled in when the program starts: `control.signal(name)` signals it. */
  control?: StageControl;
  /** Lifecycle transitions and output chunks, as they happen. */
  onEvent?: (event: ExecutionEvent) => void;
}

export interface GateDependencies<S extends BackendSlot> {
  registry: RuntimeRegistry;
  /** Turns a request's `environment` into the runtime's extra trees (src/environments/). */
  environments?: Pick<EnvironmentCatalog, 'apply'> | undefined;
  policy: ValidationPolicy;
  pool: ExecutionPool<S>;
  /** The lifecycle, once the host is set up (set-up failures reject here). */
  lifecycle: () => Promise<Lifecycle<S>>;
}

export class ExecutionGate<S extends BackendSlot = BackendSlot> {
  private closed = false;
  private readonly inFlight = new Set<AbortController>();

  constructor(private readonly deps: GateDependencies<S>) {}

  /** Runs one execution through admission, the pool, the lifecycle and the backend. */
  async execute(request: ExecuteRequest, options: ExecuteOptions = {}): Promise<ExecutionResult> {
    const controller = new AbortController();
    const unlink = linkAbort(options.signal, controller);
    this.inFlight.add(controller);
    try {
      const { normalized, runtime } = await this.admit(request);
      const lifecycle = await this.deps.lifecycle();
      const onEvent = guardListener(options.onEvent);
      if (normalized.tests !== undefined) {
        if (options.stdinStream !== undefined) throw new CyloError('CYLO_E_VALIDATION', 'tests: test cases take their input from tests[i].stdin, not from interactive input', { field: 'tests' });
        const checker = normalized.tests.checker === undefined ? undefined : await this.admitChecker(normalized.tests.checker);
        const run = { request: normalized, runtime, tests: normalized.tests, checker };
        return await runTestCases(run, { pool: this.deps.pool, lifecycle }, { signal: controller.signal, onEvent });
      }
      return await this.deps.pool.run((slot) => lifecycle.execute(normalized, runtime, slot, { signal: controller.signal, onEvent, stdinStream: options.stdinStream, control: options.control }), controller.signal, lifecycle.slotPreference(runtime));
    } catch (error) {
      const err = toCyloError(error);
      // Cancelled by the gate itself, not by the caller: close()'s grace period ended.
      if (err.code === 'CYLO_E_CANCELLED' && controller.signal.aborted && options.signal?.aborted !== true) {
        throw new CyloError('CYLO_E_SHUTTING_DOWN', 'cylo shut down before the execution finished: it was stopped when the grace period ended', { cause: err });
      }
      throw err;
    } finally {
      this.inFlight.delete(controller);
      unlink();
    }
  }

  private async admit(request: ExecuteRequest): Promise<{ normalized: NormalizedRequest; runtime: ResolvedRuntime }> {
    if (this.closed) throw new CyloError('CYLO_E_CLOSED', 'this cylo instance is closed; create a new one with createCylo()');
    const normalized = normalizeRequest(request, this.deps.policy);
    this.deps.registry.get(normalized.language);
    const runtime = await this.deps.registry.resolve(normalized.language);
    if (!runtime.available) {
      throw new CyloError('CYLO_E_RUNTIME_UNAVAILABLE', `language: ${runtime.problem ?? `${normalized.language} is not installed`}`, { field: 'language' });
    }
    const version = normalized.version;
    if (version !== undefined && !versionMatches(runtime.version ?? '', version)) {
      throw new CyloError('CYLO_E_UNKNOWN_LANGUAGE', `version: ${runtime.definition.id} ${version} is not available (installed: ${runtime.version ?? 'unknown'})`, { field: 'version' });
    }
    if (normalized.environment !== undefined && this.deps.environments === undefined) throw new CyloError('CYLO_E_UNKNOWN_ENVIRONMENT', 'environment: this cylo has no environments', { field: 'environment' });
    return { normalized, runtime: this.deps.environments?.apply(runtime, normalized.environment) ?? runtime };
  }

  /** The checker of a test run, admitted like a request; its refusals name `checker.<field>`. */
  private async admitChecker(checker: CheckerRequest): Promise<AdmittedChecker> {
    try {
      const { normalized, runtime } = await this.admit(checker);
      return { request: normalized, runtime };
    } catch (error) {
      const err = toCyloError(error);
      const field = err.field === undefined ? 'checker' : `checker.${err.field}`;
      throw new CyloError(err.code, `checker.${err.message}`, { field, cause: err });
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Stops admitting executions, rejects queued ones and waits for running ones; after
   *  `graceMs` (default: no limit) the running ones are cancelled (every process killed). */
  async close(graceMs?: number): Promise<void> {
    this.closed = true;
    const closing = this.deps.pool.close();
    if (graceMs === undefined) return closing;
    const timer = setTimeout(() => {
      for (const c of this.inFlight) c.abort(new CyloError('CYLO_E_SHUTTING_DOWN', 'cylo closed: the grace period ended'));
    }, graceMs);
    try {
      await closing;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A caller's listener that throws must neither turn the execution into a non-CyloError
 *  failure nor crash the process from inside a stream handler: its errors are dropped. */
function guardListener(listener: ((event: ExecutionEvent) => void) | undefined): ((event: ExecutionEvent) => void) | undefined {
  if (listener === undefined) return undefined;
  return (event) => {
    try {
      listener(event);
    } catch {
      // the listener's own bug; the execution goes on
    }
  };
}
