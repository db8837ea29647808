/**
 * Read positions leave one at a time per conversation: a `read` asked while one
 * is out waits for it, and only the newest of those asked meanwhile goes next
 * (a user scrolling through a conversation costs a frame per round trip, not per
 * message). A position never goes back, on the server as here.
 */
import { compareOffsets } from './offsets.js'

export interface ReadState {
  readonly channel: string
  readonly epoch: string
  /** the read position kept (the newest asked so far) */
  readonly offset: string
  /** messages after it that others sent */
  readonly unread: number
}

type Send = (channel: string, offset: string) => Promise<ReadState>

interface Lane {
  /** the newest offset asked while one was out, and who waits for it */
  next?: string
  waiters: Array<{ resolve: (state: ReadState) => void, reject: (err: unknown) => void }>
}

export class ReadMarks {
  readonly #lanes = new Map<string, Lane>()
  readonly #send: Send

  constructor (send: Send) {
    this.#send = send
  }

  async mark (channel: string, offset: string): Promise<ReadState> {
    const lane = this.#lanes.get(channel)
    if (lane !== undefined) {
      if (lane.next === undefined || compareOffsets(offset, lane.next) > 0) lane.next = offset
      return await new Promise((resolve, reject) => { lane.waiters.push({ resolve, reject }) })
    }
    this.#lanes.set(channel, { waiters: [] })
    return await this.#run(channel, offset)
  }

  async #run (channel: string, offset: string): Promise<ReadState> {
    try {
      return await this.#send(channel, offset)
    } finally {
      this.#next(channel)
    }
  }

  /** The one out is answered: the newest asked meanwhile goes now, for everyone who asked. */
  #next (channel: string): void {
    const lane = this.#lanes.get(channel)
    this.#lanes.delete(channel)
    if (lane?.next === undefined) return
    const waiters = lane.waiters
    this.mark(channel, lane.next).then((state) => { for (const w of waiters) w.resolve(state) }, (err: unknown) => { for (const w of waiters) w.reject(err) })
  }
}
