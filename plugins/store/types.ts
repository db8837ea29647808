/**
 * The Store: everything Switchboard keeps outside a process. Two
 * implementations share one contract and one test suite: `RedisStore`
 * (production, many processes) and `MemoryStore` (standalone, one process).
 */

/** What a socket server says about itself on every heartbeat. */
export interface ServerRecord {
  readonly id: string
  /** the websocket URL clients are given, e.g. `ws://10.0.0.5:4000/ws` */
  readonly url: string
  /** maximum connections */
  readonly capacity: number
  readonly draining: boolean
  /** ms since epoch */
  readonly startedAt: number
  /**
   * live frames per second it received from the relay (messages and presence
   * events) since its previous heartbeat, when it reports it
   */
  readonly messagesPerSecond?: number
}

/** A server as the registry sees it. */
export interface ServerStatus extends ServerRecord {
  /** connections counted in the load set */
  readonly load: number
  /** last heartbeat, ms since epoch (store clock), or null if none recorded */
  readonly lastHeartbeat: number | null
  /** connections (and upgrades under way) at its last heartbeat, when known */
  readonly connections?: number
  /** an admin asked it to drain (`requestDrain`); it starts at its next heartbeat */
  readonly drainRequested?: boolean
}

/** What a heartbeat learns from the store. */
export interface HeartbeatReply {
  /** the server was not in the fleet (first start, or evicted while it was unreachable) */
  readonly readmitted: boolean
  /** an admin asked this server to drain */
  readonly drainRequested: boolean
}

/** Fleet components other than socket servers, listed on the admin dashboard. */
export type ComponentRole = 'registry' | 'health'

export interface ComponentRecord {
  readonly role: ComponentRole
  /** unique within its role */
  readonly id: string
  /** ms since epoch */
  readonly startedAt: number
  /** a few facts worth showing: address, pid, last sweep, evictions… */
  readonly details: Readonly<Record<string, string | number | null>>
}

export interface ComponentStatus extends ComponentRecord {
  /** its last announcement, ms since epoch (store clock) */
  readonly lastSeen: number
}

/** Receives live frames: `payload` is the exact text frame clients get. */
export type MessageHandler = (channel: string, payload: string) => void

export interface AppendInput {
  /** channel name, e.g. `user:bob` */
  readonly channel: string
  /**
   * The message frame up to its offset: the store appends the offset and the
   * closing `"}` and publishes the result, so no process parses it again.
   */
  readonly framePrefix: string
  /** sender id and client message id: a repeat of (sender, mid) is not appended again */
  readonly sender: string
  readonly mid?: string | undefined
  /** for `room:` channels: refuse unless the sender is a member (checked atomically with the append) */
  readonly requireMember?: boolean
  /**
   * Also append this frame to another channel in the same step (a direct
   * message's copy on the sender's own channel), deduplicated the same way.
   * The result is the first channel's.
   */
  readonly copy?: { readonly channel: string, readonly framePrefix: string }
}

export type AppendResult =
  | { readonly status: 'appended' | 'duplicate', readonly offset: string }
  | { readonly status: 'forbidden' }

/** Where a channel's history stands. */
export interface Position {
  /** changes whenever the channel's history is lost; offsets only compare within one epoch */
  readonly epoch: string
  /** the offset of the newest message ('0-0' when there is none) */
  readonly offset: string
}

export interface Recovery extends Position {
  /** false when the messages after `since` are no longer all in history */
  readonly recovered: boolean
  /**
   * the message frames after `since`, oldest first (empty when not recovered); with a `page`, only
   * its first page: read the rest up to `offset` with `read`
   */
  readonly messages: string[]
}

/**
 * How much one read may return, for replies sent in parts (replays, long history replies) so that
 * a connection never holds more than its budget: at most `limit` frames and no more than `maxBytes`
 * of them, but always at least one.
 */
export interface PageLimits {
  readonly limit: number
  readonly maxBytes: number
}

/** No paging: everything at once (recovery for callers that do not send in parts). */
export const WHOLE_PAGE: PageLimits = { limit: 1_000_000, maxBytes: Number.MAX_SAFE_INTEGER }

/** Messages of one channel after `after` (exclusive) up to `upTo` (inclusive). */
export interface ReadRange {
  readonly after: string
  readonly upTo: string
  /**
   * When given, the read must continue a replay of this epoch without a gap: it answers null
   * instead if the channel has another epoch now or messages after `after` were trimmed away.
   */
  readonly epoch?: string
}

/** Where the messages of a history request lie (see Store.historySpan). */
export interface HistorySpan {
  /** exclusive lower bound: the offset just before the oldest message, or '0-0' */
  readonly after: string
  /** the newest message's offset */
  readonly upTo: string
  /** all of them, oldest first, when they fit in one page; otherwise read them with `read` */
  readonly messages?: string[]
}

export interface Store {
  readonly kind: 'memory' | 'redis'

  // Fleet -------------------------------------------------------------------
  /**
   * Register or refresh a socket server: record, liveness, and its load set to
   * the true count (`connections` plus reservations not yet claimed nor expired),
   * which heals any drift. Tells whether the server was re-admitted and
   * whether an admin asked it to drain.
   */
  heartbeat (server: ServerRecord, connections: number): Promise<HeartbeatReply>
  /** Asks a socket server to drain: its next heartbeat reports it. False when the server has no record. */
  requestDrain (id: string): Promise<boolean>
  /** Remove a server from every fleet structure. */
  deregister (id: string): Promise<void>
  /** Connection accounting between heartbeats: -1 on close; a server without a load entry is left alone. */
  adjustLoad (id: string, delta: number): Promise<void>
  /**
   * Atomically picks the least-loaded server that is alive (heartbeat within
   * `aliveWithinMs`), not draining and under capacity, and counts a
   * reservation for it (`nonce`, valid until `expiresAt`), so concurrent
   * callers spread out. `exclude` is never picked.
   */
  reserve (aliveWithinMs: number, nonce: string, expiresAt: number, exclude?: string): Promise<ServerStatus | null>
  /** Uses up a reservation when its client connects; false if it was already used or never made. */
  claim (serverId: string, nonce: string): Promise<boolean>
  /** Every server with a load entry or a record, least loaded first. */
  listServers (): Promise<ServerStatus[]>
  /** Removes servers whose heartbeat is older than `timeoutMs` (idempotent; several checkers may run). Returns their ids. */
  evictStale (timeoutMs: number): Promise<string[]>
  /**
   * Removes a server's presence entries. Returns each (channel, user) removed,
   * with `gone` true when no live server still has that user on the channel.
   */
  dropPresence (serverId: string): Promise<Array<{ channel: string, user: string, gone: boolean }>>

  // Channels ------------------------------------------------------------------
  /** Append to a channel's history and publish it live, in one atomic step. */
  append (input: AppendInput): Promise<AppendResult>
  /** Publish a frame live without keeping it in history (presence events). */
  publishEvent (channel: string, frame: string): Promise<void>
  /** The channel's epoch and newest offset (creating the epoch if the channel has none). */
  position (channel: string): Promise<Position>
  /** Everything after `since` (with `page`: its first page), if history still holds all of it. */
  recover (channel: string, since: Position, page?: PageLimits): Promise<Recovery>
  /** Up to `limit` message frames older than `before` (newest when absent), oldest first. Nothing is older than '0-0'. */
  history (channel: string, before: string | undefined, limit: number): Promise<string[]>
  /**
   * The `limit` newest messages older than `before` (newest when absent): their bounds, and the
   * frames themselves when they fit in `page.maxBytes`. Undefined when there are none.
   */
  historySpan (channel: string, before: string | undefined, limit: number, page: PageLimits): Promise<HistorySpan | undefined>
  /** One page of a range, oldest first; null only when `range.epoch` is given and the range has a gap. */
  read (channel: string, range: ReadRange, page: PageLimits): Promise<string[] | null>
  /** Start receiving a channel's live frames. Resolves once the subscription is active. */
  subscribe (channel: string, handler: MessageHandler): Promise<void>
  unsubscribe (channel: string, handler: MessageHandler): Promise<void>
  /** Subscribes again to every channel with handlers (after the relay was found deaf). */
  resubscribe (): Promise<void>
  /**
   * Calls `listener` when live delivery had a gap: the subscriber connection
   * was lost and re-established (a Redis failover, a killed connection), so
   * frames published meanwhile never arrived. Returns a function that removes it.
   */
  onRelayGap (listener: () => void): () => void

  // Rooms ---------------------------------------------------------------------
  join (room: string, user: string): Promise<void>
  leave (room: string, user: string): Promise<void>
  isMember (room: string, user: string): Promise<boolean>
  roomsOf (user: string): Promise<string[]>
  members (room: string): Promise<string[]>

  // Presence ------------------------------------------------------------------
  /**
   * Record that `user` has a connection on `server` listening to `channel`.
   * When no other live server already had one, `event` is published live on
   * the channel (the user came online there); '' publishes nothing. Returns whether it was published.
   */
  presenceAdd (channel: string, user: string, server: string, event: string): Promise<boolean>
  /** The reverse: when no live server still has the user, `event` (they left) is published. */
  presenceRemove (channel: string, user: string, server: string, event: string): Promise<boolean>
  /** Users with a connection listening to `channel` on a server whose heartbeat is within `aliveWithinMs`. */
  presence (channel: string): Promise<string[]>

  // Other components ----------------------------------------------------------
  /** Records that a registry or health checker is alive, with its details; forgotten `ttlMs` after its last announcement. */
  announce (component: ComponentRecord, ttlMs: number): Promise<void>
  /** The components of a role not yet forgotten, by id. */
  components (role: ComponentRole): Promise<ComponentStatus[]>
  /** Forgets a component at once (on a clean shutdown). */
  retire (role: ComponentRole, id: string): Promise<void>
  /** The store's clock, ms since epoch: heartbeat and last-seen times are on it. */
  clock (): Promise<number>

  /** Resolves when the backend answers. */
  ping (): Promise<void>
  /** Release what the store created (not the Redis clients it was given). */
  close (): Promise<void>
}

export interface StoreLimits {
  /** maximum messages kept per channel history (trimmed in steps of ~10%) */
  readonly historySize: number
  /** a channel's history is dropped when no message was added for this long, ms */
  readonly historyTtlMs: number
  /** how long a (sender, mid) pair is remembered, ms */
  readonly dedupWindowMs: number
  /** presence counts a server as gone when its heartbeat is older than this, ms */
  readonly aliveWithinMs: number
  /**
   * Redis only: replicas that must have a message before it is acknowledged
   * (WAIT after the append; 0 = asynchronous replication, the default).
   */
  readonly waitReplicas: number
  /** how long WAIT may take before the append counts as failed (the client resends), ms */
  readonly waitTimeoutMs: number
}

/** Reservations are kept this long past their expiry before cleanup (clock skew between machines). */
export const RESERVATION_GRACE_MS = 5000

export const DEFAULT_LIMITS: StoreLimits = {
  historySize: 1000,
  historyTtlMs: 24 * 3600_000,
  dedupWindowMs: 10 * 60_000,
  aliveWithinMs: 3000,
  waitReplicas: 0,
  waitTimeoutMs: 500
}

/** Compares two offsets (`<ms>-<seq>`). */
export function compareOffsets (a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number)
  const [bm = 0, bs = 0] = b.split('-').map(Number)
  return am - bm || as - bs
}

export const OFFSET_PATTERN = '^\\d{1,15}-\\d{1,15}$'
