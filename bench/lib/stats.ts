// Summary statistics for timing samples. Medians and p95 (nearest-rank) rather than means:
// the machine is shared, so a few samples are always hit by someone else's work.

export interface Summary {
  n: number;
  median: number;
  p95: number;
  min: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of already sorted values (p in 0..100). */
export function percentileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function summarize(values: readonly number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    median: median(s),
    p95: percentileSorted(s, 95),
    min: s.length > 0 ? (s[0] as number) : Number.NaN,
    max: s.length > 0 ? (s[s.length - 1] as number) : Number.NaN,
    mean: s.length > 0 ? s.reduce((a, b) => a + b, 0) / s.length : Number.NaN,
  };
}

/** Rounds for display and JSON (3 significant decimals are plenty for milliseconds). */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function roundSummary(s: Summary, digits = 3): Summary {
  return { n: s.n, median: round(s.median, digits), p95: round(s.p95, digits), min: round(s.min, digits), max: round(s.max, digits), mean: round(s.mean, digits) };
}

export function ratio(a: number, b: number): number {
  return b > 0 ? a / b : Number.NaN;
}
