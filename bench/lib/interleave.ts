// Round-robin sampling: every round runs each variant once, in an order rotated from round to
// round, so that whatever else the machine is doing hits every variant alike. Warm-up rounds
// run first and are discarded.

export interface Variant {
  name: string;
  /** One sample: the wall time in milliseconds. */
  run: () => Promise<number>;
}

export interface InterleaveOptions {
  warmup: number;
  /** Rounds kept (at most). */
  reps: number;
  /** Rounds kept at least, even past the budget. */
  minReps?: number;
  /** Stop adding rounds once this much time has passed (after minReps). */
  budgetMs?: number;
}

export async function interleave(variants: readonly Variant[], options: InterleaveOptions): Promise<Record<string, number[]>> {
  const samples: Record<string, number[]> = {};
  for (const v of variants) samples[v.name] = [];
  const started = performance.now();
  const total = options.warmup + options.reps;
  for (let round = 0; round < total; round++) {
    const kept = round - options.warmup;
    if (kept >= (options.minReps ?? options.reps) && options.budgetMs !== undefined && performance.now() - started > options.budgetMs) break;
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(round + k) % variants.length] as Variant;
      const ms = await v.run();
      if (round >= options.warmup) samples[v.name]?.push(ms);
    }
  }
  return samples;
}
