/** Small statistics helpers for benchmark figures. */
export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p / 100 * sorted.length))] ?? NaN
}

export function median (values: number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50)
}

export function round (value: number, digits = 0): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** The median of each figure over several runs' results (all of the same shape). */
export function medians<R extends object> (results: R[]): Record<string, number> {
  const keys = Object.keys(results[0] ?? {}) as Array<keyof R & string>
  return Object.fromEntries(keys.map((k) => [k, median(results.map((r) => Number(r[k])))]))
}
