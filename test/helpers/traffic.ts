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
        } catch {
          this.failed[kind]++
        }
        await sleep(25)
      }
    }
    this.#loops = [
      loop('dm', async (data) => await this.alice.client.send(this.bobId, data)),
      loop('room', async (data) => await this.bob.client.publish(this.room, data))
    ]
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

  /** Every acknowledged message delivered exactly once (unacknowledged ones at most once). */
  async verify (t: Test): Promise<void> {
    for (const kind of ['dm', 'room'] as const) {
      await eventually(() => this.acked[kind].every((seq) => this.received(kind).includes(seq)), 20_000,
        () => `${this.tag} ${kind}: missing ${this.acked[kind].filter((seq) => !this.received(kind).includes(seq)).join(',')}`)
      await sleep(200)
      const got = this.received(kind)
      t.equal(new Set(got).size, got.length, `${this.tag} ${kind}: no duplicates among ${got.length}`)
      t.same(got.filter((seq) => this.acked[kind].includes(seq)), this.acked[kind], `${this.tag} ${kind}: all ${this.acked[kind].length} acknowledged, once, in order`)
      t.comment(`${this.tag} ${kind}: ${this.acked[kind].length} acknowledged, ${this.failed[kind]} refused after retries`)
    }
  }
}

/**
 * One sender's messages to one room, fired every `everyMs` without waiting for their acks, so that
 * several are under way when a failure hits. Resolves once every one has settled.
 */
export async function pacedPublishes (sender: SdkClient, room: string, tag: string, count: number, everyMs: number): Promise<Array<PromiseSettledResult<Ack>>> {
  const sends: Array<Promise<Ack>> = []
  for (let seq = 0; seq < count; seq++) {
    sends.push(sender.client.publish(room, { tag, kind: 'ordered', seq }))
    await sleep(everyMs)
  }
  return await Promise.allSettled(sends)
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
