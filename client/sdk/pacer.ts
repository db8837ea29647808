/**
 * Keeps the client's frames within the budget the server announced in
 * `welcome.limits` (a token bucket: `frameRate` per second, `frameBurst` at
 * once). The client's bucket is smaller than the server's, half the burst at
 * 90% of the rate, so frames that the network bunches up on the way still
 * arrive within the server's: the server drops frames over its budget
 * (`RATE_LIMITED`) and closes a connection that keeps exceeding it (4008).
 */

/** What `welcome.limits` carries (docs/protocol.md §1.4). */
export interface ServerLimits {
  readonly frameRate: number
  readonly frameBurst: number
  readonly maxChannels: number
  readonly maxPayload: number
  readonly subscribeBatch: number
}

/** Assumed when a server does not announce its limits: the documented defaults. */
export const DEFAULT_SERVER_LIMITS: ServerLimits = { frameRate: 20, frameBurst: 40, maxChannels: 100, maxPayload: 65_536, subscribeBatch: 100 }

/** The limits of a welcome frame, each one checked (anything missing or odd: the default). */
export function limitsOf (value: unknown): ServerLimits {
  const given = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>
  const pick = (name: keyof ServerLimits): number => {
    const n = given[name]
    return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : DEFAULT_SERVER_LIMITS[name]
  }
  return { frameRate: pick('frameRate'), frameBurst: pick('frameBurst'), maxChannels: pick('maxChannels'), maxPayload: pick('maxPayload'), subscribeBatch: pick('subscribeBatch') }
}

export class Pacer {
  readonly #rate: number
  readonly #burst: number
  readonly #now: () => number
  #tokens: number
  #at: number

  constructor (limits: ServerLimits, now: () => number = Date.now) {
    this.#rate = limits.frameRate * 0.9
    this.#burst = Math.max(1, Math.floor(limits.frameBurst / 2))
    this.#now = now
    this.#tokens = this.#burst
    this.#at = now()
  }

  /** Takes a token if one is there. */
  take (): boolean {
    this.#refill()
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }

  /** Milliseconds until the next token. */
  get waitMs (): number {
    this.#refill()
    return this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) * 1000 / this.#rate)
  }

  #refill (): void {
    const now = this.#now()
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#rate / 1000)
    this.#at = now
  }
}
