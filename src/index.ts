// Public library API of cylo.
export { createCylo } from './cylo.js';
export type { Cylo, CyloOptions, ExecuteOptions, RuntimeInfo } from './cylo.js';
export type { ExecuteRequest } from './api/request.js';
export { executeRequestSchema } from './api/request.js';
export type { ExecutionResult, ExecutionStatus, Stage, Layer } from './api/result.js';
export { EXECUTION_STATUSES, LAYERS } from './api/result.js';
export type { Limits } from './api/limits.js';
export { DEFAULT_LIMITS, DEFAULT_MAX_LIMITS } from './api/limits.js';
export { CyloError, ERROR_CODES, isCyloError } from './errors.js';
export type { CyloErrorCode } from './errors.js';
export type { ExecutionEvent } from './engine/lifecycle.js';
export type { StreamEvent } from './engine/event-stream.js';
export type { ExecutionState, StateEvent } from './engine/state-machine.js';
export type { RuntimeDefinitionInput as RuntimeDefinition } from './runtimes/definition.js';
export type { InteractiveExecution } from './engine/interactive.js';
export { FORWARDABLE_SIGNALS, type ForwardableSignal } from './util/signals.js';
export type { SessionCreateOptions, SessionFile, SessionInfo, SessionLimits, SessionRunResult } from './sessions/types.js';
export type { SessionHandle, SessionManager, SessionSettings } from './sessions/manager.js';
