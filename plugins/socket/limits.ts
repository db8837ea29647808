/**
 * What one connection may do: how fast it may send frames (a token bucket),
 * how many channels it may hold, how much unsent data it may pile up, and how
 * long it may stay silent. Defaults are in DEFAULT_CONNECTION_LIMITS; docs/security.md
 * explains each.
 */

export interface ConnectionLimits {
  /** frames per second a connection may send on average */
  readonly frameRate: number
  /** frames it may send in a burst above the average */
  readonly frameBurst: number
  /** consecutive rate-limited frames after which it is closed with 4008 (default: `frameBurst`) */
  readonly floodTolerance: number
  /** channels besides its personal one (rooms) that one connection may listen to */
  readonly maxChannels: number
  /** unsent bytes after which a connection is a slow consumer (closed with 4009); replies in parts are paced under it (outbox.ts) */
  readonly maxBufferedBytes: number
  /** how often the server pings, ms */
  readonly pingIntervalMs: number
  /** how long a ping may go unanswered before the peer is dropped, ms */
  readonly pingTimeoutMs: number
}

/**
 * The defaults of the plugin's `limits` and of their environment variables (FRAME_RATE, FRAME_BURST,
 * MAX_CHANNELS_PER_CONNECTION, MAX_BUFFERED_BYTES, PING_INTERVAL_MS, PING_TIMEOUT_MS). `floodTolerance`
 * has none of its own: it follows `frameBurst` (socket/options.ts).
 */
export const DEFAULT_CONNECTION_LIMITS: Readonly<Omit<ConnectionLimits, 'floodTolerance'>> = Object.freeze({
  frameRate: 20,
  frameBurst: 40,
  maxChannels: 100,
  maxBufferedBytes: 1024 * 1024,
  pingIntervalMs: 25_000,
  pingTimeoutMs: 10_000
})

/** A token bucket: `take()` is true while the connection is within its rate. */
export class FrameBudget {
  #tokens: number
  /** the time of the last take (none yet: the bucket starts full, so there is nothing to refill) */
  #refilledAt: number | undefined

  constructor (private readonly rate: number, private readonly burst: number) {
    this.#tokens = burst
  }

  take (now = Date.now()): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + (now - (this.#refilledAt ?? now)) * this.rate / 1000)
    this.#refilledAt = now
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }
}
