/** Small statistics helpers; all return NaN for no data rather than throwing. */

/** The `p`th percentile (0–100) of ascending `sorted`, nearest-rank. */
export const percentile = (sorted: ArrayLike<number>, p: number): number =>
  sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]

/** The median of `values`, ignoring NaN. */
export function median(values: readonly number[]): number {
  const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** p50, p99 and max in milliseconds of latencies given in microseconds. */
export function latencySummary(latenciesUs: number[]): { p50: number; p99: number; max: number } {
  const sorted = Float64Array.from(latenciesUs).sort()
  return {
    p50: percentile(sorted, 50) / 1e3,
    p99: percentile(sorted, 99) / 1e3,
    max: sorted.length === 0 ? NaN : sorted[sorted.length - 1] / 1e3
  }
}

/** `a / b`, NaN when either is missing. */
export const ratio = (a: number, b: number): number =>
  Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN
