/**
 * The requests a client has not had answered, and the rule that keeps one
 * channel's messages in order: a `send` or `publish` goes out only once every
 * earlier one to the same channel is settled (acknowledged, or given up on),
 * so a retry after `UNAVAILABLE` or a reconnect can never be stored after a
 * later message. Sends to different channels do not wait for each other.
 * Keyed by the channel string, whatever its kind.
 */

export type Frame = Record<string, unknown> & { type: string }

export interface Pending {
  readonly id: number
  /** the frame as sent, `id` first (so a server can find it cheaply even in a frame it drops) */
  readonly text: string
  readonly frame: Frame
  readonly resolve: (reply: Frame) => void
  readonly reject: (error: Error) => void
  /** the channel whose messages must keep their order (send, publish) */
  readonly order?: string
  /** redone from scratch on the next connection instead of resent (resubscriptions) */
  readonly perConnection: boolean
  /** never retried after an error (typing: late, it would say what is no longer true) */
  readonly once: boolean
  /** waiting for a retry's timer: not resent by a new connection meanwhile */
  delayed: boolean
  /** retries so far, and when retrying `UNAVAILABLE` stops (ms since the epoch; set when it is made) */
  retries: number
  retryUntil: number
  /** the parts of a history reply received so far */
  parts?: unknown[]
}

/** Per channel, the sends waiting behind the one that is out. */
export class SendOrder {
  readonly #lanes = new Map<string, Pending[]>()

  /** Adds a request; true when it may go out now (nothing of its channel is ahead of it). */
  enter (pending: Pending): boolean {
    if (pending.order === undefined) return true
    const lane = this.#lanes.get(pending.order)
    if (lane === undefined) {
      this.#lanes.set(pending.order, [pending])
      return true
    }
    lane.push(pending)
    return false
  }

  /** Whether `pending` is at the head of its lane (or in none): it may be sent. */
  isHead (pending: Pending): boolean {
    return pending.order === undefined || this.#lanes.get(pending.order)?.[0] === pending
  }

  /** The request is settled; returns the next one of its channel, which may go out now. */
  leave (pending: Pending): Pending | undefined {
    if (pending.order === undefined) return undefined
    const lane = this.#lanes.get(pending.order)
    if (lane === undefined) return undefined
    const at = lane.indexOf(pending)
    if (at < 0) return undefined
    lane.splice(at, 1)
    if (lane.length === 0) {
      this.#lanes.delete(pending.order)
      return undefined
    }
    return at === 0 ? lane[0] : undefined
  }

  clear (): void {
    this.#lanes.clear()
  }
}
