/**
 * Upper bounds (ms) of the latency buckets stored in `api_metrics.histogram`; the last count
 * is everything above the last bound. They include every default target so "over target"
 * lines up with a bucket edge. Changing them changes the meaning of stored rows: only append.
 */
export const LATENCY_BOUNDS_MS = [
  5, 10, 25, 50, 100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 10_000,
] as const;

export const emptyHistogram = (): number[] => new Array(LATENCY_BOUNDS_MS.length + 1).fill(0);

export function bucketIndex(ms: number): number {
  for (let i = 0; i < LATENCY_BOUNDS_MS.length; i++) {
    if (ms <= LATENCY_BOUNDS_MS[i]!) return i;
  }
  return LATENCY_BOUNDS_MS.length;
}

/** Adds `from` into `into` element-wise (lengths may differ if bounds were appended). */
export function addHistogram(into: number[], from: readonly number[]): number[] {
  for (let i = 0; i < from.length; i++) into[i] = (into[i] ?? 0) + (from[i] ?? 0);
  return into;
}

/**
 * The q-quantile (0..1) estimated from bucket counts: linear interpolation inside the bucket
 * holding the rank, clamped to the observed min and max (exact at the extremes, and never
 * reporting a value outside what was seen).
 */
export function quantile(
  counts: readonly number[],
  q: number,
  observed: { min: number; max: number },
): number | null {
  const total = counts.reduce((sum, count) => sum + count, 0);
  if (total === 0) return null;
  const rank = q * total;
  let cumulative = 0;
  for (let i = 0; i < counts.length; i++) {
    const count = counts[i] ?? 0;
    if (count === 0) continue;
    if (cumulative + count >= rank) {
      // The bucket's edges, narrowed by what was actually observed.
      const lower = Math.max(i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1]!, observed.min);
      const upper = Math.min(
        i < LATENCY_BOUNDS_MS.length ? LATENCY_BOUNDS_MS[i]! : observed.max,
        observed.max,
      );
      const within = (rank - cumulative) / count;
      const value = lower + (upper - lower) * within;
      return Math.round(Math.min(Math.max(value, observed.min), observed.max));
    }
    cumulative += count;
  }
  return observed.max;
}
