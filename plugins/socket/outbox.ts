/**
 * Back-pressure for one connection while it is sent a reply in parts (a
 * replay, a long history reply): the parts are read from the store one page
 * at a time and written only while the socket holds less than half of
 * MAX_BUFFERED_BYTES, so a client that does not read costs about the budget
 * however much it asked for, and one that reads gets everything, in order.
 *
 * The budget `B` (MAX_BUFFERED_BYTES) is shared out:
 *   - the socket: parts are written while it holds less than B/2 (so at most B/2 plus one frame);
 *   - one page read from the store: about B/4 (PageLimits.maxBytes; at least one message);
 *   - live frames that must wait meanwhile (frames written behind a backlog, and live frames of a
 *     channel held back until its replay is done): B/4. Beyond that the client is a slow
 *     consumer, and `overflow()` is called (the connection closes with 4009).
 * Live frames skip the wait when the socket has room: they are what the client waits for.
 */
import type { PageLimits } from '../store/types.js'

/** What the outbox needs of the connection's socket. */
export interface OutboxSocket {
  /** false once the socket is closing: nothing more is written */
  readonly open: boolean
  /** bytes written and not yet handed to the kernel */
  readonly buffered: number
  write (frame: string): void
  /** calls `done` once everything written so far has left the process (or the socket is gone) */
  flushed (done: () => void): void
}

/** The next part of a reply: its frames (possibly none), or undefined once there is nothing more. */
export type NextPart = () => Promise<string[] | undefined>

interface Job {
  readonly next: NextPart
  frames: string[]
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

/** Limits derived from the connection's budget (see the module comment). */
export interface OutboxLimits {
  /** parts are written while the socket holds fewer bytes than this */
  readonly socketMark: number
  /** live bytes that may wait */
  readonly waiting: number
  /** how much one read from the store may return */
  readonly page: PageLimits
}

export function outboxLimits (maxBufferedBytes: number): OutboxLimits {
  return {
    socketMark: Math.floor(maxBufferedBytes / 2),
    waiting: Math.floor(maxBufferedBytes / 4),
    page: { limit: 100, maxBytes: Math.max(1, Math.floor(maxBufferedBytes / 4)) }
  }
}

/** What the outbox tells its connection, and asks it. */
export interface OutboxHooks {
  /** too much is waiting: a slow consumer */
  readonly overflow: () => void
  /** nothing is left to send: the connection may drop the outbox */
  readonly idle: () => void
  /** bytes of live frames the connection holds back (a channel being replayed): they count as waiting */
  readonly held: () => number
}

export class Outbox {
  readonly #socket: OutboxSocket
  readonly #limits: OutboxLimits
  readonly #hooks: OutboxHooks
  readonly #queue: string[] = []
  readonly #jobs: Job[] = []
  /** bytes of #queue */
  #waiting = 0
  #pumping = false
  #closed = false
  #overflowed = false
  /** ends the wait for the socket to flush (also when the socket closes) */
  #wake: (() => void) | undefined

  constructor (socket: OutboxSocket, limits: OutboxLimits, hooks: OutboxHooks) {
    this.#socket = socket
    this.#limits = limits
    this.#hooks = hooks
  }

  /** A live frame (or a small reply): written now if the socket has room and nothing waits, else queued. */
  push (frame: string): void {
    if (this.#closed) return
    if (this.#queue.length === 0 && this.#hasRoom()) {
      this.#socket.write(frame)
      return
    }
    this.#queue.push(frame)
    this.#count(frame.length)
    this.#pump()
  }

  /** The connection released frames it held: the outbox may be idle now. */
  settle (): void {
    this.#maybeIdle()
  }

  /** The connection holds more frames back: still within the budget? */
  checkBudget (): void {
    this.#count(0)
  }

  /**
   * Sends a reply in parts, after the parts of replies started earlier. Resolves once the last
   * part has been written, rejects if reading a part failed.
   */
  async stream (next: NextPart): Promise<void> {
    if (this.#closed) throw new OutboxClosedError()
    await new Promise<void>((resolve, reject) => {
      this.#jobs.push({ next, frames: [], resolve, reject })
      this.#pump()
    })
  }

  /** The socket closed: nothing more is sent; replies in parts reject. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#queue.length = 0
    this.#wake?.()
    for (const job of this.#jobs.splice(0)) job.reject(new OutboxClosedError())
  }

  #count (bytes: number): void {
    this.#waiting += bytes
    if (this.#waiting + this.#hooks.held() > this.#limits.waiting && !this.#overflowed) {
      this.#overflowed = true
      this.#hooks.overflow()
    }
  }

  #hasRoom (): boolean {
    return this.#socket.buffered < this.#limits.socketMark
  }

  #pump (): void {
    if (this.#pumping || this.#closed) return
    this.#pumping = true
    this.#run().catch(() => {}).finally(() => {
      this.#pumping = false
      this.#maybeIdle()
    })
  }

  async #run (): Promise<void> {
    while (!this.#closed && this.#socket.open) {
      const job = this.#jobs[0]
      if (this.#queue.length === 0 && job === undefined) return
      // Nothing is written, and no page is read, while the socket is full.
      if (!this.#hasRoom()) {
        await this.#flushed()
        continue
      }
      if (this.#queue.length > 0) {
        // Live frames first, all of them (they are at most `waiting` bytes).
        for (const frame of this.#queue.splice(0)) {
          this.#waiting -= frame.length
          this.#socket.write(frame)
        }
        continue
      }
      if (job === undefined) return
      const frame = job.frames.shift()
      if (frame !== undefined) {
        this.#socket.write(frame)
        continue
      }
      let part: string[] | undefined
      try {
        part = await job.next()
      } catch (err) {
        this.#jobs.shift()
        job.reject(err)
        continue
      }
      if (this.#closed) return
      if (part === undefined) {
        this.#jobs.shift()
        job.resolve()
      } else {
        job.frames = part
      }
    }
  }

  async #flushed (): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#wake = resolve
      this.#socket.flushed(resolve)
    })
    this.#wake = undefined
  }

  #maybeIdle (): void {
    if (!this.#closed && !this.#pumping && this.#jobs.length === 0 && this.#queue.length === 0 && this.#hooks.held() === 0) this.#hooks.idle()
  }
}

/** A reply in parts was cut short because its connection closed. */
export class OutboxClosedError extends Error {
  constructor () {
    super('connection closed')
  }
}
