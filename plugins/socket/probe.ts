/**
 * The deaf-relay probe. A subscriber connection can be up and still receive
 * nothing (centrifugo#1189): every period the server publishes a probe to a
 * channel only it listens to. When probes stop arriving it resubscribes every
 * channel; when that does not bring them back, it reports itself unhealthy
 * (the socket server then stops heartbeating, so allocation and the health
 * checker drop it, and moves its clients away) until probes flow again.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Store } from '../store/types.js'

export interface ProbeOptions {
  readonly store: Store
  readonly serverId: string
  readonly log: FastifyBaseLogger
  readonly periodMs: number
  /** a counter of live frames received on any channel */
  readonly activity: () => number
  readonly onUnhealthy: () => void
  readonly onRecovered: () => void
  /** probes stopped arriving: whatever was published meanwhile was lost */
  readonly onDeaf: () => void
}

/** Probes missing for this many periods (and at least DEAF_AFTER_MS) mean the relay is deaf. */
const DEAF_AFTER_PERIODS = 2
const DEAF_AFTER_MS = 1000
/** Resubscribe attempts before the server declares itself unhealthy. */
const ATTEMPTS = 2

export class RelayProbe {
  readonly #options: ProbeOptions
  readonly #channel: string
  #lastHeard = Date.now()
  #lastTick = Date.now()
  #lastActivity = 0
  #lastAttempt = 0
  #attempts = 0
  #unhealthy = false
  #timer: NodeJS.Timeout | undefined
  readonly #onProbe = (): void => {
    this.#lastHeard = Date.now()
    if (this.#attempts > 0 || this.#unhealthy) {
      this.#options.log.info({ attempts: this.#attempts }, 'relay hears again')
      this.#attempts = 0
      if (this.#unhealthy) {
        this.#unhealthy = false
        this.#options.onRecovered()
      }
    }
  }

  constructor (options: ProbeOptions) {
    this.#options = options
    this.#channel = `probe:${options.serverId}`
  }

  get healthy (): boolean { return !this.#unhealthy }

  async start (): Promise<void> {
    await this.#options.store.subscribe(this.#channel, this.#onProbe)
    this.#lastHeard = Date.now()
    this.#lastTick = Date.now()
    this.#timer = setInterval(() => this.#tick(), this.#options.periodMs).unref()
  }

  async stop (): Promise<void> {
    clearInterval(this.#timer)
    await this.#options.store.unsubscribe(this.#channel, this.#onProbe).catch(() => {})
  }

  #tick (): void {
    const { store, log, periodMs } = this.#options
    store.publishEvent(this.#channel, '').catch((err: unknown) => log.debug({ err }, 'probe publish failed'))
    const now = Date.now()
    const sinceTick = now - this.#lastTick
    this.#lastTick = now
    const activity = this.#options.activity()
    if (sinceTick > DEAF_AFTER_PERIODS * periodMs || activity !== this.#lastActivity) {
      // Frozen (SIGSTOP, a long pause: probes may be waiting unread), or frames are arriving
      // (a backlog delays the probe, it does not mean deafness): judge later.
      this.#lastActivity = activity
      this.#lastHeard = Math.max(this.#lastHeard, now - periodMs)
      return
    }
    const threshold = Math.max(DEAF_AFTER_PERIODS * periodMs, DEAF_AFTER_MS)
    const silentFor = now - this.#lastHeard
    if (silentFor <= threshold || now - this.#lastAttempt <= threshold) return
    this.#lastAttempt = now
    this.#attempts++
    if (this.#attempts === 1) this.#options.onDeaf()
    if (this.#attempts > ATTEMPTS && !this.#unhealthy) {
      this.#unhealthy = true
      log.error({ silentFor, attempts: this.#attempts }, 'relay is deaf and resubscribing did not help: leaving the fleet until it hears again')
      this.#options.onUnhealthy()
    } else {
      log.warn({ silentFor, attempt: this.#attempts }, 'relay is deaf: resubscribing every channel')
    }
    store.resubscribe().catch((err: unknown) => log.warn({ err }, 'resubscribe failed'))
  }
}
