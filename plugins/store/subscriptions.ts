/**
 * SUBSCRIBE and UNSUBSCRIBE on one subscriber connection, gathered per turn
 * of the event loop (setImmediate). A burst of connections, each listening to
 * its own personal channel, would otherwise cost one command and one write to
 * Redis each: on loopback and on a network alike, that write is the larger
 * part of what subscribing costs the process. Order is kept: the requests of
 * a turn go out in the order they were made, each run of one kind as one
 * command (subscribe a, subscribe b, unsubscribe a, subscribe a is
 * SUBSCRIBE a b, UNSUBSCRIBE a, SUBSCRIBE a), so the last request about a
 * name decides, as it would one at a time.
 */
export type SubscriptionOp = 'subscribe' | 'unsubscribe'

interface Asked {
  readonly op: SubscriptionOp
  readonly name: string
  resolve (): void
  reject (err: unknown): void
}

/** names per command at most: a reply the client must collect at once stays small */
const MAX_NAMES = 512

export class SubscriptionBatch {
  readonly #send: (op: SubscriptionOp, names: string[]) => Promise<unknown>
  #queue: Asked[] = []
  #scheduled = false

  /** `send` issues one command (e.g. ioredis `subscriber[op](...names)`) and settles once Redis confirmed every name. */
  constructor (send: (op: SubscriptionOp, names: string[]) => Promise<unknown>) {
    this.#send = send
  }

  /** Settles once Redis confirmed this name (or failed the command that carried it). */
  add (op: SubscriptionOp, name: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ op, name, resolve, reject })
      if (this.#scheduled) return
      this.#scheduled = true
      setImmediate(this.#flush)
    })
  }

  readonly #flush = (): void => {
    this.#scheduled = false
    const queue = this.#queue
    this.#queue = []
    for (let start = 0; start < queue.length;) {
      const op = queue[start]?.op as SubscriptionOp
      let end = start + 1
      while (end < queue.length && end - start < MAX_NAMES && queue[end]?.op === op) end++
      const run = queue.slice(start, end)
      let sent: Promise<unknown>
      try {
        sent = this.#send(op, run.map((asked) => asked.name))
      } catch (err) {
        sent = Promise.reject(err)
      }
      sent.then(() => { for (const asked of run) asked.resolve() }, (err: unknown) => { for (const asked of run) asked.reject(err) })
      start = end
    }
  }
}
