/**
 * The in-memory store: the same semantics as the Redis store inside one
 * process, for `switchboard standalone` and for apps that embed the plugins on
 * a single node. Pub/sub is synchronous dispatch; history ids have the Redis
 * stream shape (`<ms>-<seq>`), so offsets compare the same way.
 */
import { ChannelListeners } from './channel-listeners.js'
import { DEFAULT_LIMITS } from './types.js'
import type { AppendInput, AppendResult, MessageHandler, ServerRecord, ServerStatus, Store, StoreLimits } from './types.js'

interface Entry { readonly offset: string, readonly frame: string }

export class MemoryStore implements Store {
  readonly kind = 'memory'
  readonly #limits: StoreLimits
  readonly #servers = new Map<string, ServerRecord>()
  readonly #load = new Map<string, number>()
  readonly #alive = new Map<string, number>()
  readonly #history = new Map<string, Entry[]>()
  readonly #dedup = new Map<string, { offset: string, expiresAt: number }>()
  readonly #listeners = new ChannelListeners()
  readonly #sweeper: NodeJS.Timeout
  #lastMs = 0
  #seq = 0

  constructor (limits: Partial<StoreLimits> = {}) {
    this.#limits = { ...DEFAULT_LIMITS, ...limits }
    this.#sweeper = setInterval(() => this.#sweepDedup(), 30_000).unref()
  }

  async heartbeat (server: ServerRecord, connections: number): Promise<void> {
    this.#servers.set(server.id, { ...server })
    if (!this.#load.has(server.id)) this.#load.set(server.id, connections)
    this.#alive.set(server.id, Date.now())
  }

  async deregister (id: string): Promise<void> {
    this.#servers.delete(id)
    this.#load.delete(id)
    this.#alive.delete(id)
  }

  async adjustLoad (id: string, delta: number): Promise<void> {
    const load = this.#load.get(id)
    if (load !== undefined) this.#load.set(id, load + delta)
  }

  async pickServer (aliveWithinMs: number): Promise<ServerStatus | null> {
    const now = Date.now()
    for (const status of this.#statuses()) {
      if (status.lastHeartbeat === null || status.lastHeartbeat < now - aliveWithinMs) continue
      if (status.draining || status.load >= status.capacity || status.url === '') continue
      return status
    }
    return null
  }

  async listServers (): Promise<ServerStatus[]> {
    return this.#statuses()
  }

  async append (input: AppendInput): Promise<AppendResult> {
    const dedupKey = input.mid === undefined ? undefined : `${input.channel}\n${input.sender}\n${input.mid}`
    if (dedupKey !== undefined) {
      const seen = this.#dedup.get(dedupKey)
      if (seen !== undefined && seen.expiresAt > Date.now()) return { offset: seen.offset, duplicate: true }
    }
    const offset = this.#nextOffset()
    const frame = `${input.framePrefix}${offset}"}`
    let entries = this.#history.get(input.channel)
    if (entries === undefined) {
      entries = []
      this.#history.set(input.channel, entries)
    }
    entries.push({ offset, frame })
    if (entries.length > this.#limits.historySize) entries.splice(0, entries.length - this.#limits.historySize)
    if (dedupKey !== undefined) this.#dedup.set(dedupKey, { offset, expiresAt: Date.now() + this.#limits.dedupWindowMs })
    this.#listeners.dispatch(input.channel, frame)
    return { offset, duplicate: false }
  }

  async subscribe (channel: string, handler: MessageHandler): Promise<void> {
    this.#listeners.add(channel, handler)
  }

  async unsubscribe (channel: string, handler: MessageHandler): Promise<void> {
    this.#listeners.remove(channel, handler)
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    clearInterval(this.#sweeper)
  }

  #statuses (): ServerStatus[] {
    const ids = new Set([...this.#load.keys(), ...this.#servers.keys()])
    const list: ServerStatus[] = []
    for (const id of ids) {
      const record = this.#servers.get(id)
      list.push({
        id,
        url: record?.url ?? '',
        capacity: record?.capacity ?? 0,
        draining: record?.draining ?? false,
        startedAt: record?.startedAt ?? 0,
        load: this.#load.get(id) ?? 0,
        lastHeartbeat: this.#alive.get(id) ?? null
      })
    }
    return list.sort((a, b) => a.load - b.load || (a.id < b.id ? -1 : 1))
  }

  #nextOffset (): string {
    const now = Date.now()
    if (now > this.#lastMs) {
      this.#lastMs = now
      this.#seq = 0
    } else {
      this.#seq++
    }
    return `${this.#lastMs}-${this.#seq}`
  }

  #sweepDedup (): void {
    const now = Date.now()
    for (const [key, value] of this.#dedup) if (value.expiresAt <= now) this.#dedup.delete(key)
  }
}
