/**
 * Typing indicators: relayed to a conversation's listeners, never stored.
 *
 * A `typing` frame says that its user is typing in a room this connection
 * listens to, or in one of the user's direct conversations (`active: false`:
 * stopped). The event, `{"type":"typing","channel","user","active","expiresInMs"}`,
 * goes to the room's listeners on every server, or to the other participant's
 * personal channel. Listeners show it until `expiresInMs` passes without
 * another one, a message from that user arrives there, or a stop comes.
 *
 * What one connection can make the fleet send (TypingState, pure, clocked by
 * its caller): for each conversation an `active` event at most every
 * TYPING_REFRESH_MS (sooner ones are answered, and absorbed, a stop in between
 * included), a stop only after an `active` still shown; all of them within
 * TYPING_EVENTS_PER_SECOND (bursts of TYPING_EVENTS_BURST; beyond, nothing is
 * relayed and listeners let what they show expire); and state for at most
 * MAX_TYPING_CONVERSATIONS conversations (beyond that, the oldest is
 * forgotten: within the budget, it has expired). When the connection closes, or stops listening to a room,
 * what it is still shown typing in gets its stop.
 */
import { FrameBudget } from './limits.js'

/** How long a listener shows an `active` event, ms: a typist who says nothing more has stopped by then. */
export const TYPING_TTL_MS = 6000
/**
 * An `active` event per conversation and connection at most this often, ms. Clients repeat theirs every 3 s
 * (the SDK): a little less here, so that one that arrives late is not absorbed.
 */
export const TYPING_REFRESH_MS = 2500
/** Conversations one connection keeps typing state for. */
export const MAX_TYPING_CONVERSATIONS = 20
/** Typing events (active or stop) one connection may have relayed per second, on average and at once. */
export const TYPING_EVENTS_PER_SECOND = 2
export const TYPING_EVENTS_BURST = 6

/** What to relay for one `typing` frame: the event (active or not), or nothing (`undefined`). */
export type TypingDecision = { readonly active: boolean } | undefined

interface Told {
  /** when the last `active` was relayed */
  readonly at: number
  /** listeners show it (no stop, no message since) */
  shown: boolean
}

export class TypingState {
  /** per conversation, what was last relayed (insertion order: the oldest `active` first) */
  readonly #told = new Map<string, Told>()
  /** the connection's typing events, as a token bucket */
  readonly #budget = new FrameBudget(TYPING_EVENTS_PER_SECOND, TYPING_EVENTS_BURST)

  /** The user says they are typing (`active`) or stopped in `channel`, at `now`. */
  say (channel: string, active: boolean, now: number): TypingDecision {
    const told = this.#told.get(channel)
    if (!active) {
      if (told === undefined || !this.#shown(told, now)) return undefined
      told.shown = false // its time stays: an `active` right after waits for the refresh like any other
      return this.#budget.take(now) ? { active: false } : undefined
    }
    if (told !== undefined && now - told.at < TYPING_REFRESH_MS) return undefined
    if (!this.#budget.take(now)) return undefined
    this.#told.delete(channel) // re-inserted last: the map stays in the order of the latest event
    this.#told.set(channel, { at: now, shown: true })
    // The oldest goes. It is no longer shown: within the budget, no more than 18 actives fit in TYPING_TTL_MS.
    if (this.#told.size > MAX_TYPING_CONVERSATIONS) this.#told.delete(this.#told.keys().next().value as string)
    return { active: true }
  }

  /**
   * A message from the user in `channel`, asked for at `at`: listeners clear the typing on it, no event needed,
   * and the next `typing` there is news. An `active` relayed after `at` (while the message was stored) stays.
   */
  sent (channel: string, at: number): void {
    const told = this.#told.get(channel)
    if (told !== undefined && told.at <= at) this.#told.delete(channel)
  }

  /** The connection stopped listening to `channel`: forgotten; true when listeners still show it (the caller stops it). */
  end (channel: string, now: number): boolean {
    const told = this.#told.get(channel)
    this.#told.delete(channel)
    return told !== undefined && this.#shown(told, now)
  }

  /** The connection closed: the conversations still shown as typing, each to be stopped. */
  close (now: number): string[] {
    const shown = [...this.#told].filter(([, told]) => this.#shown(told, now)).map(([channel]) => channel)
    this.#told.clear()
    return shown
  }

  #shown (told: Told, now: number): boolean {
    return told.shown && now - told.at < TYPING_TTL_MS
  }
}

/** The event listeners get. */
export function typingEvent (channel: string, user: string, active: boolean): string {
  return `{"type":"typing","channel":"${channel}","user":"${user}","active":${String(active)},"expiresInMs":${active ? TYPING_TTL_MS : 0}}`
}
