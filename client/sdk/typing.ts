/**
 * Typing indicators in the SDK (docs/protocol.md §2.10, *Typing events*).
 *
 * Out: `client.typing(channel)` may be called on every keystroke; a `typing`
 * frame goes out at most every REFRESH_MS per conversation while the user
 * types, and a stop only if listeners are still shown one.
 * In: who is typing where, from the server's events. Each shown typist
 * expires on its own (`expiresInMs`), ends with a message from them in that
 * conversation, and everyone is cleared when the connection is lost (events
 * are not replayed); each change is reported once.
 */

import type { TypingEvent } from './types.js'

/** How often the server relays a typist's `active` (TYPING_REFRESH_MS on the server): saying it more often is wasted. */
const REFRESH_MS = 3000
/** How long listeners show one (TYPING_TTL_MS on the server). */
const SHOWN_MS = 6000

/** When each conversation was last told this user is typing; what to send for the next call. */
export class TypingOut {
  readonly #toldAt = new Map<string, number>()

  /** Whether `typing(channel, active)` at `now` should go out. */
  due (channel: string, active: boolean, now: number): boolean {
    const toldAt = this.#toldAt.get(channel) ?? -Infinity
    if (!active) {
      this.#toldAt.delete(channel)
      return now - toldAt < SHOWN_MS
    }
    if (now - toldAt < REFRESH_MS) return false
    this.#toldAt.set(channel, now)
    return true
  }

  /** A message went to `channel` (listeners clear the typing on it), or the connection changed: start afresh. */
  forget (channel?: string): void {
    if (channel === undefined) this.#toldAt.clear()
    else this.#toldAt.delete(channel)
  }
}

/** Who is typing where, as the events say; `report` hears each change once. */
export class TypingIn {
  readonly #shown = new Map<string, { readonly channel: string, readonly user: string, timer: ReturnType<typeof setTimeout> }>()
  readonly #report: (event: TypingEvent) => void

  constructor (report: (event: TypingEvent) => void) {
    this.#report = report
  }

  heard (channel: string, user: string, active: boolean, expiresInMs: number): void {
    const key = `${channel}\n${user}`
    const shown = this.#shown.get(key)
    if (!active || expiresInMs <= 0) {
      this.#stop(key)
      return
    }
    const timer = setTimeout(() => { this.#stop(key) }, expiresInMs)
    if (shown !== undefined) {
      clearTimeout(shown.timer)
      shown.timer = timer
      return
    }
    this.#shown.set(key, { channel, user, timer })
    this.#report({ channel, user, active: true })
  }

  /** A message from `user` in `channel`: they are done typing it. */
  messageFrom (channel: string, user: string): void {
    this.#stop(`${channel}\n${user}`)
  }

  /** Users shown typing in `channel`, in the order they started. */
  in (channel: string): string[] {
    return [...this.#shown.values()].filter((s) => s.channel === channel).map((s) => s.user)
  }

  /** Everyone stops: the connection is gone (what happens meanwhile is not replayed), or the client closed. */
  clear (): void {
    for (const key of [...this.#shown.keys()]) this.#stop(key)
  }

  #stop (key: string): void {
    const shown = this.#shown.get(key)
    if (shown === undefined) return
    clearTimeout(shown.timer)
    this.#shown.delete(key)
    this.#report({ channel: shown.channel, user: shown.user, active: false })
  }
}
