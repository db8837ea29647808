/**
 * Presence bookkeeping on one socket server: how many local connections of
 * each user listen to each channel. The store hears only about the first and
 * the last (0 → 1, 1 → 0), and publishes join/leave events when the user's
 * first connection anywhere arrives or the last one anywhere leaves.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Store } from '../store/types.js'
import { presenceEvent } from './frames.js'

export class PresenceTracker {
  readonly #store: Store
  readonly #server: string
  readonly #log: FastifyBaseLogger
  readonly #counts = new Map<string, number>()
  #suspended = false

  constructor (store: Store, server: string, log: FastifyBaseLogger) {
    this.#store = store
    this.#server = server
    this.#log = log
  }

  /** A connection of `user` started listening to `channel`. */
  add (channel: string, user: string): void {
    const key = `${channel}\n${user}`
    const count = (this.#counts.get(key) ?? 0) + 1
    this.#counts.set(key, count)
    if (count === 1) this.#announce(channel, user)
  }

  /** Records every local (channel, user) again: after this server was evicted and re-admitted. */
  reannounce (): void {
    for (const key of this.#counts.keys()) {
      const [channel = '', user = ''] = key.split('\n')
      this.#announce(channel, user)
    }
  }

  #announce (channel: string, user: string): void {
    this.#store.presenceAdd(channel, user, this.#server, eventFor('join', channel, user))
      .catch((err: unknown) => this.#log.warn({ err, channel }, 'presence update failed'))
  }

  /**
   * While a server drains, its users are moving to other servers: their
   * entries here are left for the final forgetServer(), which only announces
   * `leave` for users that did not reappear elsewhere. No leave/join flicker.
   */
  suspend (): void {
    this.#suspended = true
  }

  /** A connection of `user` stopped listening to `channel`. */
  remove (channel: string, user: string): void {
    const key = `${channel}\n${user}`
    const count = (this.#counts.get(key) ?? 0) - 1
    if (count > 0) {
      this.#counts.set(key, count)
      return
    }
    this.#counts.delete(key)
    if (this.#suspended) return
    this.#store.presenceRemove(channel, user, this.#server, eventFor('leave', channel, user))
      .catch((err: unknown) => this.#log.warn({ err, channel }, 'presence update failed'))
  }
}

/** Personal channels track presence silently: their only listener is the user. */
function eventFor (type: 'join' | 'leave', channel: string, user: string): string {
  return channel.startsWith('room:') ? presenceEvent(type, channel, user) : ''
}
