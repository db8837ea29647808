/**
 * Time for code whose behaviour is time (a probe's silence threshold): read and woken through a
 * `Clock`, so that a test can step a manual one (test/helpers/clock.ts) instead of waiting in real
 * time and racing it. Production code takes `systemClock`.
 */
export interface Clock {
  /** ms since the epoch */
  now (): number
  /** calls `tick` every `ms` (an unref'd timer: it keeps no process alive) until the returned function is called */
  every (ms: number, tick: () => void): () => void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  every: (ms, tick) => {
    const timer = setInterval(tick, ms).unref()
    return () => clearInterval(timer)
  }
}
