/**
 * Names on the wire and in Redis: user ids, channels and the key layout.
 * One place so that the validation rules and the key shapes never drift apart.
 */

/** 1–64 characters of [A-Za-z0-9_.-]: user ids, room names, server ids. */
export const NAME_PATTERN = '^[A-Za-z0-9_.-]{1,64}$'
const NAME = /^[A-Za-z0-9_.-]{1,64}$/
const CHANNEL = /^(user|room):[A-Za-z0-9_.-]{1,64}$/
const DM_CHANNEL = /^dm:([A-Za-z0-9_.-]{1,64}):([A-Za-z0-9_.-]{1,64})$/
/** the longest channel name: `dm:` and two user ids */
export const MAX_CHANNEL_LENGTH = 3 + 64 + 1 + 64

export function isName (value: string): boolean {
  return NAME.test(value)
}

/** `user:{id}`, `room:{name}`, or `dm:{a}:{b}` with its two user ids in order (a ≤ b). */
export function isChannel (value: string): boolean {
  return CHANNEL.test(value) || participantsOf(value) !== undefined
}

/**
 * The direct conversation between two users: one channel, named the same
 * whoever writes first (the ids sorted), with its own history, epoch and
 * retention. A conversation with oneself is `dm:{a}:{a}`.
 */
export function dmChannel (a: string, b: string): string {
  return a <= b ? `dm:${a}:${b}` : `dm:${b}:${a}`
}

/** The two users of a `dm:` channel (one when it is a user's conversation with themselves), or undefined for any other name. */
export function participantsOf (channel: string): readonly string[] | undefined {
  const match = DM_CHANNEL.exec(channel)
  if (match === null) return undefined
  const [, a = '', b = ''] = match
  if (a > b) return undefined
  return a === b ? [a] : [a, b]
}

export function isDmChannel (channel: string): boolean {
  return channel.startsWith('dm:')
}

/**
 * Whether reading a channel that has no history gives it one (an epoch). Only
 * a room's does: a direct conversation or a personal channel gets its history
 * from its first message, so a reader (a brand-new user connecting, a stranger
 * asking) stores nothing, and can connect while Redis is full. A reader that saw
 * one empty holds the position NO_HISTORY (`-`, 0-0), recovered from the start.
 */
export function readCreatesHistory (channel: string): boolean {
  return channel.startsWith('room:')
}

export function userChannel (user: string): string {
  return `user:${user}`
}

export function roomChannel (room: string): string {
  return `room:${room}`
}

/** The key prefix when none is given (SB_PREFIX, the Redis store's `prefix`). */
export const DEFAULT_KEY_PREFIX = 'sb:'
/** What a key prefix may be: up to 32 of [A-Za-z0-9_.:{}-]. */
export const KEY_PREFIX_PATTERN = '^[A-Za-z0-9_.:{}-]{0,32}$'

/**
 * Redis key names under one prefix (`sb:` by default), laid out for Redis
 * Cluster: every key of one chat channel (stream, meta, dedup keys, live
 * pub/sub channel, and a room's members) carries the channel as its hash tag
 * (`sb:{room:general}:hist`), so the append script touches one slot; every
 * fleet key (load, alive, server records, reservations, presence,
 * components, per-user holds and rate counters) carries `{fleet}`, so the allocation, heartbeat, eviction and
 * presence scripts do too, including the names they build inside Lua from a
 * prefix passed in ARGV. A user's room list, conversation list and quota
 * carry `{user:<id>}`.
 * Plain Redis and Sentinel use the same layout.
 */
export interface Keys {
  readonly load: string
  readonly alive: string
  server (id: string): string
  /** sorted set: reservation nonce → expiry, for one server */
  reservations (id: string): string
  /** set: channels where a server has presence entries */
  presenceIndex (id: string): string
  /**
   * sorted set: what one user holds across the fleet, `<server>|<nonce>` → the expiry (ms) of an
   * unused reservation, or 0 for an open connection (counted while its server is in the fleet)
   */
  holds (user: string): string
  /** counter with an expiry: requests in the current window of one rate limit (`allocate:user:<id>`, `allocate:ip:<ip>`) */
  rate (bucket: string): string
  live (channel: string): string
  /** the channel a live pub/sub name belongs to, or undefined for another name */
  channelOfLive (name: string): string | undefined
  history (channel: string): string
  /** hash: epoch, top (newest offset), trimmed (newest offset dropped by trimming) */
  meta (channel: string): string
  dedup (channel: string, sender: string, mid: string): string
  members (room: string): string
  /** hash in the room's slot: `owner`, `mode`, `title`, `topic` */
  room (room: string): string
  /** hash in the room's slot: member → `owner` or `moderator` (members without an entry are plain members) */
  roles (room: string): string
  /** sets in the room's slot: banned users, muted members, users invited and not joined yet */
  bans (room: string): string
  mutes (room: string): string
  invites (room: string): string
  rooms (user: string): string
  /** sorted set: a user's direct conversations (`dm:` channels) → when each last had a message (ms, store clock) */
  conversations (user: string): string
  /** hash: what a user's messages made the store keep in the current quota window (see StoreLimits) */
  quota (user: string): string
  /** hash: a user's read positions, channel → `<epoch> <offset> <count>` (count: the channel's messages up to it) */
  reads (user: string): string
  /** sorted set: the channels of `reads` → when each was last read (ms, store clock), to drop the oldest */
  readOrder (user: string): string
  /** hash in the channel's slot: its members' read receipts, user → `<epoch> <offset>` */
  receipts (channel: string): string
  /** set: the users a user blocked */
  blocks (user: string): string
  /** set: the users who blocked a user (the mirror of `blocks`, in the user's own slot, so a send checks both in one place) */
  blockedBy (user: string): string
  /** sorted set in the fleet slot: presence scripts read the alive set in the same call */
  presence (channel: string): string
  /** sorted set: ids of one role's fleet components (registries, health checkers) → last seen (ms, store clock) */
  components (role: string): string
  /** hash: one component's details (`startedAt`, `details` JSON); expires when it stops announcing itself */
  component (role: string, id: string): string
}

/** The hash tag shared by every fleet key. */
export const FLEET_TAG = '{fleet}'

export function keys (prefix: string): Keys {
  const fleet = `${prefix}${FLEET_TAG}:`
  const of = (channel: string): string => `${prefix}{${channel}}:`
  const liveHead = `${prefix}{`
  const liveTail = '}:ch'
  return {
    load: `${fleet}load`,
    alive: `${fleet}alive`,
    server: (id) => `${fleet}server:${id}`,
    reservations: (id) => `${fleet}resv:${id}`,
    presenceIndex: (id) => `${fleet}presence-of:${id}`,
    holds: (user) => `${fleet}holds:${user}`,
    rate: (bucket) => `${fleet}rate:${bucket}`,
    live: (channel) => `${of(channel)}ch`,
    channelOfLive: (name) => name.startsWith(liveHead) && name.endsWith(liveTail) && name.length > liveHead.length + liveTail.length
      ? name.slice(liveHead.length, -liveTail.length)
      : undefined,
    history: (channel) => `${of(channel)}hist`,
    meta: (channel) => `${of(channel)}meta`,
    dedup: (channel, sender, mid) => `${of(channel)}mid:${sender}:${mid}`,
    members: (room) => `${of(roomChannel(room))}members`,
    room: (room) => `${of(roomChannel(room))}room`,
    roles: (room) => `${of(roomChannel(room))}roles`,
    bans: (room) => `${of(roomChannel(room))}bans`,
    mutes: (room) => `${of(roomChannel(room))}mutes`,
    invites: (room) => `${of(roomChannel(room))}invites`,
    rooms: (user) => `${of(userChannel(user))}rooms`,
    conversations: (user) => `${of(userChannel(user))}dms`,
    quota: (user) => `${of(userChannel(user))}quota`,
    reads: (user) => `${of(userChannel(user))}reads`,
    readOrder: (user) => `${of(userChannel(user))}read-order`,
    receipts: (channel) => `${of(channel)}receipts`,
    blocks: (user) => `${of(userChannel(user))}blocks`,
    blockedBy: (user) => `${of(userChannel(user))}blocked-by`,
    presence: (channel) => `${fleet}presence:${channel}`,
    components: (role) => `${fleet}components:${role}`,
    component: (role, id) => `${fleet}component:${role}:${id}`
  }
}
