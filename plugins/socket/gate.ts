/**
 * The exactly-once rule, in one place: which live frames of which channel go
 * out now, which wait, and which were already sent. Pure (no I/O, no clock),
 * so its properties are tested on their own (test/gate.test.ts, fast-check).
 *
 * A channel is either *open* (its frames go out as they come) or *holding*
 * (its live frames wait while something is read from history: a connection
 * attaching with a reply and a replay, or a server healing a relay gap). It
 * also has a *mark*: the newest offset known to have gone out, or the
 * boundary a reply reported. A message at or before the mark is a second copy
 * and is dropped; one after it goes out and moves the mark. Frames without an
 * offset (events, never stored) are never dropped.
 *
 *   hold(c)           live frames of c wait (and anything that arrives through c, see `via`)
 *   replayed(m)       a message read from history: goes out if it is after the mark
 *   open(c, boundary) the read is done: the mark is at least `boundary`; the held frames
 *                     after it go out, in order
 *   live(m, via)      a live frame: waits, goes out, or is dropped
 *   ahead(m)          a live message whose `prev` says one before it is missing (read it back first)
 *
 * Live frames of one channel arrive in offset order (Redis pub/sub keeps the
 * order of one publisher's publishes, and a channel's frames are published in
 * offset order). So once a frame after the mark went out, no older one can
 * come live: with `forget` (a connection, which holds many channels and must
 * stay small) the mark is dropped then, and a channel with no mark and nothing
 * held costs nothing. Without it (a server's relay, which heals gaps from the
 * mark) every channel keeps its mark.
 *
 * A direct conversation's frames travel through the personal channels of its
 * users (`via`): they wait while either the personal channel or the
 * conversation itself is held, and are marked by their own channel.
 */

import type { LiveFrame } from '../store/types.js'

/** A frame on its way to clients: the channel it belongs to, its offset there when it is a stored message, and its text. */
export type Delivery = LiveFrame

/** Numeric order of offsets (`<ms>-<seq>`): negative, zero or positive as a is before, equal to or after b. */
export type CompareOffsets = (a: string, b: string) => number

export interface GateOptions {
  readonly compare: CompareOffsets
  /** drop a channel's mark once a newer frame went out (see the module comment) */
  readonly forget: boolean
  /** most marks kept with `forget`; the oldest go first (a quiet conversation's mark would otherwise stay for good) */
  readonly maxMarks?: number
}

export class DeliveryGate {
  /** shared by every gate of its kind (a connection holds one: its fields are kept few) */
  readonly #options: GateOptions
  /** channels holding their live frames, with what they hold */
  #held: Map<string, Delivery[]> | undefined
  /** per channel, the newest offset gone out (or the boundary of a reply) */
  #marks: Map<string, string> | undefined
  #heldBytes = 0

  constructor (options: GateOptions) {
    this.#options = options
  }

  /** Bytes of the frames held (they count in a connection's budget). */
  get heldBytes (): number { return this.#heldBytes }

  /** Channels holding now. */
  get holding (): number { return this.#held?.size ?? 0 }

  isHolding (channel: string): boolean {
    return this.#held?.has(channel) === true
  }

  /** The channel's mark, if it has one. */
  mark (channel: string): string | undefined {
    return this.#marks?.get(channel)
  }

  /** Live frames of `channel` (and those arriving through it) wait from now until `open` or `abandon`. */
  hold (channel: string): void {
    this.#held ??= new Map()
    if (!this.#held.has(channel)) this.#held.set(channel, [])
  }

  /**
   * A live frame, arrived through `via` (its own channel, or a personal channel for a direct conversation's):
   * true when it goes out now; false when it waits (held) or is a second copy (dropped).
   */
  live (frame: Delivery, via: string = frame.channel): boolean {
    const held = this.#held?.get(via) ?? (via === frame.channel ? undefined : this.#held?.get(frame.channel))
    if (held !== undefined) {
      held.push(frame)
      this.#heldBytes += frame.text.length
      return false
    }
    return this.#pass(frame)
  }

  /**
   * A live message whose `prev` (the message before it in its channel, message-frame.ts) is newer than the mark:
   * one came between and has not arrived here, because the two crossed on the way or it was lost. Only a gate
   * that keeps its marks can tell; the caller reads the gap back before letting this one through (hub.ts).
   * `floor` gives the mark of a channel nothing of which went out yet: what the caller knows it need not have
   * (where its listeners started, or when it subscribed).
   */
  ahead (frame: Delivery, floor?: string): boolean {
    const { offset, prev } = frame
    const { forget, compare } = this.#options
    if (forget || offset === undefined || prev === undefined) return false
    const mark = this.#marks?.get(frame.channel)
    // In order, the case of nearly every message: no comparison needed.
    if (mark === prev) return false
    const from = mark ?? floor
    return from !== undefined && compare(offset, from) > 0 && compare(prev, from) > 0
  }

  /** A message read from history while its channel holds: true when it goes out (it is after the mark). */
  replayed (frame: Delivery): boolean {
    return this.#pass(frame)
  }

  /**
   * The read that `hold` waited for is done, up to `boundary` (what the reply reported, or the last message it
   * replayed): the held frames that go out now, in order. A direct conversation's frames held with a personal
   * channel then follow their own channel's rule (they may still wait, for that conversation's own read).
   */
  open (channel: string, boundary: string | undefined): Delivery[] {
    const held = this.#take(channel)
    if (boundary !== undefined) this.#raise(channel, boundary)
    const out: Delivery[] = []
    for (const frame of held) {
      if (frame.channel !== channel ? this.live(frame, frame.channel) : this.#pass(frame)) out.push(frame)
    }
    return out
  }

  /**
   * The read failed before anything went out: the channel stops holding, and its held frames are handed back as
   * if they had just arrived (those of other channels, held with it, still go through their own rule).
   */
  abandon (channel: string): Delivery[] {
    const held = this.#take(channel)
    return held.filter((frame) => this.live(frame, frame.channel))
  }

  /** The channel is no longer listened to: its mark and what it held go. */
  forgetChannel (channel: string): void {
    this.#take(channel)
    this.#marks?.delete(channel)
    if (this.#marks?.size === 0) this.#marks = undefined
  }

  #take (channel: string): Delivery[] {
    const held = this.#held?.get(channel)
    if (held === undefined) return []
    this.#held?.delete(channel)
    if (this.#held?.size === 0) this.#held = undefined
    for (const frame of held) this.#heldBytes -= frame.text.length
    return held
  }

  #pass (frame: Delivery): boolean {
    const { offset, channel } = frame
    if (offset === undefined) return true
    const mark = this.#marks?.get(channel)
    // The one right after the mark (its `prev`) is newer without comparing.
    if (mark !== undefined && frame.prev !== mark && this.#options.compare(offset, mark) <= 0) return false
    if (this.#options.forget && !this.isHolding(channel)) {
      // Newer than the mark, and live order holds from here on: no mark needed any more.
      if (mark !== undefined) this.#marks?.delete(channel)
      if (this.#marks?.size === 0) this.#marks = undefined
    } else {
      this.#setMark(channel, offset)
    }
    return true
  }

  /** The mark becomes `offset` if that is newer. */
  #raise (channel: string, offset: string): void {
    const mark = this.#marks?.get(channel)
    if (mark === undefined || this.#options.compare(offset, mark) > 0) this.#setMark(channel, offset)
  }

  #setMark (channel: string, offset: string): void {
    this.#marks ??= new Map()
    // Updated in place (on the path of every message): the channel first marked is the first to go.
    this.#marks.set(channel, offset)
    if (this.#marks.size > (this.#options.maxMarks ?? Infinity)) this.#marks.delete(this.#marks.keys().next().value as string)
  }
}
