/**
 * The deaf-relay probe. A subscriber connection can be up and still receive
 * nothing (centrifugo#1189): every period the server publishes a probe to a
 * channel only it listens to. When probes stop arriving it resubscribes every
 * channel (the store reports that as a gap, which the hub heals from history);
 * when that does not bring them back, it reports itself unhealthy
 * (the socket server then stops heartbeating, so allocation and the health
 * checker drop it, and moves its clients away) until probes flow again.
 * Silence alone is not deafness: a busy Redis (a burst of connections, a
 * starved CPU) answers late, and then it acknowledges the PUBLISH late too.
 * Only a probe that Redis acknowledged a period ago and that never arrived
 * means frames are being lost; finding a busy relay deaf would make every
 * subscription read its history again for nothing.
 */
import type { FastifyBaseLogger } from 'fastify'
import { systemClock } from '../clock.js'
import type { Clock } from '../clock.js'
import type { LiveFrame, Store } from '../store/types.js'

export interface ProbeOptions {
  readonly store: Store
  readonly serverId: string
  readonly log: FastifyBaseLogger
  readonly periodMs: number
  /** a counter of live frames received on any channel */
  readonly activity: () => number
  readonly onUnhealthy: () => void
  readonly onRecovered: () => void
  /** the time and the period's timer; `systemClock` unless a test steps its own */
  readonly clock?: Clock
}

/** Probes missing for this many periods (and at least DEAF_AFTER_MS) mean the relay is deaf. */
const DEAF_AFTER_PERIODS = 2
const DEAF_AFTER_MS = 1000
/** Resubscribe attempts before the server declares itself unhealthy. */
const ATTEMPTS = 2
/** Acknowledged probes kept while unheard (one a period; more would only say the same). */
const MAX_UNHEARD = 64

export class RelayProbe {
  readonly #options: ProbeOptions
  readonly #channel: string
  readonly #clock: Clock
  #lastHeard: number
  #lastTick: number
  #lastActivity = 0
  #lastAttempt = 0
  #attempts = 0
  #unhealthy = false
  #stopTimer: () => void = () => {}
  /** the last probe's number (each probe carries its own), and the highest number heard */
  #sent = 0
  #heard = 0
  /** probes Redis acknowledged that have not arrived yet, oldest first, with when Redis acknowledged each */
  #unheard: Array<{ readonly seq: number, readonly at: number }> = []
  readonly #onProbe = (_channel: string, frame: LiveFrame): void => {
    this.#lastHeard = this.#clock.now()
    // Probes arrive in order: one heard means every earlier one was delivered (or is moot).
    const seq = Number(frame.text)
    if (seq > this.#heard) this.#heard = seq
    while ((this.#unheard[0]?.seq ?? Infinity) <= this.#heard) this.#unheard.shift()
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
    this.#clock = options.clock ?? systemClock
    this.#lastHeard = this.#lastTick = this.#clock.now()
  }

  get healthy (): boolean { return !this.#unhealthy }

  async start (): Promise<void> {
    await this.#options.store.subscribe(this.#channel, this.#onProbe)
    this.#lastHeard = this.#lastTick = this.#clock.now()
    this.#stopTimer = this.#clock.every(this.#options.periodMs, () => this.#tick())
  }

  async stop (): Promise<void> {
    this.#stopTimer()
    await this.#options.store.unsubscribe(this.#channel, this.#onProbe).catch(() => {})
  }

  #tick (): void {
    const { store, log, periodMs } = this.#options
    const seq = ++this.#sent
    store.publishEvent(this.#channel, String(seq)).then(() => {
      // Heard already (the memory store delivers at once, Redis may beat its own reply): nothing to wait for.
      if (seq <= this.#heard) return
      this.#unheard.push({ seq, at: this.#clock.now() })
      if (this.#unheard.length > MAX_UNHEARD) this.#unheard.shift()
    }, (err: unknown) => log.debug({ err }, 'probe publish failed'))
    const now = this.#clock.now()
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
    // Silent, but is Redis delivering late or not at all? Late, unless a probe it acknowledged a period ago is still missing.
    if ((this.#unheard[0]?.at ?? Infinity) > now - periodMs) return
    this.#lastAttempt = now
    this.#attempts++
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
