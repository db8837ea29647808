/**
 * SUBSCRIBE and UNSUBSCRIBE on one subscriber connection, gathered per turn
 * of the event loop (a Batcher). A burst of connections, each listening to
 * its own personal channel, would otherwise cost one command and one write to
 * Redis each: on loopback and on a network alike, that write is the larger
 * part of what subscribing costs the process. Order is kept: the requests of
 * a turn go out in the order they were made, each run of one kind as one
 * command (subscribe a, subscribe b, unsubscribe a, subscribe a is
 * SUBSCRIBE a b, UNSUBSCRIBE a, SUBSCRIBE a), so the last request about a
 * name decides, as it would one at a time.
 */
import { Batcher } from './batcher.js'

export type SubscriptionOp = 'subscribe' | 'unsubscribe'

interface Asked {
  readonly op: SubscriptionOp
  readonly name: string
}

/** Names per command at most: a reply the client must collect at once stays small. */
const MAX_NAMES = 512

export class SubscriptionBatch {
  readonly #batcher: Batcher<Asked, true>

  /** `send` issues one command (e.g. ioredis `subscriber[op](...names)`) and settles once Redis confirmed every name. */
  constructor (send: (op: SubscriptionOp, names: string[]) => Promise<unknown>) {
    this.#batcher = new Batcher(async (asked) => await inRuns(asked, send), { maxBatch: MAX_NAMES })
  }

  /** Settles once Redis confirmed this name (or failed the command that carried it). */
  async add (op: SubscriptionOp, name: string): Promise<void> {
    await this.#batcher.add({ op, name })
  }
}

/** One command per run of one kind, all sent before the first reply is awaited, in the order asked. */
async function inRuns (asked: readonly Asked[], send: (op: SubscriptionOp, names: string[]) => Promise<unknown>): Promise<Array<true | Error>> {
  const results: Array<true | Error> = []
  const sent: Array<Promise<void>> = []
  for (let start = 0; start < asked.length;) {
    const op = asked[start]?.op as SubscriptionOp
    let end = start + 1
    while (end < asked.length && asked[end]?.op === op) end++
    const from = start
    const to = end
    const settle = (result: true | Error): void => { for (let i = from; i < to; i++) results[i] = result }
    let command: Promise<unknown>
    try {
      command = send(op, asked.slice(from, to).map((a) => a.name))
    } catch (err) {
      command = Promise.reject(err)
    }
    sent.push(command.then(() => { settle(true) }, (err: unknown) => { settle(err instanceof Error ? err : new Error(String(err))) }))
    start = end
  }
  await Promise.all(sent)
  return results
}
