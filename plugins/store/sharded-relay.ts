/**
 * Live delivery on Redis Cluster with sharded pub/sub: each channel is
 * SSUBSCRIBEd on the primary that owns its slot, over one connection per
 * shard, opened only while this process has a channel there. A message
 * published with SPUBLISH stays inside its shard instead of crossing the
 * whole cluster bus.
 *
 * Shards fail over and slots move. Any connection that closes, any MOVED
 * reply, and any channel whose slot the topology now places elsewhere (checked
 * every `checkMs` against the cluster client's slot map, which ioredis keeps
 * fresh) starts a repair: the channels concerned are reported interrupted,
 * the slot map refreshed, every channel re-placed on its owner, and once they
 * are subscribed again, reported resumed (what was published meanwhile never
 * arrived live: the socket server reads it from history, see socket/hub.ts).
 *
 * A connection can also stay up and hear nothing (centrifugo#1189), or keep a
 * subscription its node no longer serves. So each shard connection carries a
 * probe channel of its own, in a slot of that shard: every `checkMs` the relay
 * publishes a numbered probe there, and a probe the shard acknowledged that
 * has not arrived `DEAF_AFTER_CHECKS` periods later marks that connection deaf
 * (a repair, then a gap). Together with the socket server's own relay probe,
 * every shard this process listens on is probed.
 *
 * Why not ioredis's own sharded subscribers (the Cluster option
 * `shardedSubscribers`, as in ioredis 5.11): they re-subscribe by themselves
 * after a failover or a slot move, and the only signs of it are undocumented
 * events (`-node`, `subscribersReady`) that name no channel, so a gap in a
 * channel's messages could not be told to its clients, who would then never
 * recover it from history; re-subscription errors are dropped (`ClusterSubscriberGroup`
 * `_resubscribe` only logs them under DEBUG); and their per-shard connections
 * are private (`cluster.shardedSubscribers`), so nothing could probe them for
 * deafness. This file uses only public ioredis API: `Redis` connections,
 * `ssubscribe`/`smessage`, and the Cluster client's `slots` and
 * `refreshSlotsCache`. The store's Cluster clients keep `shardedSubscribers`
 * off (its default).
 */
import { Redis } from 'ioredis'
import type { Cluster } from 'ioredis'
import { slotOf } from './slot.js'
import { quitWithin } from '../redis/quit.js'
import { replyWithin } from '../deadline.js'

/** How long a SSUBSCRIBE may go unanswered (ioredis never settles one that got MOVED). */
const SUBSCRIBE_TIMEOUT_MS = 2000
const REPAIR_RETRY_MS = 250
/** A probe acknowledged this many check periods ago and still unheard means the shard's connection is deaf. */
const DEAF_AFTER_CHECKS = 3

interface ShardProbe {
  readonly name: string
  sent: number
  heard: number
  /** acknowledged, not yet heard: number and when acknowledged */
  unheard: Array<{ readonly seq: number, readonly at: number }>
}

export interface ShardedRelayOptions {
  /** the cluster client whose slot map says who owns what (the store's subscriber) */
  readonly cluster: Cluster
  readonly onMessage: (name: string, payload: string) => void
  /** live delivery of these names stopped: what is published on them from now may never arrive */
  readonly onInterrupted: (names: readonly string[]) => void
  /** these names, interrupted before, are subscribed again */
  readonly onGap: (names: readonly string[]) => void
  /** how often placements are checked against the slot map and shards are probed, default 1000 ms */
  readonly checkMs?: number
  /** start of the probe channels' names; they must not collide with live channels */
  readonly probePrefix: string
  /** a shard connection reported an error (for logs and metrics; the connection handles itself) */
  readonly onConnectionError?: (node: string, err: Error) => void
  /** a shard connection closed or was moved away while in use: it is being replaced */
  readonly onConnectionLost?: (node: string) => void
}

export class ShardedRelay {
  readonly #options: ShardedRelayOptions
  /** live names wanted, and the node each one is subscribed on (undefined: not yet) */
  readonly #placed = new Map<string, string | undefined>()
  readonly #nodes = new Map<string, Redis>()
  readonly #probes = new Map<string, ShardProbe>()
  readonly #checkMs: number
  readonly #timer: NodeJS.Timeout
  #repair: Promise<void> | undefined
  #again = false
  /**
   * Channels whose subscription was lost or moved, until they are reported resumed (onGap): nothing of theirs is
   * delivered meanwhile, so that what follows the gap comes after it is healed. Other channels keep flowing.
   */
  readonly #tainted = new Set<string>()
  #closed = false

  constructor (options: ShardedRelayOptions) {
    this.#options = options
    this.#checkMs = options.checkMs ?? 1000
    this.#timer = setInterval(() => { this.#check() }, this.#checkMs).unref()
  }

  readonly #onMessage = (name: string, payload: string): void => {
    if (!name.startsWith(this.#options.probePrefix)) {
      if (!this.#tainted.has(name)) this.#options.onMessage(name, payload)
      return
    }
    for (const probe of this.#probes.values()) {
      if (probe.name !== name) continue
      probe.heard = Math.max(probe.heard, Number(payload))
      while ((probe.unheard[0]?.seq ?? Infinity) <= probe.heard) probe.unheard.shift()
    }
  }

  /** The node (`host:port`) that owns a channel, per the cluster's slot map. */
  ownerOf (name: string): string | undefined {
    return this.#options.cluster.slots[slotOf(name)]?.[0]
  }

  /** Nodes this process holds a subscription connection to. */
  shards (): string[] {
    return [...this.#nodes.keys()].sort()
  }

  async add (name: string): Promise<void> {
    // A new subscription: whoever asked for it reads history after it is placed, so nothing of an old gap is theirs.
    this.#tainted.delete(name)
    this.#placed.set(name, undefined)
    await this.#place(name)
  }

  async remove (name: string): Promise<void> {
    const node = this.#placed.get(name)
    this.#placed.delete(name)
    this.#tainted.delete(name)
    if (node !== undefined) await this.#release(node, name)
  }

  /** Re-subscribe everything on fresh connections (the probe found the relay deaf). */
  async resubscribe (): Promise<void> {
    for (const node of [...this.#nodes.keys()]) this.#drop(node)
    await this.#startRepair()
  }

  async close (): Promise<void> {
    this.#closed = true
    clearInterval(this.#timer)
    const nodes = [...this.#nodes.values()]
    this.#nodes.clear()
    this.#placed.clear()
    for (const conn of nodes) conn.removeAllListeners('close')
    await quitWithin(nodes)
  }

  async #place (name: string): Promise<void> {
    let lastError: unknown
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!this.#placed.has(name) || this.#closed) return
      const node = this.ownerOf(name)
      if (node === undefined) {
        lastError = new Error(`no node owns the slot of ${name}`)
      } else {
        try {
          await replyWithin(this.#connection(node).ssubscribe(name), SUBSCRIBE_TIMEOUT_MS)
          await this.#probe(node)
          if (!this.#placed.has(name)) {
            await this.#release(node, name)
            return
          }
          this.#placed.set(name, node)
          return
        } catch (err) {
          lastError = err
          this.#drop(node)
        }
      }
      await this.#refreshSlots()
    }
    throw lastError
  }

  /** Subscribes the shard's connection to a probe channel that the shard owns, once per connection. */
  async #probe (node: string): Promise<void> {
    if (this.#probes.has(node)) return
    let name: string | undefined
    for (let i = 0; i < 1000 && name === undefined; i++) {
      const candidate = `${this.#options.probePrefix}${i}}`
      if (this.ownerOf(candidate) === node) name = candidate
    }
    const conn = this.#nodes.get(node)
    if (name === undefined || conn === undefined) return
    await replyWithin(conn.ssubscribe(name), SUBSCRIBE_TIMEOUT_MS)
    if (this.#nodes.get(node) === conn) this.#probes.set(node, { name, sent: 0, heard: 0, unheard: [] })
  }

  /** Publishes the next probe on every shard, and finds the shards whose acknowledged probes never arrived. */
  #sendProbes (): void {
    const now = Date.now()
    for (const [node, probe] of this.#probes) {
      const oldest = probe.unheard[0]
      if (oldest !== undefined && oldest.at < now - DEAF_AFTER_CHECKS * this.#checkMs) {
        const conn = this.#nodes.get(node)
        if (conn !== undefined) this.#lose(node, conn)
        continue
      }
      const seq = ++probe.sent
      this.#options.cluster.spublish(probe.name, String(seq)).then(() => {
        if (seq > probe.heard) probe.unheard.push({ seq, at: Date.now() })
      }, () => {})
    }
  }

  async #release (node: string, name: string): Promise<void> {
    const conn = this.#nodes.get(node)
    if (conn === undefined) return
    const stillUsed = [...this.#placed.values()].includes(node)
    if (!stillUsed) {
      // No channel left on this shard: close its connection.
      this.#nodes.delete(node)
      this.#probes.delete(node)
      conn.removeAllListeners('close')
      await replyWithin(conn.quit(), SUBSCRIBE_TIMEOUT_MS).catch(() => {})
      conn.disconnect()
      return
    }
    if (conn.status !== 'ready') return
    // When a slot moves away, Redis 7 sends its subscribers an SUNSUBSCRIBE of its own, which ioredis matches against
    // its queue of pending commands: a reply may then never come. A stuck repair would stop every later check, so
    // never wait for one without limit; replace the connection instead.
    await replyWithin(conn.sunsubscribe(name), SUBSCRIBE_TIMEOUT_MS).catch(() => { this.#lose(node, conn) })
  }

  #connection (node: string): Redis {
    const existing = this.#nodes.get(node)
    if (existing !== undefined) return existing
    const colon = node.lastIndexOf(':')
    const conn = new Redis({
      ...this.#options.cluster.options.redisOptions,
      host: node.slice(0, colon),
      port: Number(node.slice(colon + 1)),
      connectionName: 'switchboard-ssubscriber',
      // A shard's connection is not retried in place: its node may be gone for good. The repair places its channels anew.
      retryStrategy: () => null,
      autoResubscribe: false,
      enableReadyCheck: false,
      lazyConnect: false
    })
    conn.on('smessage', this.#onMessage)
    conn.on('error', (err: Error) => { this.#options.onConnectionError?.(node, err) })
    conn.on('moved', () => { this.#lose(node, conn) })
    conn.once('close', () => { this.#lose(node, conn) })
    this.#nodes.set(node, conn)
    return conn
  }

  #drop (node: string): void {
    const conn = this.#nodes.get(node)
    if (conn === undefined) return
    this.#nodes.delete(node)
    this.#probes.delete(node)
    conn.removeAllListeners('close')
    conn.disconnect()
    const lost: string[] = []
    for (const [name, at] of this.#placed) {
      if (at !== node) continue
      this.#placed.set(name, undefined)
      if (this.#taint(name)) lost.push(name)
    }
    if (lost.length > 0) this.#options.onInterrupted(lost)
  }

  /** Marks a channel's subscription lost; true when it was not already. */
  #taint (name: string): boolean {
    if (this.#tainted.has(name)) return false
    this.#tainted.add(name)
    return true
  }

  #lose (node: string, conn: Redis): void {
    if (this.#closed || this.#nodes.get(node) !== conn) return
    const hadChannels = [...this.#placed.values()].includes(node)
    this.#options.onConnectionLost?.(node)
    this.#drop(node)
    if (hadChannels) this.#startRepair().catch(() => {})
  }

  #check (): void {
    if (this.#closed || this.#repair !== undefined) return
    this.#sendProbes()
    for (const [name, node] of this.#placed) {
      const owner = this.ownerOf(name)
      if (node !== undefined && owner !== undefined && owner !== node) {
        // The slot moved (resharding, or a failover the slot map has caught up with): what the old owner had is gone.
        this.#startRepair().catch(() => {})
        return
      }
    }
  }

  async #startRepair (): Promise<void> {
    if (this.#repair !== undefined) {
      this.#again = true
      return await this.#repair
    }
    this.#repair = this.#repairLoop()
    try {
      await this.#repair
    } finally {
      this.#repair = undefined
    }
  }

  async #repairLoop (): Promise<void> {
    while (!this.#closed) {
      this.#again = false
      await this.#refreshSlots()
      let ok = true
      for (const [name, node] of [...this.#placed]) {
        const owner = this.ownerOf(name)
        if (node !== undefined && node === owner && this.#nodes.has(node)) continue
        if (node !== undefined) {
          if (this.#taint(name)) this.#options.onInterrupted([name])
          this.#placed.set(name, undefined)
          await this.#release(node, name)
        }
        try {
          await this.#place(name)
        } catch {
          ok = false
        }
      }
      this.#signalGap()
      if (ok && !this.#again && this.#tainted.size === 0) break
      await new Promise((resolve) => setTimeout(resolve, REPAIR_RETRY_MS))
    }
  }

  /** Reports resumed (onGap) the tainted channels that are subscribed again; those still unplaced wait for a later pass. */
  #signalGap (): void {
    const ready: string[] = []
    for (const name of [...this.#tainted]) {
      if (!this.#placed.has(name)) {
        this.#tainted.delete(name)
      } else if (this.#placed.get(name) !== undefined) {
        this.#tainted.delete(name)
        ready.push(name)
      }
    }
    if (ready.length > 0 && !this.#closed) this.#options.onGap(ready)
  }

  async #refreshSlots (): Promise<void> {
    await new Promise<void>((resolve) => { this.#options.cluster.refreshSlotsCache(() => { resolve() }) })
  }
}
