/**
 * The Store: everything Switchboard keeps outside a process. Two
 * implementations share one contract and one test suite: `RedisStore`
 * (production, many processes) and `MemoryStore` (standalone, one process).
 */

import { DEFAULT_HEARTBEAT_TIMEOUT_MS } from '../fleet-defaults.js'

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

/** What one user may take from the fleet, checked atomically with each reservation. */
export interface UserBudget {
  /** connections plus unused reservations the user may hold across the fleet; 0 = no cap */
  readonly maxHolds: number
  /** reservations the user may ask for per window (every attempt counts); 0 = no limit */
  readonly rateMax: number
  readonly rateWindowMs: number
}

/** One request for a place (`reserve`). */
export interface ReserveRequest {
  /** only servers whose heartbeat is this recent are offered, ms */
  readonly aliveWithinMs: number
  /** names the reservation: the connect token carries it and the socket server claims it */
  readonly nonce: string
  /** when the token expires, ms since epoch */
  readonly expiresAt: number
  /** a server not to pick (the one a client is being moved off) */
  readonly exclude?: string
  /** a server to pick only when no other is eligible (the one a client just lost, or could not reach) */
  readonly avoid?: string
  /** who the place is for: it is one of their holds until it expires, or until its connection closes */
  readonly user: string
  /** the user's budget; absent = none (a draining server moving its own clients is never refused for it) */
  readonly budget?: UserBudget
}

export type ReserveResult =
  | { readonly status: 'reserved', readonly server: ServerStatus }
  /** no live server has room */
  | { readonly status: 'no_capacity' }
  /** the user already holds `budget.maxHolds`; `retryAfterMs` until their oldest unused reservation stops counting (0 = they hold only connections) */
  | { readonly status: 'over_cap', readonly retryAfterMs: number }
  /** the user asked more than `budget.rateMax` times in this window; `retryAfterMs` until it ends */
  | { readonly status: 'rate_limited', readonly retryAfterMs: number }

/** A fixed-window rate limit's count after one more request. */
export interface RateCount {
  /** requests in the current window, this one included */
  readonly count: number
  /** until the window ends, ms */
  readonly resetInMs: number
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

/** A stored message as read back from history: its offset, and its text frame exactly as clients get it. */
export interface StoredFrame {
  readonly offset: string
  readonly text: string
}

/**
 * A live frame as the store hands it on (message-frame.ts parses it once): the channel it belongs to
 * (a room; a direct conversation, for a message heard on a personal channel; the personal channel
 * itself for its events), its offset and epoch there (undefined for events, which are never
 * stored), and its text exactly as clients get it.
 */
export interface LiveFrame {
  readonly channel: string
  readonly offset: string | undefined
  /** the epoch of `offset` (messages only) */
  readonly epoch?: string | undefined
  /** the offset of the message before this one in its channel ('0-0' for the first; message-frame.ts) */
  readonly prev?: string | undefined
  readonly text: string
}

/** Receives the live frames heard on a subscribed channel (`channel`: the one subscribed to). */
export type MessageHandler = (channel: string, frame: LiveFrame) => void

export interface AppendInput {
  /** channel name: `room:{name}` or a direct conversation `dm:{a}:{b}` */
  readonly channel: string
  /**
   * The message frame up to its epoch (ending in `"epoch":"`): the store
   * adds the channel's epoch, the offset it assigns and the closing `"}`, and
   * publishes the result, so no process parses it again.
   */
  readonly framePrefix: string
  /** sender id and client message id: a repeat of (sender, mid) is not appended again */
  readonly sender: string
  readonly mid?: string | undefined
  /** for `room:` channels: refuse unless the sender is a member (checked atomically with the append) */
  readonly requireMember?: boolean
  /**
   * A direct conversation's users. Its frames are delivered live through each
   * one's personal channel (`user:{id}`, which every connection of theirs
   * listens to) instead of a channel of its own, and the conversation moves to
   * the top of each one's conversation list.
   */
  readonly participants?: readonly string[]
  /** a direct message's other user: refused (`blocked`) when either has blocked the other, checked atomically with the append on one Redis */
  readonly recipient?: string
}

/**
 * An edit or a delete of a stored message (its `target` offset). It is stored like a message, after the
 * channel's newest (its frame carries `edit` or `delete` and the target), and the target is rewritten in
 * place to its latest version: an edit's data and `"edited":<at>`, or a delete's `"data":null,"deleted":true`
 * (the earlier edits of a deleted message lose their data too), so no deleted text is kept or served.
 */
export interface AmendInput {
  readonly channel: string
  readonly target: string
  readonly kind: 'edit' | 'delete'
  /** an edit's new data, as JSON */
  readonly dataJson?: string
  /** when it was made, ms (the socket server's clock, like a message's ts) */
  readonly at: number
  /** the amendment's frame up to its epoch (as AppendInput.framePrefix) */
  readonly framePrefix: string
  readonly sender: string
  readonly mid?: string | undefined
  /** for `room:` channels: refuse unless the sender is a member */
  readonly requireMember?: boolean
  /** anyone may amend the message (a room moderator); otherwise only its sender */
  readonly anyone?: boolean
  /** a direct conversation's users (delivered through their personal channels, as AppendInput) */
  readonly participants?: readonly string[]
  /** as AppendInput.recipient */
  readonly recipient?: string
}

export type AmendResult =
  | AppendResult
  /** no such message: never stored, trimmed away, an amendment itself, or deleted already */
  | { readonly status: 'missing' }
  /** the message is someone else's */
  | { readonly status: 'not_author' }
  /** not among the channel's newest messages (amend-script.ts AMEND_WINDOW): it can no longer be changed */
  | { readonly status: 'too_old' }

/** The budget of StoreLimits that a refused append would have gone over. */
export type QuotaBudget = 'messages' | 'bytes' | 'channels'

export type AppendResult =
  | { readonly status: 'appended' | 'duplicate', readonly offset: string }
  | { readonly status: 'forbidden' }
  /** a direct message between two users of whom one blocked the other */
  | { readonly status: 'blocked' }
  /** the sender is muted in the room */
  | { readonly status: 'muted' }
  /** the sender used up a budget of the current quota window; it starts again in `retryAfterMs` */
  | { readonly status: 'quota', readonly budget: QuotaBudget, readonly retryAfterMs: number }

/** A conversation in a user's conversation list: a direct conversation, or a room the user is a member of. */
export interface ConversationEntry {
  /** `dm:{a}:{b}` or `room:{name}` */
  readonly channel: string
  /** when it last had a message, ms since epoch (store clock); 0 for a room that has none */
  readonly at: number
  /** its epoch and newest offset; '-' and '0-0' when its history is gone */
  readonly epoch: string
  readonly offset: string
  /** messages after the user's read position in this epoch (all of the epoch's when they have none) */
  readonly unread: number
  /** the user's read position, when they have one in this epoch */
  readonly read?: string
  /** the newest message's frame, exactly as delivered, when it is at most LAST_MESSAGE_MAX_BYTES */
  readonly last?: string
}

/** The newest message of a conversation list's entry is left out above this size (read it with `history`). */
export const LAST_MESSAGE_MAX_BYTES = 4096

/** A user's read position in a conversation after `markRead`. */
export interface ReadMark {
  readonly epoch: string
  /** the position kept: the newer of the one kept before and the one asked for (read positions never go back) */
  readonly offset: string
  /** messages after it */
  readonly unread: number
  /** the user's position moved (their other connections are told) */
  readonly moved: boolean
  /** the receipt the other members see moved (they are told; rooms above maxReceiptMembers keep none) */
  readonly receipt: boolean
}

/** Messages after a read position (count and own count at it) that others sent: a user's own are never unread. */
export function unreadOf (count: number, own: number, readCount: number, readOwn: number): number {
  return Math.max(0, (count - readCount) - Math.max(0, own - readOwn))
}

/** What a `join` by the user came to. */
export type JoinOutcome = 'joined' | 'limit' | 'banned' | 'invite_only'

export type RoomRole = 'owner' | 'moderator' | 'member'

export interface RoomInfo {
  /** `public`: anyone joins; `invite`: only those invited by its owner or a moderator */
  readonly mode: 'public' | 'invite'
  /** its first member; undefined for a room made before rooms had owners */
  readonly owner?: string
  readonly title: string
  readonly topic: string
}

export interface RoomMember {
  readonly user: string
  readonly role: RoomRole
  readonly muted: boolean
}

/**
 * What an owner or moderator may do: invite (invite-only rooms; any member in a public one), kick and ban (removes the
 * membership; a banned user cannot join again until unbanned), mute (cannot publish), and on members of a lower role
 * only; `role` (the owner makes a member a moderator or back); `settings` (the owner sets the mode, an owner or
 * moderator the title and topic).
 */
export type Moderation =
  | { readonly action: 'invite' | 'kick' | 'ban' | 'unban' | 'mute' | 'unmute', readonly user: string }
  | { readonly action: 'role', readonly user: string, readonly role: 'moderator' | 'member' }
  | { readonly action: 'settings', readonly mode?: 'public' | 'invite', readonly title?: string, readonly topic?: string }

/** `ok`, or why not: not a member, a role too low for it, a target that is not a member (or outranks), already done. */
export type ModerationOutcome = 'ok' | 'not_member' | 'role' | 'target' | 'banned'

/** How far one member has read a conversation (in its current epoch). */
export interface Receipt {
  readonly user: string
  readonly offset: string
}

/** What `conversations()` lists besides direct conversations. */
export interface ListOptions {
  /** false: direct conversations only (the relay healing a personal channel's gap); default true */
  readonly rooms?: boolean
}

/** Where `conversations()` continues: the `at` and `channel` of the last entry of the previous page. */
export interface ConversationCursor {
  readonly at: number
  readonly channel: string
}

/** Where a channel's history stands. */
export interface Position {
  /**
   * changes whenever the channel's history is lost; offsets only compare within one epoch.
   * `-` (NO_HISTORY) for a direct conversation that has no history: reading one never creates it.
   */
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
  readonly messages: StoredFrame[]
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
  readonly messages?: StoredFrame[]
}

/**
 * Live delivery of some channels stopped and started again (Store.onRelayGap). `channels` are the
 * subscribed channels concerned; undefined means every one.
 */
export interface RelayGapListener {
  /** frames published on `channels` from now until `resumed` may never arrive */
  interrupted (channels: readonly string[] | undefined): void
  /** `channels` are subscribed again: frames published from now on arrive; what was published during the gap is in history */
  resumed (channels: readonly string[] | undefined): void
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
   * callers spread out. `exclude` is never picked, `avoid` only when no other
   * server is eligible. The reservation is one of
   * the user's holds; with a `budget`, the user's rate and holds are checked
   * first, in the same atomic step, across the whole fleet.
   */
  reserve (request: ReserveRequest): Promise<ReserveResult>
  /**
   * Uses up a reservation when its client connects; false if it was already used or never made.
   * The user's hold becomes an open connection's, counted until `release` (or until the server leaves the fleet).
   */
  claim (serverId: string, nonce: string, user: string): Promise<boolean>
  /** A claimed connection closed, or its upgrade never completed: -1 on the server's load, and its user's hold released. */
  release (serverId: string, nonce: string, user: string): Promise<void>
  /** One more request against a fixed-window rate limit (`bucket`, e.g. `allocate:ip:10.0.0.7`), counted fleet-wide. */
  rateHit (bucket: string, windowMs: number): Promise<RateCount>
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
  /** Edits or deletes a stored message (see AmendInput), atomically with its checks; quotas count it as a message. */
  amend (input: AmendInput): Promise<AmendResult>
  /** Publish a frame live without keeping it in history (presence events). */
  publishEvent (channel: string, frame: string): Promise<void>
  /**
   * The channel's epoch and newest offset, creating the epoch if the channel has none; a direct
   * conversation without history is not created (NO_HISTORY), so reading costs the store nothing.
   */
  position (channel: string): Promise<Position>
  /**
   * Everything after `since` (with `page`: its first page), if history still holds all of it. A `since` in
   * the NO_HISTORY epoch recovers the whole history of a conversation that began since, as long as none of
   * it was trimmed.
   */
  recover (channel: string, since: Position, page?: PageLimits): Promise<Recovery>
  /** Up to `limit` message frames older than `before` (newest when absent), oldest first. Nothing is older than '0-0'. */
  history (channel: string, before: string | undefined, limit: number): Promise<StoredFrame[]>
  /**
   * The `limit` newest messages older than `before` (newest when absent): their bounds, and the
   * frames themselves when they fit in `page.maxBytes`. Undefined when there are none.
   */
  historySpan (channel: string, before: string | undefined, limit: number, page: PageLimits): Promise<HistorySpan | undefined>
  /** One page of a range, oldest first; null only when `range.epoch` is given and the range has a gap. */
  read (channel: string, range: ReadRange, page: PageLimits): Promise<StoredFrame[] | null>
  /** Start receiving a channel's live frames. Resolves once the subscription is active. */
  subscribe (channel: string, handler: MessageHandler): Promise<void>
  unsubscribe (channel: string, handler: MessageHandler): Promise<void>
  /** Subscribes again to every channel with handlers (after the relay was found deaf), reported as a gap (onRelayGap). */
  resubscribe (): Promise<void>
  /**
   * Tells `listener` when live delivery has a gap: the subscriber connection was lost (a Redis failover,
   * a killed connection), a shard's subscription moved, or the relay was found deaf. Returns a function
   * that removes it.
   */
  onRelayGap (listener: RelayGapListener): () => void

  // Conversations -------------------------------------------------------------
  /**
   * A user's conversations (direct ones and their rooms), most recent first, at most `limit`, after
   * `cursor` (the last entry of the previous page), each with the user's unread count and read position
   * and its newest message. The list keeps a user's newest `maxConversations` direct conversations.
   */
  conversations (user: string, cursor: ConversationCursor | undefined, limit: number, options?: ListOptions): Promise<ConversationEntry[]>
  /**
   * Moves the user's read position in `channel` to `offset` (the newest message when it is newer), never
   * back; with `initial`, only when they have none in this epoch (a room just joined). Also moves their
   * receipt, which the other members read with `receipts`: in direct conversations, and in rooms of at
   * most `maxReceiptMembers` members. Undefined when the channel has no history (nothing to read).
   */
  markRead (user: string, channel: string, offset: string, initial?: boolean): Promise<ReadMark | undefined>
  /** How far each member has read `channel` in its current epoch (the receipts markRead keeps), by user. */
  receipts (channel: string): Promise<Receipt[]>

  // Blocking ------------------------------------------------------------------
  /**
   * `user` blocks (`blocked` true) or unblocks `other`: direct messages between them are refused both ways from
   * then on. 'limit' when they already block maxBlocks users.
   */
  setBlock (user: string, other: string, blocked: boolean): Promise<'changed' | 'unchanged' | 'limit'>
  /** The users `user` blocked, and those who blocked `user`. */
  blocks (user: string): Promise<{ blocked: string[], blockedBy: string[] }>
  /** Whether either of the two blocked the other. */
  blockedBetween (a: string, b: string): Promise<boolean>

  // Rooms ---------------------------------------------------------------------
  /**
   * Makes `user` a member, without the room's rules (bans, invite-only): for the server's own use. False (and
   * nothing changed) when they are already in `maxRoomsPerUser` other rooms. The first member of a room that has
   * none (a new one) becomes its owner.
   */
  join (room: string, user: string): Promise<boolean>
  /** A `join` by the user: the room's rules first (a ban, invite-only without an invitation), atomically with it. */
  enter (room: string, user: string): Promise<JoinOutcome>
  /** A room's settings and owner (public and ownerless for a room made before rooms had owners). */
  roomInfo (room: string): Promise<RoomInfo>
  /** A member's role, or undefined for one who is not a member. */
  roleOf (room: string, user: string): Promise<RoomRole | undefined>
  /** A moderation or settings change by `by`, checked against their role atomically with it (see Moderation). */
  moderate (room: string, by: string, change: Moderation): Promise<ModerationOutcome>
  /** Members sorted by id, after `after`, at most `limit`, with their roles: `more` when there are others after. */
  memberPage (room: string, after: string | undefined, limit: number): Promise<{ members: RoomMember[], more: boolean }>
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
  /**
   * Storage quotas: what one user's messages may make the store keep per window, counted
   * fleet-wide (docs/security.md sizes them). A window starts with the user's first message
   * and lasts `quotaWindowMs`; 0 turns a budget off.
   */
  readonly quotaWindowMs: number
  /** messages stored per window */
  readonly quotaMessages: number
  /** bytes of stored frames per window */
  readonly quotaBytes: number
  /** distinct channels written per window (each new one may be a new history kept for historyTtlMs) */
  readonly quotaChannels: number
  /** rooms one user may be a member of */
  readonly maxRoomsPerUser: number
  /** direct conversations kept in one user's conversation list (the oldest fall off) */
  readonly maxConversations: number
  /** rooms with more members keep no read receipts (each read would be told to every listener) */
  readonly maxReceiptMembers: number
  /** users one user may block */
  readonly maxBlocks: number
}

/** Reservations are kept this long past their expiry before cleanup (clock skew between machines). */
export const RESERVATION_GRACE_MS = 5000

/**
 * A user's holds are forgotten this long after their last allocation or connection: a server that
 * crashes leaves its connections' holds behind (they stop counting at once, and are removed at the
 * user's next allocation), and a user who never comes back must not keep a key for ever.
 */
export const HOLDS_TTL_MS = 24 * 3600_000

/** How a hold is named among a user's holds: the server and the reservation's nonce. */
export function holdOf (serverId: string, nonce: string): string {
  return `${serverId}|${nonce}`
}

export const DEFAULT_LIMITS: StoreLimits = Object.freeze({
  historySize: 1000,
  historyTtlMs: 24 * 3600_000,
  dedupWindowMs: 10 * 60_000,
  aliveWithinMs: DEFAULT_HEARTBEAT_TIMEOUT_MS,
  waitReplicas: 0,
  waitTimeoutMs: 500,
  // A day, like the history's retention: what one user can make the store keep is about one window's worth.
  quotaWindowMs: 24 * 3600_000,
  quotaMessages: 10_000,
  quotaBytes: 16 * 1024 * 1024,
  quotaChannels: 500,
  maxRoomsPerUser: 500,
  maxConversations: 1000,
  maxReceiptMembers: 100,
  maxBlocks: 1000
})

/**
 * A user's read positions are kept this long after their last `read`: longer than a history, so that a
 * conversation still going after the user was away a few days keeps its count; at most one per
 * conversation in their list and room they are in (READ_POSITIONS_MAX, the oldest read dropped first).
 */
export const READ_TTL_MS = 30 * 24 * 3600_000

/** Read positions kept per user: as many as their conversation list and rooms can hold. */
export function readPositionsMax (limits: StoreLimits): number {
  return limits.maxConversations + limits.maxRoomsPerUser
}

/** The limits a store runs with: DEFAULT_LIMITS, with what was given over them (both stores use this). */
export function resolveStoreLimits (limits: Partial<StoreLimits> = {}): StoreLimits {
  return Object.freeze({ ...DEFAULT_LIMITS, ...limits })
}

/** The epoch of a direct conversation that has no history (see Position). */
export const NO_HISTORY = '-'

/** Compares two offsets (`<ms>-<seq>`). */
export function compareOffsets (a: string, b: string): number {
  // On the relay's path for every frame: no allocation. Offsets are two runs of digits without leading zeros
  // (OFFSET_PATTERN; Redis never writes one), so within a part the longer run is the larger number, and runs of
  // equal length compare as text. A malformed offset compares as it would with the old split-and-Number rule
  // closely enough: it never reaches here (every offset is checked against OFFSET_PATTERN or made by the store).
  const da = a.indexOf('-')
  const db = b.indexOf('-')
  const byMs = comparePart(a, 0, da < 0 ? a.length : da, b, 0, db < 0 ? b.length : db)
  if (byMs !== 0) return byMs
  return comparePart(a, da < 0 ? a.length : da + 1, a.length, b, db < 0 ? b.length : db + 1, b.length)
}

/** Compares the digit runs a[as, ae) and b[bs, be) as numbers. */
function comparePart (a: string, as: number, ae: number, b: string, bs: number, be: number): number {
  // Leading zeros do not count (`"07"` is 7).
  while (ae - as > 1 && a.charCodeAt(as) === 48) as++
  while (be - bs > 1 && b.charCodeAt(bs) === 48) bs++
  const la = ae - as
  const lb = be - bs
  if (la !== lb) return la === 0 ? -1 : lb === 0 ? 1 : la - lb
  for (let i = 0; i < la; i++) {
    const d = a.charCodeAt(as + i) - b.charCodeAt(bs + i)
    if (d !== 0) return d
  }
  return 0
}

export const OFFSET_PATTERN = '^\\d{1,15}-\\d{1,15}$'
