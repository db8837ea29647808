/**
 * The in-memory store: the same semantics as the Redis store inside one
 * process, for `switchboard standalone` and for apps that embed the plugins on
 * a single node. Pub/sub is synchronous dispatch; history ids have the Redis
 * stream shape (`<ms>-<seq>`), so offsets compare the same way.
 */
import { newEpoch } from './epoch.js'
import { ChannelListeners } from './channel-listeners.js'
import { MemoryReads, byRecency } from './memory-reads.js'
import { MemoryRooms } from './memory-rooms.js'
import { amendmentMid, eventFrame, finishFrame, rewriteData, senderHead } from './message-frame.js'
import { AMEND_MAX_BYTES, AMEND_WINDOW, STREAM_NODE_ENTRIES } from './amend-script.js'
import { NO_HISTORY, RESERVATION_GRACE_MS, WHOLE_PAGE, compareOffsets, holdOf, resolveStoreLimits } from './types.js'
import type {
  AmendInput, AmendResult, AppendInput, AppendResult, ComponentRecord, ComponentRole, ComponentStatus, ConversationCursor, ConversationEntry, HeartbeatReply, HistorySpan, ListOptions, MessageHandler,
  JoinOutcome, Moderation, ModerationOutcome, PageLimits, Position, QuotaBudget, RateCount, ReadMark, ReadRange, Receipt, Recovery, RoomInfo, RoomMember, RoomRole, ReserveRequest, ReserveResult, ServerRecord, ServerStatus, Store, StoreLimits, StoredFrame, LiveFrame, RelayGapListener
} from './types.js'
import { readCreatesHistory, userChannel } from '../names.js'

type Entry = StoredFrame
interface History {
  readonly epoch: string
  entries: Entry[]
  top: string
  /** newest offset removed by trimming */
  trimmed: string
  expiresAt: number
  /** messages stored in this epoch, and of them each sender's (unread counts, memory-reads.ts) */
  count: number
  readonly counts: Map<string, number>
  /** the newest message's offset (not an amendment's: `top` is the newest entry's) */
  last: string
  /** amendments (offset → the offset they amend) and deleted messages, among `entries` */
  readonly amendments: Map<string, string>
  readonly deleted: Set<string>
}

/** What one sender's messages made the store keep in the current quota window. */
interface QuotaUse {
  readonly endsAt: number
  messages: number
  bytes: number
  readonly channels: Set<string>
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
  /** user → hold (`server|nonce`) → expiry of an unused reservation, or 0 for an open connection */
  readonly #holds = new Map<string, Map<string, number>>()
  /** rate-limit bucket → requests in the window, and when the window ends */
  readonly #rates = new Map<string, { count: number, resetAt: number }>()
  readonly #history = new Map<string, History>()
  readonly #dedup = new Map<string, { offset: string, expiresAt: number }>()
  readonly #members = new Map<string, Set<string>>()
  readonly #rooms = new Map<string, Set<string>>()
  /** user → the users they blocked */
  readonly #blocks = new Map<string, Set<string>>()
  /** user → conversation → when it last had a message */
  readonly #conversations = new Map<string, Map<string, number>>()
  readonly #quotas = new Map<string, QuotaUse>()
  /** channel → user → servers */
  readonly #presence = new Map<string, Map<string, Set<string>>>()
  readonly #listeners = new ChannelListeners()
  /** read positions, receipts and the conversation list */
  readonly #reads: MemoryReads
  /** rooms' owners, roles, bans, mutes, invitations and settings */
  readonly #governance = new MemoryRooms({
    members: (room) => this.#members.get(room) ?? new Set(),
    add: (room, user) => {
      setOf(this.#members, room).add(user)
      setOf(this.#rooms, user).add(room)
    },
    remove: (room, user) => {
      this.#members.get(room)?.delete(user)
      this.#rooms.get(user)?.delete(room)
    }
  })

  readonly #sweeper: NodeJS.Timeout
  #lastMs = 0
  #seq = 0

  constructor (limits: Partial<StoreLimits> = {}) {
    this.#limits = resolveStoreLimits(limits)
    this.#reads = new MemoryReads({
      history: (channel) => this.#live(channel),
      roomsOf: (user) => this.#rooms.get(user) ?? [],
      memberCount: (room) => this.#members.get(room)?.size ?? 0,
      isMember: (room, user) => this.#isMember(room, user),
      directOf: (user) => {
        const oldest = Date.now() - this.#limits.historyTtlMs
        return [...this.#conversations.get(user) ?? []].filter(([, at]) => at > oldest).sort(byRecency)
      }
    }, this.#limits)
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

  async reserve (request: ReserveRequest): Promise<ReserveResult> {
    const { budget, user } = request
    if (budget !== undefined && budget.rateMax > 0) {
      const { count, resetInMs } = this.#hit(`allocate:user:${user}`, budget.rateWindowMs)
      if (count > budget.rateMax) return { status: 'rate_limited', retryAfterMs: resetInMs }
    }
    if (budget !== undefined && budget.maxHolds > 0) {
      const { count, retryAfterMs } = this.#holdsOf(user)
      if (count >= budget.maxHolds) return { status: 'over_cap', retryAfterMs }
    }
    const now = Date.now()
    let fallback: ServerStatus | undefined
    for (const status of this.#statuses()) {
      if (status.id === request.exclude || status.lastHeartbeat === null || status.lastHeartbeat < now - request.aliveWithinMs) continue
      if (status.draining || status.load >= status.capacity || status.url === '') continue
      if (status.id === request.avoid) {
        fallback = status
        continue
      }
      return this.#reserveOn(status, request)
    }
    return fallback === undefined ? { status: 'no_capacity' } : this.#reserveOn(fallback, request)
  }

  #reserveOn (status: ServerStatus, request: ReserveRequest): ReserveResult {
    this.#load.set(status.id, status.load + 1)
    let reservations = this.#reservations.get(status.id)
    if (reservations === undefined) this.#reservations.set(status.id, reservations = new Map())
    reservations.set(request.nonce, request.expiresAt)
    mapOf(this.#holds, request.user).set(holdOf(status.id, request.nonce), request.expiresAt)
    return { status: 'reserved', server: status }
  }

  async claim (serverId: string, nonce: string, user: string): Promise<boolean> {
    if (this.#reservations.get(serverId)?.delete(nonce) !== true) return false
    mapOf(this.#holds, user).set(holdOf(serverId, nonce), 0)
    return true
  }

  async release (serverId: string, nonce: string, user: string): Promise<void> {
    const holds = this.#holds.get(user)
    holds?.delete(holdOf(serverId, nonce))
    if (holds?.size === 0) this.#holds.delete(user)
    await this.adjustLoad(serverId, -1)
  }

  async rateHit (bucket: string, windowMs: number): Promise<RateCount> {
    return this.#hit(bucket, windowMs)
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
    const { refused, dedupKey } = this.#admit(input)
    if (refused !== undefined) return refused
    const history = this.#channel(input.channel)
    const offset = this.#store(history, input, dedupKey)
    history.count++
    history.counts.set(input.sender, (history.counts.get(input.sender) ?? 0) + 1)
    history.last = offset
    this.#trim(history)
    return { status: 'appended', offset }
  }

  /** What is checked before a message or an amendment is stored: membership, a repeated mid, the sender's quota. */
  #admit (input: AppendInput | AmendInput): { refused?: AppendResult, dedupKey?: string } {
    if (input.requireMember === true) {
      const room = input.channel.slice('room:'.length)
      if (!this.#isMember(room, input.sender)) return { refused: { status: 'forbidden' } }
      if (this.#governance.isMuted(room, input.sender)) return { refused: { status: 'muted' } }
    }
    const mid = input.mid === undefined ? undefined : 'target' in input ? amendmentMid(input.mid) : input.mid
    const dedupKey = mid === undefined ? undefined : `${input.channel}\n${input.sender}\n${mid}`
    if (dedupKey !== undefined) {
      const seen = this.#dedup.get(dedupKey)
      if (seen !== undefined && seen.expiresAt > Date.now()) return { refused: { status: 'duplicate', offset: seen.offset } }
    }
    if (input.recipient !== undefined && this.#blocked(input.sender, input.recipient)) return { refused: { status: 'blocked' } }
    const refused = this.#charge(input.sender, input.channel, input.framePrefix.length)
    return refused !== undefined ? { refused } : dedupKey === undefined ? {} : { dedupKey }
  }

  /** Stores a frame after the channel's newest and delivers it live; its offset. */
  #store (history: History, input: AppendInput | AmendInput, dedupKey: string | undefined): string {
    const offset = this.#nextOffset()
    const prev = history.top
    const text = finishFrame(input.framePrefix, history.epoch, prev, offset)
    history.entries.push({ offset, text })
    history.top = offset
    history.expiresAt = Date.now() + this.#limits.historyTtlMs
    if (dedupKey !== undefined) this.#dedup.set(dedupKey, { offset, expiresAt: Date.now() + this.#limits.dedupWindowMs })
    const frame: LiveFrame = { channel: input.channel, offset, epoch: history.epoch, prev, text }
    if (input.participants === undefined) {
      this.#listeners.dispatch(input.channel, frame)
    } else {
      for (const user of input.participants) {
        this.#touch(user, input.channel, this.#lastMs)
        this.#listeners.dispatch(userChannel(user), frame)
      }
    }
    return offset
  }

  async amend (input: AmendInput): Promise<AmendResult> {
    const { refused, dedupKey } = this.#admit(input)
    if (refused !== undefined) return refused
    const history = this.#live(input.channel)
    const at = history?.entries.findIndex((e) => e.offset === input.target) ?? -1
    const target = history?.entries[at]
    if (history === undefined || target === undefined || history.amendments.has(input.target) || history.deleted.has(input.target)) return { status: 'missing' }
    if (input.anyone !== true && !target.text.startsWith(senderHead(input.channel, input.sender))) return { status: 'not_author' }
    // As on Redis (amend-script.ts): only the newest messages, and a bounded rewrite.
    const tail = history.entries.slice(Math.max(0, at - STREAM_NODE_ENTRIES + 1))
    if (history.entries.length - 1 - at > AMEND_WINDOW || tail.reduce((bytes, e) => bytes + e.text.length, 0) > AMEND_MAX_BYTES) return { status: 'too_old' }
    const offset = this.#store(history, input, dedupKey)
    history.amendments.set(offset, input.target)
    // The message itself shows its latest version (and a deleted one's text, and its edits', is gone).
    history.entries = history.entries.map((entry) => {
      if (entry.offset === input.target) {
        return { offset: entry.offset, text: input.kind === 'delete' ? rewriteData(entry.text, 'null', ',"deleted":true') : rewriteData(entry.text, input.dataJson ?? 'null', `,"edited":${input.at}`) }
      }
      if (input.kind === 'delete' && entry.offset !== offset && history.amendments.get(entry.offset) === input.target) {
        return { offset: entry.offset, text: rewriteData(entry.text.replace('"edit":"', '"delete":"'), 'null', '') }
      }
      return entry
    })
    if (input.kind === 'delete') history.deleted.add(input.target)
    this.#trim(history)
    return { status: 'appended', offset }
  }

  /** Trims a history as the stores do: once it holds more than historySize + 10%, down to historySize. */
  #trim (history: History): void {
    const { historySize } = this.#limits
    if (history.entries.length <= historySize + Math.max(1, Math.floor(historySize / 10))) return
    const removed = history.entries.splice(0, history.entries.length - historySize)
    history.trimmed = removed[removed.length - 1]?.offset ?? history.trimmed
    for (const gone of removed) {
      history.amendments.delete(gone.offset)
      history.deleted.delete(gone.offset)
    }
  }

  /** Counts a message to its sender's quota window, or says which budget it would go over. */
  #charge (sender: string, channel: string, bytes: number): AppendResult | undefined {
    const { quotaWindowMs, quotaMessages, quotaBytes, quotaChannels } = this.#limits
    if (quotaWindowMs <= 0) return undefined
    const now = Date.now()
    let use = this.#quotas.get(sender)
    if (use === undefined || use.endsAt <= now) {
      use = { endsAt: now + quotaWindowMs, messages: 0, bytes: 0, channels: new Set() }
      this.#quotas.set(sender, use)
    }
    const over: QuotaBudget | undefined = quotaMessages > 0 && use.messages + 1 > quotaMessages
      ? 'messages'
      : quotaBytes > 0 && use.bytes + bytes > quotaBytes
        ? 'bytes'
        : quotaChannels > 0 && !use.channels.has(channel) && use.channels.size >= quotaChannels ? 'channels' : undefined
    if (over !== undefined) return { status: 'quota', budget: over, retryAfterMs: use.endsAt - now }
    use.messages++
    use.bytes += bytes
    if (quotaChannels > 0) use.channels.add(channel)
    return undefined
  }

  /** A conversation moved to the top of a user's list (never back), the oldest beyond maxConversations dropped. */
  #touch (user: string, channel: string, at: number): void {
    let list = this.#conversations.get(user)
    if (list === undefined) this.#conversations.set(user, list = new Map())
    list.set(channel, Math.max(at, list.get(channel) ?? 0))
    if (list.size <= this.#limits.maxConversations) return
    const oldest = [...list].sort(byRecency).slice(this.#limits.maxConversations)
    for (const [gone] of oldest) list.delete(gone)
  }

  async publishEvent (channel: string, frame: string): Promise<void> {
    this.#listeners.dispatch(channel, eventFrame(channel, frame))
  }

  async position (channel: string): Promise<Position> {
    const history = this.#read(channel)
    return history === undefined ? { epoch: NO_HISTORY, offset: '0-0' } : { epoch: history.epoch, offset: history.top }
  }

  async recover (channel: string, since: Position, page: PageLimits = WHOLE_PAGE): Promise<Recovery> {
    const history = this.#read(channel)
    if (history === undefined) return { epoch: NO_HISTORY, offset: '0-0', recovered: since.epoch === NO_HISTORY, messages: [] }
    const position = { epoch: history.epoch, offset: history.top }
    const sameEpoch = since.epoch === history.epoch || (since.epoch === NO_HISTORY && history.trimmed === '0-0')
    if (!sameEpoch || compareOffsets(since.offset, history.trimmed) < 0 || compareOffsets(since.offset, history.top) > 0) {
      return { ...position, recovered: false, messages: [] }
    }
    return { ...position, recovered: true, messages: pageOf(history.entries, since.offset, history.top, page) }
  }

  async read (channel: string, range: ReadRange, page: PageLimits): Promise<StoredFrame[] | null> {
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
    const frames = entries.slice(start, upToIndex + 1)
    const fits = frames.length === 1 || frames.reduce((bytes, frame) => bytes + frame.text.length, 0) <= page.maxBytes
    return fits ? { after, upTo, messages: frames } : { after, upTo }
  }

  async history (channel: string, before: string | undefined, limit: number): Promise<StoredFrame[]> {
    const entries = this.#live(channel)?.entries ?? []
    const older = before === undefined ? entries : entries.filter((e) => compareOffsets(e.offset, before) < 0)
    return older.slice(-limit)
  }

  async subscribe (channel: string, handler: MessageHandler): Promise<void> {
    this.#listeners.add(channel, handler)
  }

  async resubscribe (): Promise<void> {}

  /** In one process, dispatch cannot be interrupted. */
  onRelayGap (_listener: RelayGapListener): () => void {
    return () => {}
  }

  async unsubscribe (channel: string, handler: MessageHandler): Promise<void> {
    this.#listeners.remove(channel, handler)
  }

  // Conversations -------------------------------------------------------------

  async conversations (user: string, cursor: ConversationCursor | undefined, limit: number, options: ListOptions = {}): Promise<ConversationEntry[]> {
    return this.#reads.conversations(user, cursor, limit, Date.now(), options.rooms ?? true)
  }

  async markRead (user: string, channel: string, offset: string, initial = false): Promise<ReadMark | undefined> {
    return this.#reads.markRead(user, channel, offset, initial, Date.now())
  }

  async receipts (channel: string): Promise<Receipt[]> {
    return this.#reads.receipts(channel)
  }

  // Rooms ---------------------------------------------------------------------

  async setBlock (user: string, other: string, blocked: boolean): Promise<'changed' | 'unchanged' | 'limit'> {
    const mine = setOf(this.#blocks, user)
    if (blocked) {
      if (mine.has(other)) return 'unchanged'
      if (mine.size >= this.#limits.maxBlocks) return 'limit'
      mine.add(other)
      return 'changed'
    }
    const changed = mine.delete(other)
    if (mine.size === 0) this.#blocks.delete(user)
    return changed ? 'changed' : 'unchanged'
  }

  async blocks (user: string): Promise<{ blocked: string[], blockedBy: string[] }> {
    const blockedBy: string[] = []
    for (const [by, set] of this.#blocks) if (set.has(user)) blockedBy.push(by)
    return { blocked: [...this.#blocks.get(user) ?? []].sort(), blockedBy: blockedBy.sort() }
  }

  async blockedBetween (a: string, b: string): Promise<boolean> {
    return this.#blocked(a, b)
  }

  #blocked (a: string, b: string): boolean {
    return this.#blocks.get(a)?.has(b) === true || this.#blocks.get(b)?.has(a) === true
  }

  async join (room: string, user: string): Promise<boolean> {
    return this.#enter(room, user, false) === 'joined'
  }

  async enter (room: string, user: string): Promise<JoinOutcome> {
    return this.#enter(room, user, true)
  }

  #enter (room: string, user: string, rules: boolean): JoinOutcome {
    const rooms = setOf(this.#rooms, user)
    if (!rooms.has(room) && rooms.size >= this.#limits.maxRoomsPerUser) return 'limit'
    return this.#governance.enter(room, user, rules)
  }

  async roomInfo (room: string): Promise<RoomInfo> {
    return this.#governance.info(room)
  }

  async roleOf (room: string, user: string): Promise<RoomRole | undefined> {
    return this.#governance.roleOf(room, user)
  }

  async moderate (room: string, by: string, change: Moderation): Promise<ModerationOutcome> {
    return this.#governance.moderate(room, by, change)
  }

  async memberPage (room: string, after: string | undefined, limit: number): Promise<{ members: RoomMember[], more: boolean }> {
    return this.#governance.page(room, after, limit)
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
    const added = !servers.has(server)
    servers.add(server)
    if (!added || !first || event === '') return false
    this.#listeners.dispatch(channel, eventFrame(channel, event))
    return true
  }

  async presenceRemove (channel: string, user: string, server: string, event: string): Promise<boolean> {
    const users = this.#presence.get(channel)
    const servers = users?.get(user)
    if (users === undefined || servers === undefined || !servers.delete(server)) return false
    if (servers.size === 0) users.delete(user)
    if (users.size === 0) this.#presence.delete(channel)
    if ([...servers].some((s) => this.#isAlive(s)) || event === '') return false
    this.#listeners.dispatch(channel, eventFrame(channel, event))
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

  #hit (bucket: string, windowMs: number): RateCount {
    const now = Date.now()
    let window = this.#rates.get(bucket)
    if (window === undefined || window.resetAt <= now) this.#rates.set(bucket, window = { count: 0, resetAt: now + windowMs })
    window.count++
    return { count: window.count, resetInMs: window.resetAt - now }
  }

  /**
   * What a user holds across the fleet: unused reservations until their expiry plus the grace,
   * connections while their server is in the fleet (as RESERVE_BATCH counts them); the rest is forgotten.
   */
  #holdsOf (user: string): { count: number, retryAfterMs: number } {
    const holds = this.#holds.get(user)
    if (holds === undefined) return { count: 0, retryAfterMs: 0 }
    const now = Date.now()
    let oldest = Infinity
    for (const [hold, expiresAt] of holds) {
      const server = hold.slice(0, hold.indexOf('|'))
      if (expiresAt === 0 ? !this.#alive.has(server) : expiresAt < now - RESERVATION_GRACE_MS) holds.delete(hold)
      else if (expiresAt !== 0) oldest = Math.min(oldest, expiresAt)
    }
    if (holds.size === 0) this.#holds.delete(user)
    return { count: holds.size, retryAfterMs: oldest === Infinity ? 0 : Math.max(1, oldest + RESERVATION_GRACE_MS - now) }
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

  /** The channel's history as a reader finds it: created if missing only for a room (names.ts, readCreatesHistory). */
  #read (channel: string): History | undefined {
    return readCreatesHistory(channel) ? this.#channel(channel) : this.#live(channel)
  }

  /** The channel's history, created (with a new epoch) if missing or expired. */
  #channel (channel: string): History {
    let history = this.#live(channel)
    if (history === undefined) {
      history = { epoch: newEpoch(), entries: [], top: '0-0', trimmed: '0-0', expiresAt: Date.now() + this.#limits.historyTtlMs, count: 0, counts: new Map(), amendments: new Map(), deleted: new Set(), last: '0-0' }
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
    for (const [key, value] of this.#quotas) if (value.endsAt <= now) this.#quotas.delete(key)
    const oldest = now - this.#limits.historyTtlMs
    for (const [user, list] of this.#conversations) {
      for (const [channel, at] of list) if (at <= oldest) list.delete(channel)
      if (list.size === 0) this.#conversations.delete(user)
    }
    for (const [key, value] of this.#rates) if (value.resetAt <= now) this.#rates.delete(key)
    for (const user of this.#holds.keys()) this.#holdsOf(user)
    this.#reads.sweep(now)
  }
}

function mapOf<K, K2, V> (map: Map<K, Map<K2, V>>, key: K): Map<K2, V> {
  let inner = map.get(key)
  if (inner === undefined) {
    inner = new Map()
    map.set(key, inner)
  }
  return inner
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
function pageOf (entries: Entry[], after: string, upTo: string, page: PageLimits): StoredFrame[] {
  const out: StoredFrame[] = []
  let bytes = 0
  for (const entry of entries) {
    if (compareOffsets(entry.offset, after) <= 0) continue
    if (compareOffsets(entry.offset, upTo) > 0 || out.length >= page.limit) break
    if (out.length > 0 && bytes + entry.text.length > page.maxBytes) break
    out.push(entry)
    bytes += entry.text.length
  }
  return out
}
