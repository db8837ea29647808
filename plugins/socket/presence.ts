/**
 * Presence bookkeeping on one socket server: how many local connections of
 * each user listen to each channel. The store hears only about the first and
 * the last (0 → 1, 1 → 0), and publishes join/leave events when the user's
 * first connection anywhere arrives or the last one anywhere leaves.
 *
 * An update the store refused (Redis at maxmemory refuses new presence
 * entries; a failover refuses everything for a few seconds) is not lost: the
 * (channel, user) is remembered, and `retry()`, called after every heartbeat
 * that the store answered, records its present state again. Recording again
 * is harmless: an entry already there is neither duplicated nor announced
 * twice, and removing one that is gone announces nothing.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Store } from '../store/types.js'
import { presenceEvent } from './frames.js'

export class PresenceTracker {
  readonly #store: Store
  readonly #server: string
  readonly #log: FastifyBaseLogger
  readonly #counts = new Map<string, number>()
  /** (channel, user) keys whose last update did not reach the store */
  readonly #failed = new Set<string>()
  #retrying = false
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
    if (count === 1) this.#sync(key).catch(() => {})
  }

  /** Records every local (channel, user) again: after this server was evicted and re-admitted. */
  reannounce (): void {
    for (const key of this.#counts.keys()) this.#sync(key).catch(() => {})
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
    this.#sync(key).catch(() => {})
  }

  /** (channel, user) pairs waiting to be recorded again */
  get failed (): number { return this.#failed.size }

  /**
   * Records again what the store refused. One pair goes first: if the store still refuses it,
   * the rest wait for the next call, so a full Redis costs one refused call per heartbeat, not one per pair.
   */
  async retry (): Promise<void> {
    if (this.#retrying || this.#failed.size === 0) return
    this.#retrying = true
    try {
      const [first, ...rest] = this.#failed
      if (first === undefined) return
      this.#failed.delete(first)
      await this.#sync(first)
      for (const key of rest) this.#failed.delete(key)
      await Promise.allSettled(rest.map(async (key) => { await this.#sync(key) }))
      this.#log.info({ pairs: rest.length + 1 }, 'presence recorded again after the store refused it')
    } catch {
      // Still refused: #sync remembered it again; the next heartbeat tries once more.
    } finally {
      this.#retrying = false
    }
  }

  /** Tells the store where (channel, user) stands now on this server; on failure, remembers to try again. */
  async #sync (key: string): Promise<void> {
    const present = (this.#counts.get(key) ?? 0) > 0
    if (!present && this.#suspended) return
    const cut = key.indexOf('\n')
    const channel = key.slice(0, cut)
    const user = key.slice(cut + 1)
    try {
      if (present) await this.#store.presenceAdd(channel, user, this.#server, eventFor('join', channel, user))
      else await this.#store.presenceRemove(channel, user, this.#server, eventFor('leave', channel, user))
    } catch (err) {
      if (this.#failed.size === 0) this.#log.warn({ err, channel }, 'presence update failed; recorded again once the store accepts it')
      this.#failed.add(key)
      throw err
    }
  }
}

/** Personal channels track presence silently: their only listener is the user. */
function eventFor (type: 'join' | 'leave', channel: string, user: string): string {
  return channel.startsWith('room:') ? presenceEvent(type, channel, user) : ''
}
