// Single-flight: identical work that arrives while the same work is in progress waits for its
// outcome instead of running again (ten concurrent runs of one C++ source compile once).
//
// The first caller of a key is its leader and runs the work. Later callers of the key wait. When
// the leader ends:
//   - with a value the caller's `shareable` accepts: every waiter gets that value;
//   - with anything else (an error, its own cancellation, a value not to be shared): the waiters
//     start over, so one of them becomes the next leader and runs the work itself. A waiter never
//     inherits a cancellation or a failure that was not its own.
// A waiter's own AbortSignal ends its wait (with the error `aborted()` makes); the leader and
// the other waiters go on.
// Check and registration happen in one synchronous step, so two callers can never both lead.

export interface FlightResult<T> {
  value: T;
  /** true: the value is another caller's (this caller ran nothing). */
  shared: boolean;
}

export class SingleFlight<T> {
  /** The flight of each key: settles with the shareable value, or undefined (start over). */
  private readonly flights = new Map<string, Promise<T | undefined>>();

  constructor(private readonly aborted: () => Error) {}

  /** Keys with work in progress (for tests and diagnostics). */
  get size(): number {
    return this.flights.size;
  }

  /** Runs `work` for KEY, or waits for the identical work already in flight (see above). The
   *  leader gets its own value or error; `signal` ends only this caller's wait. */
  async run(key: string, work: () => Promise<T>, shareable: (value: T) => boolean, signal?: AbortSignal): Promise<FlightResult<T>> {
    for (;;) {
      const current = this.flights.get(key);
      if (current === undefined) return { value: await this.lead(key, work, shareable), shared: false };
      const value = await this.wait(current, signal);
      if (value !== undefined) return { value, shared: true };
    }
  }

  private async lead(key: string, work: () => Promise<T>, shareable: (value: T) => boolean): Promise<T> {
    let settle: (value: T | undefined) => void = () => {};
    this.flights.set(key, new Promise<T | undefined>((resolve) => (settle = resolve)));
    let shared: T | undefined;
    try {
      const value = await work();
      if (shareable(value)) shared = value;
      return value;
    } finally {
      // Removed before the waiters wake: the first of them to run finds no flight and leads.
      this.flights.delete(key);
      settle(shared);
    }
  }

  private wait(flight: Promise<T | undefined>, signal: AbortSignal | undefined): Promise<T | undefined> {
    if (signal === undefined) return flight;
    if (signal.aborted) return Promise.reject(this.aborted());
    return new Promise<T | undefined>((resolve, reject) => {
      const onAbort = (): void => reject(this.aborted());
      signal.addEventListener('abort', onAbort, { once: true });
      void flight.then((value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      });
    });
  }
}
