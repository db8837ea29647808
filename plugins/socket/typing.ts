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
 * TYPING_REFRESH_MS (sooner ones are answered, and absorbed), a stop only
 * after an `active` it relayed, and state for at most MAX_TYPING_CONVERSATIONS
 * conversations (beyond that, the oldest is stopped and forgotten). When the
 * connection closes, each conversation still shown as typing gets its stop.
 */

/** How long a listener shows an `active` event, ms: a typist who says nothing more has stopped by then. */
export const TYPING_TTL_MS = 6000
/** An `active` event per conversation and connection at most this often, ms (clients repeat theirs about this often). */
export const TYPING_REFRESH_MS = 3000
/** Conversations one connection keeps typing state for. */
export const MAX_TYPING_CONVERSATIONS = 20

/** What to relay for one `typing` frame: the event (active or not), or nothing (`undefined`). */
export type TypingDecision = { readonly active: boolean } | undefined

export class TypingState {
  /** per conversation, when its last `active` event was relayed (insertion order: the oldest first) */
  readonly #sentAt = new Map<string, number>()

  /**
   * The user says they are typing (`active`) or stopped in `channel`, at `now`. `evicted` receives a conversation
   * dropped to make room, still shown as typing: the caller sends its stop.
   */
  say (channel: string, active: boolean, now: number, evicted: (channel: string) => void = () => {}): TypingDecision {
    const sentAt = this.#sentAt.get(channel)
    const shown = sentAt !== undefined && now - sentAt < TYPING_TTL_MS
    if (!active) {
      this.#sentAt.delete(channel)
      return shown ? { active: false } : undefined
    }
    if (shown && now - sentAt < TYPING_REFRESH_MS) return undefined
    this.#sentAt.delete(channel) // re-inserted last: the map stays in the order of the latest event
    this.#sentAt.set(channel, now)
    if (this.#sentAt.size > MAX_TYPING_CONVERSATIONS) {
      const [oldest, at] = this.#sentAt.entries().next().value as [string, number]
      this.#sentAt.delete(oldest)
      if (now - at < TYPING_TTL_MS) evicted(oldest)
    }
    return { active: true }
  }

  /** A message from the user in `channel` ends their typing there: listeners clear it on the message, no event needed. */
  sent (channel: string): void {
    this.#sentAt.delete(channel)
  }

  /** The connection closed: the conversations still shown as typing, each to be stopped. */
  close (now: number): string[] {
    const shown = [...this.#sentAt].filter(([, at]) => now - at < TYPING_TTL_MS).map(([channel]) => channel)
    this.#sentAt.clear()
    return shown
  }
}

/** The event listeners get. */
export function typingEvent (channel: string, user: string, active: boolean): string {
  return `{"type":"typing","channel":"${channel}","user":"${user}","active":${String(active)},"expiresInMs":${active ? TYPING_TTL_MS : 0}}`
}
