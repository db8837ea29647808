/**
 * A socket server's life in the fleet: registration and heartbeats (which
 * also reconcile its load to the truth), re-admission after an eviction, the
 * deaf-relay probe (a gap it finds is healed by the hub, hub.ts), graceful
 * drain, and leaving.
 */
import type { FastifyBaseLogger } from 'fastify'
import { within } from '../deadline.js'
import { CloseCode } from '../errors.js'
import { forgetServer } from '../health/forget.js'
import type { Allocator } from '../registry/allocate.js'
import type { ServerRecord, Store } from '../store/types.js'
import type { Connection } from './connection.js'
import { reconnectFrame } from './frames.js'

/** How long a server shutting down waits for the store to take its leave, ms. */
export const LEAVE_WITHIN_MS = 5000
import type { PresenceTracker } from './presence.js'
import { RelayProbe } from './probe.js'
import type { SocketMeter } from './meter.js'
import { rateOf } from './rate.js'

/** How a drain proceeds; the defaults are DRAIN_DEFAULTS (socket/options.ts). */
export interface DrainOptions {
  /** clients moved per step (default 50) */
  readonly batchSize?: number
  /** pause between steps, ms (default 100) */
  readonly intervalMs?: number
  /** clients still here after this long are closed anyway, ms (default 30 000) */
  readonly timeoutMs?: number
}

export interface LifecycleOptions {
  readonly store: Store
  readonly log: FastifyBaseLogger
  readonly serverId: string
  readonly capacity: number
  readonly heartbeatMs: number
  readonly presence: PresenceTracker
  readonly connections: Set<Connection>
  /** clients whose reservation was claimed and whose upgrade is still under way */
  readonly upgrading: () => number
  /** allocates elsewhere for clients being moved off this server */
  readonly allocator: Allocator
  /** where drains are counted (switchboard-metrics) */
  readonly meter: SocketMeter
  /** live frames received so far (see RelayProbe); their rate goes out with each heartbeat */
  readonly activity: () => number
  /** an admin asked for a drain through the store (the dashboard's button): start one */
  readonly onDrainRequested?: () => void
}

export class Lifecycle {
  readonly #options: LifecycleOptions
  readonly #startedAt = Date.now()
  readonly #probe: RelayProbe
  readonly #messageRate: () => number
  #url = ''
  #timer: NodeJS.Timeout | undefined
  #admitted = false
  /** the relay is deaf: stay out of the fleet until it hears again */
  #benched = false
  #draining: Promise<void> | undefined
  #isDraining = false
  #resolveDrained!: () => void
  /** resolves once a drain has moved every client off (or timed out) */
  readonly drained: Promise<void>

  constructor (options: LifecycleOptions) {
    this.#options = options
    this.drained = new Promise((resolve) => { this.#resolveDrained = resolve })
    this.#messageRate = rateOf(options.activity)
    this.#probe = new RelayProbe({
      store: options.store,
      serverId: options.serverId,
      log: options.log,
      periodMs: options.heartbeatMs,
      activity: options.activity,
      onUnhealthy: () => this.#bench(),
      onRecovered: () => { this.#benched = false }
    })
  }

  get url (): string { return this.#url }

  get draining (): boolean { return this.#isDraining }

  record (): ServerRecord {
    const { serverId, capacity } = this.#options
    return { id: serverId, url: this.#url, capacity, draining: this.draining, startedAt: this.#startedAt }
  }

  /** Joins the fleet at `url`: first heartbeat now, then every period, and the relay probe. */
  async start (url: string): Promise<void> {
    const { log, heartbeatMs } = this.#options
    this.#url = url
    try {
      await this.heartbeat()
    } catch (err) {
      log.error({ err }, 'registration failed; retrying on the next heartbeat')
    }
    this.#timer = setInterval(() => {
      this.heartbeat().catch((err: unknown) => log.warn({ err }, 'heartbeat failed'))
    }, heartbeatMs).unref()
    await this.#probe.start()
  }

  async heartbeat (): Promise<void> {
    if (this.#benched) return
    const { store, presence, log, connections } = this.#options
    // Claimed-but-not-yet-open clients count too: their reservation is gone, their connection not yet here.
    const record = { ...this.record(), messagesPerSecond: this.#messageRate() }
    const { readmitted, drainRequested } = await store.heartbeat(record, connections.size + this.#options.upgrading())
    if (drainRequested && !this.#isDraining) {
      log.info('drain requested by an admin')
      this.#options.onDrainRequested?.()
    }
    if (readmitted && this.#admitted) {
      // Evicted while unreachable (paused, partitioned): back with the true count; presence was dropped, so record it again.
      log.warn({ connections: connections.size }, 're-admitted to the fleet after an eviction')
      presence.reannounce()
    }
    this.#admitted = true
    // The store answers again: presence updates it refused meanwhile (a failover, a full Redis) are recorded now.
    presence.retry().catch(() => {})
  }

  /**
   * Stops taking clients and moves the present ones elsewhere in batches:
   * each gets a `reconnect` frame with an allocation on another server, then
   * close 1001. Their SDKs recover what they miss from history.
   */
  async drain (options: Required<DrainOptions>): Promise<void> {
    this.#isDraining = true // before the first heartbeat of the drain reads it
    this.#draining ??= this.#drain(options)
    return await this.#draining
  }

  async #drain ({ batchSize, intervalMs, timeoutMs }: Required<DrainOptions>): Promise<void> {
    const { log, connections, allocator, serverId } = this.#options
    const started = Date.now()
    log.info({ connections: connections.size }, 'draining')
    this.#options.meter.drainStarted()
    this.#options.presence.suspend()
    await this.heartbeat().catch((err: unknown) => log.warn({ err }, 'could not announce the drain'))
    const asked = new Set<Connection>()
    while (Date.now() - started < timeoutMs) {
      const batch = [...connections].filter((c) => !asked.has(c)).slice(0, batchSize)
      if (batch.length === 0 && connections.size === 0) break
      await Promise.all(batch.map(async (connection) => {
        asked.add(connection)
        try {
          connection.send(reconnectFrame(await allocator.allocate(connection.user, { exclude: serverId })))
        } catch (err) {
          log.debug({ err }, 'no allocation for a drained client; it will allocate itself')
        }
        connection.socket.close(CloseCode.GOING_AWAY, 'server draining')
      }))
      await new Promise((resolve) => setTimeout(resolve, intervalMs))
    }
    for (const connection of connections) connection.socket.terminate()
    log.info({ ms: Date.now() - started }, 'drained')
    this.#resolveDrained()
  }

  /** Stops heartbeats and the probe. */
  async stop (): Promise<void> {
    clearInterval(this.#timer)
    await this.#probe.stop()
  }

  /**
   * Leaves the fleet: presence forgotten (with leave events), then the record removed. Given LEAVE_WITHIN_MS: a
   * store that does not answer (down, frozen, failing over) must not hold the server's shutdown for ever.
   */
  async leave (): Promise<void> {
    const { store, serverId, log } = this.#options
    const leaving = async (): Promise<void> => {
      await forgetServer(store, serverId)
      await store.deregister(serverId)
    }
    try {
      if (!(await within(leaving(), LEAVE_WITHIN_MS))) log.warn('the store did not answer within %d ms; the health checker will evict this server', LEAVE_WITHIN_MS)
    } catch (err) {
      log.warn({ err }, 'deregistration failed; the health checker will evict this server')
    }
  }

  /** The relay is deaf: leave the fleet and send clients where they will hear. */
  #bench (): void {
    const { store, serverId, log, connections } = this.#options
    this.#benched = true
    store.deregister(serverId).catch((err: unknown) => log.warn({ err }, 'could not leave the fleet'))
    this.#admitted = false
    for (const connection of connections) connection.socket.close(CloseCode.GOING_AWAY, 'relay lost; reconnect')
  }
}
