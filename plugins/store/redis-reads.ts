/**
 * Read state and the conversation list on Redis (read-scripts.ts): a user's
 * read positions live in their slot, a channel's counts and receipts in its
 * own, so on Redis Cluster a `read` is one call in each, and a list page is one
 * call in the user's slot and one per slot of the channels it shows (on one
 * Redis, one call for all of them).
 */
import type { Cluster, Redis, Result } from 'ioredis'
import type { Keys } from '../names.js'
import { senderHead } from './message-frame.js'
import { HEADS, LIST_OF_USER, MARK_AT, MARK_READ, RECEIPTS } from './read-scripts.js'
import { LAST_MESSAGE_MAX_BYTES, NO_HISTORY, READ_TTL_MS, readPositionsMax, unreadOf } from './types.js'
import type { ConversationCursor, ConversationEntry, ReadMark, Receipt, StoreLimits } from './types.js'

type Str = string | number
declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbMarkAt (stream: string, meta: string, receipts: string, members: string, user: string, offset: string, ttlMs: number, maxMembers: number,
      room: number, initial: number, head: string): Result<Array<string | number>, Context>
    sbMarkRead (reads: string, order: string, channel: string, epoch: string, offset: string, count: Str, own: Str, initial: number, ttlMs: number,
      max: number): Result<Array<string | number>, Context>
    sbListOfUser (list: string, rooms: string, reads: string, cursorAt: Str, cursorChannel: string, limit: number, oldest: number,
      roomPrefix: string): Result<Array<string | number>, Context>
    sbHeads (numKeys: number, ...keysAndArgs: Str[]): Result<string[], Context>
    sbHead (meta: string, stream: string, withFrame: number, maxBytes: number, user: string): Result<string[], Context>
    sbReceipts (meta: string, receipts: string, members: string, maxMembers: number): Result<string[], Context>
  }
}

const ROOM = 'room:'

/** One channel's head (HEADS). */
interface Head {
  readonly epoch: string
  readonly top: string
  readonly count: number
  /** of them, the user's own */
  readonly own: number
  /** the newest message's offset (not an amendment's), and its frame ('' when left out) */
  readonly lastOffset: string
  readonly last: string
}

/** A candidate entry of a list page, before its head is read. */
interface Candidate {
  readonly channel: string
  at: number
  /** the user's read position: `<epoch> <offset> <count> <own count>`, or '' */
  readonly read: string
}

export class RedisReads {
  readonly #client: Redis | Cluster
  readonly #keys: Keys
  readonly #limits: StoreLimits

  constructor (client: Redis | Cluster, keys: Keys, limits: StoreLimits) {
    this.#client = client
    this.#keys = keys
    this.#limits = limits
    if (typeof client.sbMarkAt === 'function') return
    client.defineCommand('sbMarkAt', { numberOfKeys: 4, lua: MARK_AT })
    client.defineCommand('sbMarkRead', { numberOfKeys: 2, lua: MARK_READ })
    client.defineCommand('sbListOfUser', { numberOfKeys: 3, lua: LIST_OF_USER })
    client.defineCommand('sbHeads', { lua: HEADS })
    // Redis Cluster: one channel a call (auto-pipelining groups calls by their first argument, which must be a key).
    client.defineCommand('sbHead', { numberOfKeys: 2, lua: HEADS })
    client.defineCommand('sbReceipts', { numberOfKeys: 3, lua: RECEIPTS })
  }

  async markRead (user: string, channel: string, offset: string, initial: boolean): Promise<ReadMark | undefined> {
    const k = this.#keys
    const room = channel.startsWith(ROOM)
    const at = await this.#client.sbMarkAt(k.history(channel), k.meta(channel), k.receipts(channel),
      room ? k.members(channel.slice(ROOM.length)) : k.receipts(channel), user, offset, this.#limits.historyTtlMs, this.#limits.maxReceiptMembers,
      room ? 1 : 0, initial ? 1 : 0, senderHead(channel, user))
    if (at.length === 0) return undefined
    const [epoch = '', asked = '0-0', count = '0', total = '0', receipt, ownCount = '0', own = '0'] = at.map(String)
    const kept = await this.#client.sbMarkRead(k.reads(user), k.readOrder(user), channel, epoch, asked, count, ownCount, initial ? 1 : 0,
      READ_TTL_MS, readPositionsMax(this.#limits))
    const [moved, keptOffset = '0-0', keptCount = '0', keptOwn = '0'] = kept.map(String)
    return {
      epoch,
      offset: keptOffset,
      unread: unreadOf(Number(total), Number(own), Number(keptCount), Number(keptOwn)),
      moved: moved === '1',
      receipt: receipt === '1'
    }
  }

  async receipts (channel: string): Promise<Receipt[]> {
    const k = this.#keys
    const members = channel.startsWith(ROOM) ? k.members(channel.slice(ROOM.length)) : k.receipts(channel)
    const flat = await this.#client.sbReceipts(k.meta(channel), k.receipts(channel), members, this.#limits.maxReceiptMembers)
    const out: Receipt[] = []
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ user: flat[i] as string, offset: flat[i + 1] as string })
    return out.sort((a, b) => a.user < b.user ? -1 : a.user > b.user ? 1 : 0)
  }

  /**
   * A page of the user's list: their direct conversations after the cursor and all their rooms (placed by their
   * newest message), merged newest first; then the page's heads, with the newest message of each.
   */
  async conversations (user: string, cursor: ConversationCursor | undefined, limit: number, oldest: number, withRooms: boolean): Promise<ConversationEntry[]> {
    const k = this.#keys
    const flat = (await this.#client.sbListOfUser(k.conversations(user), withRooms ? k.rooms(user) : k.conversations(user), k.reads(user), cursor?.at ?? '+',
      cursor?.channel ?? '', limit, oldest, ROOM)).map(String)
    const dms = Number(flat[0])
    const candidates: Candidate[] = []
    let i = 1
    for (let d = 0; d < dms; d++, i += 3) candidates.push({ channel: flat[i] ?? '', at: Number(flat[i + 1]), read: flat[i + 2] ?? '' })
    const rooms: Candidate[] = []
    for (; i + 1 < flat.length; i += 2) rooms.push({ channel: flat[i] ?? '', at: 0, read: flat[i + 1] ?? '' })
    // A room's place is its newest message: read the rooms' heads (without frames) to sort them in.
    const roomHeads = await this.#heads(rooms.map((r) => r.channel), user, false)
    rooms.forEach((room, r) => { room.at = atOf(roomHeads[r]?.lastOffset ?? '0-0') })
    const page = [...candidates, ...rooms.filter((room) => cursor === undefined || before(room, cursor))].sort(byRecency).slice(0, limit)
    const heads = await this.#heads(page.map((c) => c.channel), user, true)
    return page.map((candidate, p) => entryOf(candidate, heads[p]))
  }

  /** The heads of `channels` for `user`, in their order: one HEADS call for all of them, or on Redis Cluster one per channel. */
  async #heads (channels: readonly string[], user: string, withFrames: boolean): Promise<Head[]> {
    if (channels.length === 0) return []
    const k = this.#keys
    const frames = withFrames ? 1 : 0
    let reply: string[]
    if ((this.#client as Cluster).isCluster) {
      reply = (await Promise.all(channels.map(async (c) => await this.#client.sbHead(k.meta(c), k.history(c), frames, LAST_MESSAGE_MAX_BYTES, user)))).flat()
    } else {
      const keys = channels.flatMap((c) => [k.meta(c), k.history(c)])
      reply = await this.#client.sbHeads(keys.length, ...keys, frames, LAST_MESSAGE_MAX_BYTES, user)
    }
    return channels.map((_, i) => ({
      epoch: reply[6 * i] ?? '',
      top: reply[6 * i + 1] ?? '0-0',
      count: Number(reply[6 * i + 2] ?? 0),
      own: Number(reply[6 * i + 3] ?? 0),
      lastOffset: reply[6 * i + 4] ?? '0-0',
      last: reply[6 * i + 5] ?? ''
    }))
  }
}

/** The list's order: newest first, equal times by channel, descending (as ZREVRANGE orders them). */
function byRecency (a: Candidate, b: Candidate): number {
  return b.at - a.at || (a.channel < b.channel ? 1 : a.channel > b.channel ? -1 : 0)
}

/** Whether `entry` comes after the cursor in the list's order. */
function before (entry: Candidate, cursor: ConversationCursor): boolean {
  return entry.at < cursor.at || (entry.at === cursor.at && entry.channel < cursor.channel)
}

/** The milliseconds of an offset; 0 for '0-0' (a room without messages sorts last). */
function atOf (offset: string): number {
  return Number(offset.slice(0, offset.indexOf('-')))
}

function entryOf (candidate: Candidate, head: Head | undefined): ConversationEntry {
  const { channel, at } = candidate
  if (head === undefined || head.epoch === '') {
    // No history (expired, or a room never written): nothing to read.
    return { channel, at, epoch: NO_HISTORY, offset: '0-0', unread: 0 }
  }
  const [epoch, offset, count, own] = candidate.read.split(' ')
  const read = epoch === head.epoch && offset !== undefined
    ? { read: offset, unread: unreadOf(head.count, head.own, Number(count), Number(own ?? 0)) }
    : { unread: unreadOf(head.count, head.own, 0, 0) }
  return {
    channel,
    at: channel.startsWith(ROOM) ? atOf(head.lastOffset) : at,
    epoch: head.epoch,
    offset: head.top,
    ...read,
    ...(head.last === '' ? {} : { last: head.last })
  }
}
