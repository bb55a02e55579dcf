// The lifecycle of one execution as an explicit state machine with typed events (what each
// state does: docs/architecture.md, "Lifecycle states"):
//   Init -> MountRamdisk -> PrepareExecution -> (Compiling ->) Processing -> Done
//   any non-final state -> Failed
// An invalid transition throws (it is a bug in cylo, never silently ignored). Every transition
// is observable by library users. Small enough that a library (XState) would not earn its place.

export type ExecutionState = 'Init' | 'MountRamdisk' | 'PrepareExecution' | 'Compiling' | 'Processing' | 'Done' | 'Failed';

export const TRANSITIONS: Readonly<Record<ExecutionState, readonly ExecutionState[]>> = Object.freeze({
  Init: ['MountRamdisk', 'Failed'],
  MountRamdisk: ['PrepareExecution', 'Failed'],
  PrepareExecution: ['Compiling', 'Processing', 'Done', 'Failed'], // Done directly: a test run whose checker did not compile (src/judge/)
  Compiling: ['Processing', 'Done', 'Failed'], // Done directly: a compile error ends the execution
  Processing: ['Done', 'Failed'],
  Done: [],
  Failed: [],
});

export interface StateEvent {
  type: 'state';
  executionId: string;
  from: ExecutionState;
  to: ExecutionState;
  /** Milliseconds since the execution was created. */
  atMs: number;
  /** Why the execution failed (only on transitions to Failed). */
  reason?: string;
}

export class InvalidTransitionError extends Error {
  constructor(
    readonly from: ExecutionState,
    readonly to: ExecutionState,
  ) {
    super(`invalid execution state transition ${from} -> ${to}`);
    this.name = 'InvalidTransitionError';
  }
}

export class ExecutionStateMachine {
  private current: ExecutionState = 'Init';
  private readonly started = performance.now();
  readonly history: StateEvent[] = [];

  constructor(
    readonly executionId: string,
    private readonly listener: (event: StateEvent) => void = () => {},
  ) {}

  get state(): ExecutionState {
    return this.current;
  }

  get finished(): boolean {
    return this.current === 'Done' || this.current === 'Failed';
  }

  transition(to: ExecutionState, reason?: string): void {
    const from = this.current;
    if (!TRANSITIONS[from].includes(to)) throw new InvalidTransitionError(from, to);
    this.current = to;
    const event: StateEvent = { type: 'state', executionId: this.executionId, from, to, atMs: performance.now() - this.started };
    if (reason !== undefined) event.reason = reason;
    this.history.push(event);
    this.listener(event);
  }
}
