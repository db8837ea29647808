/**
 * The Redis store: fleet state in sorted sets and hashes, channel history in
 * streams, live delivery over per-channel pub/sub. It uses two connections
 * handed to it (commands, and a subscriber, since a subscribed connection
 * cannot run commands) and never closes them: their owner does.
 */
import type { Redis, Result } from 'ioredis'
import { ChannelListeners } from './channel-listeners.js'
import { APPEND, HEARTBEAT, PICK } from './scripts.js'
import { DEFAULT_LIMITS } from './types.js'
import type { AppendInput, AppendResult, MessageHandler, ServerRecord, ServerStatus, Store, StoreLimits } from './types.js'
import { keys as makeKeys } from '../names.js'
import type { Keys } from '../names.js'

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbAppend (history: string, dedup: string, live: string, framePrefix: string, maxLen: number, dedupTtlMs: number): Result<[string, number], Context>
    sbHeartbeat (load: string, alive: string, server: string, id: string, url: string, capacity: number, draining: number, startedAt: number, connections: number): Result<number, Context>
    sbPick (load: string, alive: string, aliveWithinMs: number, serverPrefix: string): Result<[string, string, string, string, string, string] | null, Context>
  }
}

export interface RedisStoreOptions {
  readonly client: Redis
  readonly subscriber: Redis
  /** key prefix, default `sb:` */
  readonly prefix?: string
  readonly limits?: Partial<StoreLimits>
}

export class RedisStore implements Store {
  readonly kind = 'redis'
  readonly #client: Redis
  readonly #subscriber: Redis
  readonly #keys: Keys
  readonly #serverPrefix: string
  readonly #livePrefix: string
  readonly #limits: StoreLimits
  readonly #listeners = new ChannelListeners()
  readonly #pending = new Map<string, Promise<unknown>>()
  readonly #onMessage = (liveChannel: string, payload: string): void => {
    if (liveChannel.startsWith(this.#livePrefix)) this.#listeners.dispatch(liveChannel.slice(this.#livePrefix.length), payload)
  }

  constructor (options: RedisStoreOptions) {
    const prefix = options.prefix ?? 'sb:'
    this.#client = options.client
    this.#subscriber = options.subscriber
    this.#keys = makeKeys(prefix)
    this.#serverPrefix = this.#keys.server('')
    this.#livePrefix = this.#keys.live('')
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits }
    defineScripts(this.#client)
    this.#subscriber.on('message', this.#onMessage)
  }

  async heartbeat (server: ServerRecord, connections: number): Promise<void> {
    const k = this.#keys
    await this.#client.sbHeartbeat(k.load, k.alive, k.server(server.id), server.id, server.url, server.capacity,
      server.draining ? 1 : 0, server.startedAt, connections)
  }

  async deregister (id: string): Promise<void> {
    await this.#client.multi().zrem(this.#keys.load, id).zrem(this.#keys.alive, id).del(this.#keys.server(id)).exec()
  }

  async adjustLoad (id: string, delta: number): Promise<void> {
    // XX: never re-create the entry of a server that was deregistered or evicted.
    await this.#client.zadd(this.#keys.load, 'XX', 'INCR', delta, id)
  }

  async pickServer (aliveWithinMs: number): Promise<ServerStatus | null> {
    const row = await this.#client.sbPick(this.#keys.load, this.#keys.alive, aliveWithinMs, this.#serverPrefix)
    if (row === null) return null
    const [id, url, load, capacity, lastHeartbeat, startedAt] = row
    return { id, url, load: Number(load), capacity: Number(capacity), draining: false, lastHeartbeat: Number(lastHeartbeat), startedAt: Number(startedAt) }
  }

  async listServers (): Promise<ServerStatus[]> {
    const [load, alive] = await Promise.all([
      this.#client.zrange(this.#keys.load, 0, -1, 'WITHSCORES'),
      this.#client.zrange(this.#keys.alive, 0, -1, 'WITHSCORES')
    ])
    const loads = pairs(load)
    const beats = pairs(alive)
    const ids = [...new Set([...loads.keys(), ...beats.keys()])]
    const records = await Promise.all(ids.map(async (id) => await this.#client.hgetall(this.#keys.server(id))))
    return ids.map((id, i): ServerStatus => {
      const record = records[i] ?? {}
      return {
        id,
        url: record.url ?? '',
        capacity: Number(record.capacity ?? 0),
        draining: record.draining === '1',
        startedAt: Number(record.startedAt ?? 0),
        load: loads.get(id) ?? 0,
        lastHeartbeat: beats.get(id) ?? null
      }
    }).sort((a, b) => a.load - b.load || (a.id < b.id ? -1 : 1))
  }

  async append (input: AppendInput): Promise<AppendResult> {
    const k = this.#keys
    const mid = input.mid
    const [offset, duplicate] = await this.#client.sbAppend(
      k.history(input.channel),
      mid === undefined ? k.history(input.channel) : k.dedup(input.channel, input.sender, mid),
      k.live(input.channel),
      input.framePrefix,
      this.#limits.historySize,
      mid === undefined ? 0 : this.#limits.dedupWindowMs
    )
    return { offset, duplicate: duplicate === 1 }
  }

  async subscribe (channel: string, handler: MessageHandler): Promise<void> {
    if (!this.#listeners.add(channel, handler)) {
      // Another handler subscribed first: wait until its SUBSCRIBE is confirmed too.
      await this.#pending.get(channel)
      return
    }
    const pending = this.#subscriber.subscribe(this.#keys.live(channel))
    this.#pending.set(channel, pending)
    try {
      await pending
    } catch (err) {
      this.#listeners.remove(channel, handler)
      throw err
    } finally {
      if (this.#pending.get(channel) === pending) this.#pending.delete(channel)
    }
  }

  async unsubscribe (channel: string, handler: MessageHandler): Promise<void> {
    if (this.#listeners.remove(channel, handler)) await this.#subscriber.unsubscribe(this.#keys.live(channel))
  }

  async ping (): Promise<void> {
    await this.#client.ping()
  }

  async close (): Promise<void> {
    this.#subscriber.off('message', this.#onMessage)
    const live = [...this.#listeners.channels()].map((channel) => this.#keys.live(channel))
    if (live.length > 0 && this.#subscriber.status === 'ready') await this.#subscriber.unsubscribe(...live)
  }
}

function defineScripts (client: Redis): void {
  // defineCommand is idempotent per name; a client shared by several stores gets them once.
  if (typeof client.sbAppend === 'function') return
  client.defineCommand('sbAppend', { numberOfKeys: 2, lua: APPEND })
  client.defineCommand('sbHeartbeat', { numberOfKeys: 3, lua: HEARTBEAT })
  client.defineCommand('sbPick', { numberOfKeys: 2, lua: PICK })
}

function pairs (flat: string[]): Map<string, number> {
  const map = new Map<string, number>()
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(flat[i] as string, Number(flat[i + 1]))
  return map
}
