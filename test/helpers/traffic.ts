/**
 * Steady chat traffic for failover tests (Sentinel, Redis Cluster): what was
 * sent, acknowledged and received, when delivery resumed after a disruption,
 * and whether every acknowledged message arrived exactly once.
 */
import type { Test } from 'tap'
import type { Ack } from '../../client/sdk/index.js'
import { eventually, sleep } from './client.js'
import type { SdkClient } from './sdk.js'

/** Steady traffic: alice sends direct messages to bob, bob publishes to a room alice is in. */
export class Traffic {
  readonly sentAt = new Map<string, number>()
  readonly acked = { dm: [] as number[], room: [] as number[] }
  readonly failed = { dm: 0, room: 0 }
  /** the last refusal of each stream, for a failure's message */
  readonly lastRefusal = { dm: '', room: '' }
  #running = true
  #loops: Array<Promise<void>> = []

  constructor (readonly alice: SdkClient, readonly bob: SdkClient, readonly tag: string, readonly bobId: string, readonly room = 'ha') {}

  start (): void {
    const loop = async (kind: 'dm' | 'room', send: (data: unknown) => Promise<unknown>): Promise<void> => {
      for (let seq = 0; this.#running; seq++) {
        this.sentAt.set(`${kind}${seq}`, Date.now())
        try {
          await send({ tag: this.tag, kind, seq })
          this.acked[kind].push(seq)
        } catch (err) {
          this.failed[kind]++
          this.lastRefusal[kind] = String(err)
        }
        await sleep(25) // pacing: steady traffic, not a flood (what is measured is that it keeps flowing)
      }
    }
    this.#loops = [
      loop('dm', async (data) => await this.alice.client.send(this.bobId, data)),
      loop('room', async (data) => await this.bob.client.publish(this.room, data))
    ]
  }

  /**
   * Resolves once `count` more messages of each stream, counted from now, have been acknowledged and delivered: the
   * traffic flows (before a disruption; after one, that it flows again). Gives up after `timeoutMs`.
   */
  async flowing (count = 10, timeoutMs = 60_000): Promise<void> {
    for (const kind of ['dm', 'room'] as const) {
      const from = this.acked[kind].length
      const failed = this.failed[kind]
      await eventually(() => this.acked[kind].length >= from + count && this.acked[kind].slice(from, from + count).every((seq) => this.received(kind).includes(seq)), timeoutMs,
        () => `${this.tag} ${kind}: ${count} more messages acknowledged and delivered (${this.acked[kind].length - from} acknowledged, ${this.failed[kind] - failed} refused so far${this.lastRefusal[kind] === '' ? '' : `, the last with ${this.lastRefusal[kind]}`})`)
    }
  }

  async stop (): Promise<void> {
    this.#running = false
    await Promise.all(this.#loops)
  }

  received (kind: 'dm' | 'room'): number[] {
    const client = kind === 'dm' ? this.bob : this.alice
    return client.messages
      .filter((m) => (m.data as { tag?: string }).tag === this.tag && (m.data as { kind?: string }).kind === kind && (kind === 'dm' ? m.to === this.bobId : true))
      .map((m) => (m.data as { seq: number }).seq)
  }

  /** When the first message sent after `since` reached its receiver, ms after `since`. */
  resumedAfter (since: number): number | undefined {
    let first: number | undefined
    for (const [kind, client] of [['dm', this.bob], ['room', this.alice]] as const) {
      client.messages.forEach((m, i) => {
        const data = m.data as { tag?: string, kind?: string, seq?: number }
        if (data.tag !== this.tag || data.kind !== kind) return
        const arrived = client.arrivals[i] ?? 0
        if ((this.sentAt.get(`${kind}${data.seq ?? -1}`) ?? 0) > since && (first === undefined || arrived < first)) first = arrived
      })
    }
    return first === undefined ? undefined : first - since
  }

  /** Every acknowledged message delivered exactly once (unacknowledged ones at most once). Call after `stop`. */
  async verify (t: Test): Promise<void> {
    // A marker after the traffic on each stream: once it has arrived, any duplicate would have come before it.
    await this.alice.client.send(this.bobId, { tag: this.tag, kind: 'dm-marker' })
    await this.bob.client.publish(this.room, { tag: this.tag, kind: 'room-marker' })
    for (const [kind, client] of [['dm', this.bob], ['room', this.alice]] as const) {
      await eventually(() => client.messages.some((m) => (m.data as { tag?: string }).tag === this.tag && (m.data as { kind?: string }).kind === `${kind}-marker`),
        `${this.tag} ${kind}: the marker`)
    }
    for (const kind of ['dm', 'room'] as const) {
      await eventually(() => this.acked[kind].every((seq) => this.received(kind).includes(seq)),
        () => `${this.tag} ${kind}: missing ${this.acked[kind].filter((seq) => !this.received(kind).includes(seq)).join(',')}`)
      const got = this.received(kind)
      t.equal(new Set(got).size, got.length, `${this.tag} ${kind}: no duplicates among ${got.length}`)
      t.same(got.filter((seq) => this.acked[kind].includes(seq)), this.acked[kind], `${this.tag} ${kind}: all ${this.acked[kind].length} acknowledged, once, in order`)
      t.comment(`${this.tag} ${kind}: ${this.acked[kind].length} acknowledged, ${this.failed[kind]} refused after retries`)
    }
  }
}

export interface PacedPublishes {
  /** how many have been acknowledged so far */
  acknowledged (): number
  /** every one settled */
  readonly settled: Promise<Array<PromiseSettledResult<Ack>>>
}

/**
 * One sender's messages to one room, fired every `everyMs` without waiting for their acks, so that
 * several are under way when a failure hits.
 */
export function pacedPublishes (sender: SdkClient, room: string, tag: string, count: number, everyMs: number): PacedPublishes {
  let acknowledged = 0
  const settled = (async () => {
    const sends: Array<Promise<Ack>> = []
    for (let seq = 0; seq < count; seq++) {
      sends.push(sender.client.publish(room, { tag, kind: 'ordered', seq }).then((ack) => { acknowledged++; return ack }))
      await sleep(everyMs) // pacing: the sends are spread over the failure, not all queued before it
    }
    return await Promise.allSettled(sends)
  })()
  return { acknowledged: () => acknowledged, settled }
}

/** The `seq` of a sender's `pacedPublishes` as stored in the room, in offset order (read back with history, page by page). */
export async function storedOrder (reader: SdkClient, room: string, tag: string, count: number): Promise<number[]> {
  const found: number[] = []
  let before: string | undefined
  for (;;) {
    const page = await reader.client.history(`room:${room}`, { limit: 100, ...(before === undefined ? {} : { before }) })
    const ours = page.filter((m) => (m.data as { tag?: string, kind?: string }).tag === tag && (m.data as { kind?: string }).kind === 'ordered')
    found.unshift(...ours.map((m) => (m.data as { seq: number }).seq))
    if (page.length === 0 || found.length >= count) return found
    before = page[0]?.offset
  }
}
