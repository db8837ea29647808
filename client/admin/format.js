// Formatting for the dashboard: ages, durations and rates as people read them.

/** 420 → "0.4 s", 12_000 → "12 s", 200_000 → "3 min", 9_000_000 → "2.5 h". */
export function duration (ms) {
  if (ms === null || ms === undefined) return '—'
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`
  if (ms < 172_800_000) return `${(ms / 3_600_000).toFixed(1)} h`
  return `${Math.round(ms / 86_400_000)} d`
}

export function ago (ms) {
  return ms === null || ms === undefined ? 'never' : `${duration(ms)} ago`
}

export function rate (value) {
  if (value === null || value === undefined) return '—'
  return value >= 100 ? Math.round(value).toLocaleString('en') : value.toFixed(1)
}

export function count (value) {
  return value.toLocaleString('en')
}

/** Share of capacity in percent, 0-100. */
export function share (used, capacity) {
  return capacity > 0 ? Math.min(100, Math.max(0, (used / capacity) * 100)) : 0
}
