/**
 * Reference-counted channel listeners, shared by both stores: the first
 * handler of a channel triggers the backend subscription, the last one
 * leaving triggers the unsubscription.
 */
import type { LiveFrame, MessageHandler } from './types.js'

export class ChannelListeners {
  readonly #byChannel = new Map<string, Set<MessageHandler>>()

  /** Adds a handler; returns true if it is the channel's first. */
  add (channel: string, handler: MessageHandler): boolean {
    let set = this.#byChannel.get(channel)
    const first = set === undefined
    if (set === undefined) {
      set = new Set()
      this.#byChannel.set(channel, set)
    }
    set.add(handler)
    return first
  }

  /** Removes a handler; returns true if the channel has none left. */
  remove (channel: string, handler: MessageHandler): boolean {
    const set = this.#byChannel.get(channel)
    if (set === undefined) return false
    set.delete(handler)
    if (set.size > 0) return false
    this.#byChannel.delete(channel)
    return true
  }

  channels (): IterableIterator<string> {
    return this.#byChannel.keys()
  }

  dispatch (channel: string, frame: LiveFrame): void {
    const set = this.#byChannel.get(channel)
    if (set === undefined) return
    for (const handler of set) handler(channel, frame)
  }
}
