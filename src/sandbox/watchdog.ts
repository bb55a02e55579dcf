// The limits a running sandbox is held to from the outside, by time: the setup deadline (the
// sandbox must start its program in time), the wall-clock limit (from the program's start) and
// the CPU-time limit (the program's own CPU from the cgroup counter, all its processes and
// threads together, the sandbox's setup excluded: see program-cpu.ts). Each ends in
// one call to `onStop(reason)`; the caller kills the sandbox (kill-inside-out.ts).
import { availableParallelism } from 'node:os';

import type { StopReason } from '../backend/backend.js';

export type { StopReason };

export interface WatchdogOptions {
  /** Wall-clock limit from the program's start, in ms. */
  timeoutMs: number;
  /** CPU-time limit of the program (all its processes and threads), in ms. */
  cpuTimeMs: number;
  /** Time the sandbox may take to start the program, in ms. */
  setupTimeoutMs: number;
  /** The program's CPU time so far (ProgramCpu.used: the cgroup's counter since its exec), in
   *  ms. */
  cpuMs: () => number;
  onStop: (reason: StopReason) => void;
}

export class Watchdog {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly cores = availableParallelism();
  private ended = false;

  constructor(private readonly options: WatchdogOptions) {
    this.after(options.setupTimeoutMs, () => options.onStop('setup'));
  }

  /** The program started: the setup deadline no longer applies; the wall and CPU limits start. */
  programStarted(): void {
    this.clear();
    this.after(this.options.timeoutMs, () => this.options.onStop('timeout'));
    this.checkCpu();
  }

  /** The program ended (or the sandbox is being killed): nothing more is checked. */
  dispose(): void {
    this.ended = true;
    this.clear();
  }

  private checkCpu(): void {
    if (this.ended) return;
    const used = this.options.cpuMs();
    if (used >= this.options.cpuTimeMs) {
      this.options.onStop('cpu');
      return;
    }
    // CPU time grows at most `cores` ms per ms of wall time: sleep until it could be reached
    // (at least 5 ms, so a limit close ahead is not polled in a busy loop; at most 250 ms).
    const wait = Math.max(5, Math.min(250, (this.options.cpuTimeMs - used) / this.cores));
    this.after(wait, () => this.checkCpu());
  }

  private after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private clear(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
