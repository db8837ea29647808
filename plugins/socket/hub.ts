/**
 * The relay on one socket server: which local connections listen to which
 * channel, and delivery of live messages to them. The store is subscribed to
 * a channel only while at least one local connection listens to it, so a
 * server receives no traffic it does not need.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Store } from '../store/types.js'

/** What the hub needs of a connection: a way to hand it a ready text frame. */
export interface Listener {
  deliver (channel: string, payload: string): void
}

interface Subscription {
  readonly listeners: Set<Listener>
  /** settles when the store subscription is active; dropped once it has (a server holds many channels) */
  ready: Promise<void> | undefined
}

export class Hub {
  readonly #store: Store
  readonly #log: FastifyBaseLogger
  readonly #relayed: (payload: string) => void
  readonly #channels = new Map<string, Subscription>()
  #received = 0
  readonly #onMessage = (channel: string, payload: string): void => {
    this.#received++
    const subscription = this.#channels.get(channel)
    if (subscription === undefined) return
    for (const listener of subscription.listeners) listener.deliver(channel, payload)
    this.#relayed(payload)
  }

  /** `relayed` sees each live frame once it has gone to the local listeners (metrics). */
  constructor (store: Store, log: FastifyBaseLogger, relayed: (payload: string) => void = () => {}) {
    this.#store = store
    this.#log = log
    this.#relayed = relayed
  }

  /** Adds a listener to a channel; resolves once live messages of that channel reach it. */
  async add (channel: string, listener: Listener): Promise<void> {
    const existing = this.#channels.get(channel)
    if (existing !== undefined) {
      existing.listeners.add(listener)
      if (existing.ready !== undefined) await existing.ready
      return
    }
    const ready = this.#store.subscribe(channel, this.#onMessage)
    const subscription: Subscription = { listeners: new Set([listener]), ready }
    this.#channels.set(channel, subscription)
    try {
      await ready
      subscription.ready = undefined
    } catch (err) {
      if (this.#channels.get(channel) === subscription) this.#channels.delete(channel)
      throw err
    }
  }

  remove (channel: string, listener: Listener): void {
    const subscription = this.#channels.get(channel)
    if (subscription === undefined || !subscription.listeners.delete(listener)) return
    if (subscription.listeners.size > 0) return
    this.#channels.delete(channel)
    this.#store.unsubscribe(channel, this.#onMessage).catch((err: unknown) => {
      this.#log.warn({ err, channel }, 'unsubscribe failed')
    })
  }

  /** Live frames received so far (any channel): proof the relay hears, even when probes queue behind a backlog. */
  get received (): number {
    return this.#received
  }
}
