/**
 * A manual `Clock` (plugins/clock.ts): time moves only when the test says, and every timer due on
 * the way runs at its own due time, in order, with the promises it starts settled before the next.
 * What depends on time is then stepped exactly, however busy the machine.
 */
import type { Clock } from '../../plugins/clock.js'

interface Timer { due: number, readonly ms: number, readonly tick: () => void, stopped: boolean }

export class ManualClock implements Clock {
  #now: number
  readonly #timers = new Set<Timer>()

  constructor (start = 1_000_000) {
    this.#now = start
  }

  now (): number {
    return this.#now
  }

  every (ms: number, tick: () => void): () => void {
    const timer: Timer = { due: this.#now + ms, ms, tick, stopped: false }
    this.#timers.add(timer)
    return () => { timer.stopped = true; this.#timers.delete(timer) }
  }

  /** Moves time on by `ms`, running each timer as it falls due (earliest first) and letting what it started settle. */
  async advance (ms: number): Promise<void> {
    const until = this.#now + ms
    for (;;) {
      const next = [...this.#timers].sort((a, b) => a.due - b.due)[0]
      if (next === undefined || next.due > until) break
      this.#now = next.due
      next.due += next.ms
      next.tick()
      await settled()
    }
    this.#now = until
    await settled()
  }
}

/** Lets pending promise callbacks and I/O callbacks already queued run (one turn of the event loop). */
export async function settled (): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve))
}
