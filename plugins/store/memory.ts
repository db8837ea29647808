/**
 * The in-memory store: the same semantics as the Redis store inside one
 * process, for `switchboard standalone` and for apps that embed the plugins on
 * a single node. Pub/sub is synchronous dispatch; history ids have the Redis
 * stream shape (`<ms>-<seq>`), so offsets compare the same way.
 */
import { newEpoch } from './epoch.js'
import { ChannelListeners } from './channel-listeners.js'
import { DEFAULT_LIMITS, RESERVATION_GRACE_MS, WHOLE_PAGE, compareOffsets } from './types.js'
import type {
  AppendInput, AppendResult, ComponentRecord, ComponentRole, ComponentStatus, HeartbeatReply, HistorySpan, MessageHandler, PageLimits, Position, ReadRange, Recovery,
  ServerRecord, ServerStatus, Store, StoreLimits
} from './types.js'

interface Entry { readonly offset: string, readonly frame: string }
interface History {
  readonly epoch: string
  entries: Entry[]
  top: string
  /** newest offset removed by trimming */
  trimmed: string
  expiresAt: number
}

export class MemoryStore implements Store {
  readonly kind = 'memory'
  readonly #limits: StoreLimits
  readonly #servers = new Map<string, ServerRecord>()
  readonly #load = new Map<string, number>()
  readonly #alive = new Map<string, number>()
  /** server → connections at its last heartbeat */
  readonly #connections = new Map<string, number>()
  /** servers an admin asked to drain */
  readonly #drainRequests = new Set<string>()
  /** role → id → status, and when each is forgotten */
  readonly #components = new Map<ComponentRole, Map<string, { status: ComponentStatus, expiresAt: number }>>()
  /** server → reservation nonce → expiry */
  readonly #reservations = new Map<string, Map<string, number>>()
  readonly #history = new Map<string, History>()
  readonly #dedup = new Map<string, { offset: string, expiresAt: number }>()
  readonly #members = new Map<string, Set<string>>()
  readonly #rooms = new Map<string, Set<string>>()
  /** channel → user → servers */
  readonly #presence = new Map<string, Map<string, Set<string>>>()
  readonly #listeners = new ChannelListeners()
  readonly #sweeper: NodeJS.Timeout
  #lastMs = 0
  #seq = 0

  constructor (limits: Partial<StoreLimits> = {}) {
    this.#limits = { ...DEFAULT_LIMITS, ...limits }
    this.#sweeper = setInterval(() => this.#sweep(), 30_000).unref()
  }

  // Fleet -------------------------------------------------------------------

  async heartbeat (server: ServerRecord, connections: number): Promise<HeartbeatReply> {
    const readmitted = !this.#alive.has(server.id)
    const rate = server.messagesPerSecond ?? this.#servers.get(server.id)?.messagesPerSecond
    this.#servers.set(server.id, { ...server, ...(rate !== undefined ? { messagesPerSecond: rate } : {}) })
    this.#connections.set(server.id, connections)
    this.#load.set(server.id, connections + this.#liveReservations(server.id))
    this.#alive.set(server.id, Date.now())
    return { readmitted, drainRequested: this.#drainRequests.has(server.id) }
  }

  async requestDrain (id: string): Promise<boolean> {
    if (!this.#servers.has(id)) return false
    this.#drainRequests.add(id)
    return true
  }

  async deregister (id: string): Promise<void> {
    this.#servers.delete(id)
    this.#connections.delete(id)
    this.#drainRequests.delete(id)
    this.#load.delete(id)
    this.#alive.delete(id)
    this.#reservations.delete(id)
  }

  async adjustLoad (id: string, delta: number): Promise<void> {
    const load = this.#load.get(id)
    if (load !== undefined) this.#load.set(id, load + delta)
  }

  async reserve (aliveWithinMs: number, nonce: string, expiresAt: number, exclude?: string): Promise<ServerStatus | null> {
    const now = Date.now()
    for (const status of this.#statuses()) {
      if (status.id === exclude || status.lastHeartbeat === null || status.lastHeartbeat < now - aliveWithinMs) continue
      if (status.draining || status.load >= status.capacity || status.url === '') continue
      this.#load.set(status.id, status.load + 1)
      let reservations = this.#reservations.get(status.id)
      if (reservations === undefined) this.#reservations.set(status.id, reservations = new Map())
      reservations.set(nonce, expiresAt)
      return status
    }
    return null
  }

  async claim (serverId: string, nonce: string): Promise<boolean> {
    return this.#reservations.get(serverId)?.delete(nonce) ?? false
  }

  async listServers (): Promise<ServerStatus[]> {
    return this.#statuses()
  }

  async evictStale (timeoutMs: number): Promise<string[]> {
    const oldest = Date.now() - timeoutMs
    const evicted = [...new Set([...this.#load.keys(), ...this.#alive.keys()])]
      .filter((id) => (this.#alive.get(id) ?? 0) < oldest)
    for (const id of evicted) await this.deregister(id)
    return evicted
  }

  async dropPresence (serverId: string): Promise<Array<{ channel: string, user: string, gone: boolean }>> {
    const dropped: Array<{ channel: string, user: string, gone: boolean }> = []
    for (const [channel, users] of this.#presence) {
      for (const [user, servers] of users) {
        if (!servers.delete(serverId)) continue
        if (servers.size === 0) users.delete(user)
        dropped.push({ channel, user, gone: ![...servers].some((s) => this.#isAlive(s)) })
      }
      if (users.size === 0) this.#presence.delete(channel)
    }
    return dropped
  }

  // Channels ------------------------------------------------------------------

  async append (input: AppendInput): Promise<AppendResult> {
    if (input.requireMember === true && !this.#isMember(input.channel.slice('room:'.length), input.sender)) return { status: 'forbidden' }
    const dedupKey = input.mid === undefined ? undefined : `${input.channel}\n${input.sender}\n${input.mid}`
    if (dedupKey !== undefined) {
      const seen = this.#dedup.get(dedupKey)
      if (seen !== undefined && seen.expiresAt > Date.now()) return { status: 'duplicate', offset: seen.offset }
    }
    const history = this.#channel(input.channel)
    const offset = this.#nextOffset()
    const frame = `${input.framePrefix}${offset}"}`
    history.entries.push({ offset, frame })
    history.top = offset
    history.expiresAt = Date.now() + this.#limits.historyTtlMs
    const { historySize } = this.#limits
    if (history.entries.length > historySize + Math.max(1, Math.floor(historySize / 10))) {
      const removed = history.entries.splice(0, history.entries.length - historySize)
      history.trimmed = removed[removed.length - 1]?.offset ?? history.trimmed
    }
    if (dedupKey !== undefined) this.#dedup.set(dedupKey, { offset, expiresAt: Date.now() + this.#limits.dedupWindowMs })
    this.#listeners.dispatch(input.channel, frame)
    if (input.copy !== undefined) await this.append({ channel: input.copy.channel, framePrefix: input.copy.framePrefix, sender: input.sender, mid: input.mid })
    return { status: 'appended', offset }
  }

  async publishEvent (channel: string, frame: string): Promise<void> {
    this.#listeners.dispatch(channel, frame)
  }

  async position (channel: string): Promise<Position> {
    const { epoch, top } = this.#channel(channel)
    return { epoch, offset: top }
  }

  async recover (channel: string, since: Position, page: PageLimits = WHOLE_PAGE): Promise<Recovery> {
    const history = this.#channel(channel)
    const position = { epoch: history.epoch, offset: history.top }
    if (since.epoch !== history.epoch || compareOffsets(since.offset, history.trimmed) < 0 || compareOffsets(since.offset, history.top) > 0) {
      return { ...position, recovered: false, messages: [] }
    }
    return { ...position, recovered: true, messages: pageOf(history.entries, since.offset, history.top, page) }
  }

  async read (channel: string, range: ReadRange, page: PageLimits): Promise<string[] | null> {
    const history = this.#live(channel)
    if (range.epoch !== undefined && (history === undefined || history.epoch !== range.epoch || compareOffsets(range.after, history.trimmed) < 0)) return null
    return pageOf(history?.entries ?? [], range.after, range.upTo, page)
  }

  async historySpan (channel: string, before: string | undefined, limit: number, page: PageLimits): Promise<HistorySpan | undefined> {
    const entries = this.#live(channel)?.entries ?? []
    const end = before === undefined ? entries.length : entries.findIndex((e) => compareOffsets(e.offset, before) >= 0)
    const upToIndex = (end < 0 ? entries.length : end) - 1
    const upTo = entries[upToIndex]?.offset
    if (upTo === undefined) return undefined
    const start = Math.max(0, upToIndex + 1 - limit)
    const after = entries[start - 1]?.offset ?? '0-0'
    const frames = entries.slice(start, upToIndex + 1).map((e) => e.frame)
    const fits = frames.length === 1 || frames.reduce((bytes, frame) => bytes + frame.length, 0) <= page.maxBytes
    return fits ? { after, upTo, messages: frames } : { after, upTo }
  }

  async history (channel: string, before: string | undefined, limit: number): Promise<string[]> {
    const entries = this.#live(channel)?.entries ?? []
    const older = before === undefined ? entries : entries.filter((e) => compareOffsets(e.offset, before) < 0)
    return older.slice(-limit).map((e) => e.frame)
  }

  async subscribe (channel: string, handler: MessageHandler): Promise<void> {
    this.#listeners.add(channel, handler)
  }

  async resubscribe (): Promise<void> {}

  /** In one process, dispatch cannot be interrupted. */
  onRelayGap (_listener: () => void): () => void {
    return () => {}
  }

  async unsubscribe (channel: string, handler: MessageHandler): Promise<void> {
    this.#listeners.remove(channel, handler)
  }

  // Rooms ---------------------------------------------------------------------

  async join (room: string, user: string): Promise<void> {
    setOf(this.#members, room).add(user)
    setOf(this.#rooms, user).add(room)
  }

  async leave (room: string, user: string): Promise<void> {
    this.#members.get(room)?.delete(user)
    this.#rooms.get(user)?.delete(room)
  }

  async isMember (room: string, user: string): Promise<boolean> {
    return this.#isMember(room, user)
  }

  async roomsOf (user: string): Promise<string[]> {
    return [...this.#rooms.get(user) ?? []].sort()
  }

  async members (room: string): Promise<string[]> {
    return [...this.#members.get(room) ?? []].sort()
  }

  // Presence ------------------------------------------------------------------

  async presenceAdd (channel: string, user: string, server: string, event: string): Promise<boolean> {
    let users = this.#presence.get(channel)
    if (users === undefined) {
      users = new Map()
      this.#presence.set(channel, users)
    }
    const servers = setOf(users, user)
    const first = ![...servers].some((s) => s !== server && this.#isAlive(s))
    servers.add(server)
    if (!first || event === '') return false
    this.#listeners.dispatch(channel, event)
    return true
  }

  async presenceRemove (channel: string, user: string, server: string, event: string): Promise<boolean> {
    const users = this.#presence.get(channel)
    const servers = users?.get(user)
    if (users === undefined || servers === undefined || !servers.delete(server)) return false
    if (servers.size === 0) users.delete(user)
    if (users.size === 0) this.#presence.delete(channel)
    if ([...servers].some((s) => this.#isAlive(s)) || event === '') return false
    this.#listeners.dispatch(channel, event)
    return true
  }

  async presence (channel: string): Promise<string[]> {
    const users = this.#presence.get(channel)
    if (users === undefined) return []
    return [...users].filter(([, servers]) => [...servers].some((s) => this.#isAlive(s))).map(([user]) => user).sort()
  }

  // Other components ----------------------------------------------------------

  async announce (component: ComponentRecord, ttlMs: number): Promise<void> {
    let byId = this.#components.get(component.role)
    if (byId === undefined) this.#components.set(component.role, byId = new Map())
    const now = Date.now()
    byId.set(component.id, { status: { ...component, details: { ...component.details }, lastSeen: now }, expiresAt: now + ttlMs })
  }

  async components (role: ComponentRole): Promise<ComponentStatus[]> {
    const byId = this.#components.get(role)
    if (byId === undefined) return []
    const now = Date.now()
    for (const [id, entry] of byId) if (entry.expiresAt <= now) byId.delete(id)
    return [...byId.values()].map((entry) => entry.status).sort((a, b) => a.id < b.id ? -1 : 1)
  }

  async retire (role: ComponentRole, id: string): Promise<void> {
    this.#components.get(role)?.delete(id)
  }

  async clock (): Promise<number> {
    return Date.now()
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    clearInterval(this.#sweeper)
  }

  // Internals -----------------------------------------------------------------

  #isMember (room: string, user: string): boolean {
    return this.#members.get(room)?.has(user) ?? false
  }

  /** Drops expired reservations of a server and counts the rest. */
  #liveReservations (server: string): number {
    const reservations = this.#reservations.get(server)
    if (reservations === undefined) return 0
    const oldest = Date.now() - RESERVATION_GRACE_MS
    for (const [nonce, expiresAt] of reservations) if (expiresAt < oldest) reservations.delete(nonce)
    return reservations.size
  }

  #isAlive (server: string): boolean {
    const beat = this.#alive.get(server)
    return beat !== undefined && beat >= Date.now() - this.#limits.aliveWithinMs
  }

  /** The channel's history if it has not expired. */
  #live (channel: string): History | undefined {
    const history = this.#history.get(channel)
    if (history !== undefined && history.expiresAt <= Date.now()) {
      this.#history.delete(channel)
      return undefined
    }
    return history
  }

  /** The channel's history, created (with a new epoch) if missing or expired. */
  #channel (channel: string): History {
    let history = this.#live(channel)
    if (history === undefined) {
      history = { epoch: newEpoch(), entries: [], top: '0-0', trimmed: '0-0', expiresAt: Date.now() + this.#limits.historyTtlMs }
      this.#history.set(channel, history)
    }
    return history
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
        lastHeartbeat: this.#alive.get(id) ?? null,
        ...(this.#connections.has(id) ? { connections: this.#connections.get(id) } : {}),
        ...(record?.messagesPerSecond !== undefined ? { messagesPerSecond: record.messagesPerSecond } : {}),
        drainRequested: this.#drainRequests.has(id)
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

  #sweep (): void {
    const now = Date.now()
    for (const [key, value] of this.#dedup) if (value.expiresAt <= now) this.#dedup.delete(key)
    for (const [key, value] of this.#history) if (value.expiresAt <= now) this.#history.delete(key)
  }
}

function setOf<K, V> (map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key)
  if (set === undefined) {
    set = new Set()
    map.set(key, set)
  }
  return set
}

/** Frames after `after` up to `upTo`, oldest first, within `page` (at least one). */
function pageOf (entries: Entry[], after: string, upTo: string, page: PageLimits): string[] {
  const out: string[] = []
  let bytes = 0
  for (const entry of entries) {
    if (compareOffsets(entry.offset, after) <= 0) continue
    if (compareOffsets(entry.offset, upTo) > 0 || out.length >= page.limit) break
    if (out.length > 0 && bytes + entry.frame.length > page.maxBytes) break
    out.push(entry.frame)
    bytes += entry.frame.length
  }
  return out
}
