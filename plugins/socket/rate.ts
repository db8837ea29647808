/** A per-second rate of a growing counter, measured between calls (each heartbeat reports its traffic). */
export function rateOf (counter: () => number, now: () => number = Date.now): () => number {
  let lastAt = now()
  let lastCount = counter()
  return () => {
    const at = now()
    const count = counter()
    const seconds = (at - lastAt) / 1000
    const rate = seconds > 0 ? Math.max(0, count - lastCount) / seconds : 0
    lastAt = at
    lastCount = count
    // One decimal is all a dashboard shows.
    return Math.round(rate * 10) / 10
  }
}
