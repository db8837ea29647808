/**
 * Read state and the conversation list in one process: the same rules as
 * redis-reads.ts. A history counts its messages; the count at an entry is
 * found from its place (entries are only ever removed from the oldest end).
 */
import { senderHead } from './message-frame.js'
import { LAST_MESSAGE_MAX_BYTES, NO_HISTORY, READ_TTL_MS, compareOffsets, readPositionsMax, unreadOf } from './types.js'
import type { ConversationCursor, ConversationEntry, ReadMark, Receipt, StoreLimits, StoredFrame } from './types.js'

/** What the reads need of a channel's history (memory.ts keeps it). */
export interface CountedHistory {
  readonly epoch: string
  readonly entries: readonly StoredFrame[]
  readonly top: string
  /** messages stored in this epoch */
  readonly count: number
  /** of them, each sender's */
  readonly counts: ReadonlyMap<string, number>
  /** entries that are edits or deletes of others (they do not count) */
  readonly amendments: ReadonlyMap<string, string>
  /** the newest message's offset (not an amendment's) */
  readonly last: string
}

/** What the reads need of the rest of the store. */
export interface ReadsHost {
  /** a channel's history, if it has one (reading creates nothing) */
  history (channel: string): CountedHistory | undefined
  /** the user's rooms, by name */
  roomsOf (user: string): Iterable<string>
  /** how many members a room has, and whether a user is one */
  memberCount (room: string): number
  isMember (room: string, user: string): boolean
  /** the user's direct conversations not expired, newest first (channel, at) */
  directOf (user: string): Array<[string, number]>
}

interface Position {
  readonly epoch: string
  readonly offset: string
  /** the channel's messages up to it, and of them the user's own */
  readonly count: number
  readonly own: number
  readonly at: number
}

const ROOM = 'room:'

export class MemoryReads {
  readonly #host: ReadsHost
  readonly #limits: StoreLimits
  /** user → channel → read position (a Map keeps insertion order: the oldest read first) */
  readonly #reads = new Map<string, Map<string, Position>>()
  /** channel → user → receipt */
  readonly #receipts = new Map<string, Map<string, { epoch: string, offset: string }>>()

  constructor (host: ReadsHost, limits: StoreLimits) {
    this.#host = host
    this.#limits = limits
  }

  markRead (user: string, channel: string, asked: string, initial: boolean, now: number): ReadMark | undefined {
    const history = this.#host.history(channel)
    if (history === undefined) return undefined
    const { epoch, top } = history
    const offset = compareOffsets(asked, top) >= 0 ? top : asked
    const count = countAt(history, offset)
    const own = ownAt(history, channel, user, offset)
    const receipt = this.#moveReceipt(user, channel, epoch, offset, initial)
    let reads = this.#reads.get(user)
    if (reads === undefined) this.#reads.set(user, reads = new Map())
    const old = reads.get(channel)
    const keep = old !== undefined && old.at > now - READ_TTL_MS && old.epoch === epoch && (initial || compareOffsets(old.offset, offset) >= 0)
    if (!keep) {
      reads.delete(channel)
      reads.set(channel, { epoch, offset, count, own, at: now })
      const max = readPositionsMax(this.#limits)
      for (const gone of reads.keys()) {
        if (reads.size <= max) break
        reads.delete(gone)
      }
    }
    const kept = keep ? old : { offset, count, own }
    return { epoch, offset: kept.offset, unread: unreadOf(history.count, history.counts.get(user) ?? 0, kept.count, kept.own), moved: !keep, receipt }
  }

  /** The member's receipt moves (rooms of at most maxReceiptMembers members, and direct conversations). */
  #moveReceipt (user: string, channel: string, epoch: string, offset: string, initial: boolean): boolean {
    if (channel.startsWith(ROOM) && this.#host.memberCount(channel.slice(ROOM.length)) > this.#limits.maxReceiptMembers) return false
    let receipts = this.#receipts.get(channel)
    if (receipts === undefined) this.#receipts.set(channel, receipts = new Map())
    const old = receipts.get(user)
    if (old !== undefined && old.epoch === epoch && (initial || compareOffsets(old.offset, offset) >= 0)) return false
    receipts.set(user, { epoch, offset })
    return true
  }

  receipts (channel: string): Receipt[] {
    const epoch = this.#host.history(channel)?.epoch
    const room = channel.startsWith(ROOM) ? channel.slice(ROOM.length) : undefined
    if (room !== undefined && this.#host.memberCount(room) > this.#limits.maxReceiptMembers) return []
    const out: Receipt[] = []
    for (const [user, receipt] of this.#receipts.get(channel) ?? []) {
      if (receipt.epoch === epoch && (room === undefined || this.#host.isMember(room, user))) out.push({ user, offset: receipt.offset })
    }
    return out.sort((a, b) => a.user < b.user ? -1 : a.user > b.user ? 1 : 0)
  }

  conversations (user: string, cursor: ConversationCursor | undefined, limit: number, now: number, withRooms: boolean): ConversationEntry[] {
    const direct = this.#host.directOf(user)
    let start = 0
    if (cursor !== undefined) {
      // As on Redis: right after the cursor's entry when it has not moved since, else the entries older than its `at`.
      const at = direct.findIndex(([channel]) => channel === cursor.channel)
      start = at >= 0 && direct[at]?.[1] === cursor.at
        ? at + 1
        : direct.findIndex(([channel, when]) => when < cursor.at || (when === cursor.at && channel < cursor.channel))
      if (start < 0) start = direct.length
    }
    const candidates: Array<[string, number]> = direct.slice(start, start + limit)
    for (const room of withRooms ? this.#host.roomsOf(user) : []) {
      const channel = `${ROOM}${room}`
      const at = atOf(this.#host.history(channel)?.last ?? '0-0')
      if (cursor === undefined || at < cursor.at || (at === cursor.at && channel < cursor.channel)) candidates.push([channel, at])
    }
    const reads = this.#reads.get(user)
    return candidates.sort(byRecency).slice(0, limit).map(([channel, at]) => {
      const history = this.#host.history(channel)
      if (history === undefined) return { channel, at, epoch: NO_HISTORY, offset: '0-0', unread: 0 }
      const read = reads?.get(channel)
      const mine = read !== undefined && read.epoch === history.epoch && read.at > now - READ_TTL_MS ? read : undefined
      const last = history.entries.findLast((entry) => entry.offset === history.last)?.text
      const own = history.counts.get(user) ?? 0
      return {
        channel,
        at,
        epoch: history.epoch,
        offset: history.top,
        ...(mine === undefined ? { unread: unreadOf(history.count, own, 0, 0) } : { read: mine.offset, unread: unreadOf(history.count, own, mine.count, mine.own) }),
        ...(last === undefined || Buffer.byteLength(last) > LAST_MESSAGE_MAX_BYTES ? {} : { last })
      }
    })
  }

  /** Forgets read positions not used for READ_TTL_MS. */
  sweep (now: number): void {
    for (const [user, reads] of this.#reads) {
      for (const [channel, read] of reads) if (read.at <= now - READ_TTL_MS) reads.delete(channel)
      if (reads.size === 0) this.#reads.delete(user)
    }
    for (const [channel, receipts] of this.#receipts) {
      const epoch = this.#host.history(channel)?.epoch
      for (const [user, receipt] of receipts) if (receipt.epoch !== epoch) receipts.delete(user)
      if (receipts.size === 0) this.#receipts.delete(channel)
    }
  }
}

/** The count of messages up to `offset`: at the entry at or before it; before every kept entry, the first one's less one. */
function countAt (history: CountedHistory, offset: string): number {
  const { entries, amendments } = history
  let count = history.count
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i] as StoredFrame
    if (compareOffsets(entry.offset, offset) <= 0) return count
    if (!amendments.has(entry.offset)) count--
  }
  return count
}

/** The user's own messages up to `offset`: theirs now, less those after it. */
function ownAt (history: CountedHistory, channel: string, user: string, offset: string): number {
  const head = senderHead(channel, user)
  let own = history.counts.get(user) ?? 0
  // As on Redis: the 100 entries after it at most.
  const from = history.entries.findIndex((entry) => compareOffsets(entry.offset, offset) > 0)
  for (const entry of from < 0 ? [] : history.entries.slice(from, from + 100)) {
    if (entry.text.startsWith(head) && !history.amendments.has(entry.offset)) own--
  }
  return Math.max(0, own)
}

function atOf (offset: string): number {
  return Number(offset.slice(0, offset.indexOf('-')))
}

/** Newest first; equal times by channel, descending (as Redis's ZREVRANGE orders them). */
export function byRecency ([a, at]: [string, number], [b, bt]: [string, number]): number {
  return bt - at || (a < b ? 1 : a > b ? -1 : 0)
}
