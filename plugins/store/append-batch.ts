/**
 * Batched appends. Appends requested during one turn of the event loop leave
 * together (see batcher.ts) as APPEND_BATCH script calls: one call on one
 * Redis (and Sentinel), one call per slot on Redis Cluster (a script touches
 * one slot). A busy server pays Redis's per-script cost, and each channel's
 * bookkeeping and PUBLISH, once per batch instead of once per message. Order
 * is kept: entries run in the order they were asked for, and batches in the
 * order they were sent (one connection per node, answered in order).
 *
 * This file is the one definition of the call's layout (KEYS and ARGV) and of
 * its replies; the script (APPEND_BATCH in scripts.ts) reads exactly this.
 */
import type { AppendInput, AppendResult, QuotaBudget, StoreLimits } from './types.js'

/** The arguments of one APPEND_BATCH call: numkeys, the keys, then the arguments, as strings (see bulk-script.ts). */
export type BatchCall = string[]

export interface BatchNames {
  history (channel: string): string
  meta (channel: string): string
  live (channel: string): string
  dedup (channel: string, sender: string, mid: string): string
  /** the members set of a room channel (`room:x`), and its muted members */
  members (channel: string): string
  mutes (channel: string): string
  /** a user's conversation list */
  conversations (user: string): string
  /** a user's quota hash */
  quota (user: string): string
  /** a user's personal channel, through whose live channel a conversation's frames are delivered */
  personal (user: string): string
  /** the users a user blocked, and those who blocked them */
  blocks (user: string): string
  blockedBy (user: string): string
}

export interface BatchSettings {
  readonly epoch: string
  readonly limits: StoreLimits
  readonly publish: 'PUBLISH' | 'SPUBLISH'
  /**
   * Whether this call may touch keys outside its channels' slots: one Redis yes; on Redis Cluster
   * no, so a conversation's frames are published, its lists updated and quotas charged outside it.
   */
  readonly anySlot: boolean
}

const HAS_MID = 1
const MEMBER_ONLY = 2
/** a direct message: refused when its sender and recipient blocked one another (checked here on one Redis) */
const CHECK_BLOCKS = 4

/** The budgets as the script names them in a refusal ('q' .. letter .. ':' .. ms left). */
const BUDGET_LETTERS: Record<string, QuotaBudget> = { m: 'messages', b: 'bytes', c: 'channels' }

/** The quota part of the arguments, shared with QUOTA_BATCH: window ms, messages, bytes, channels (0 = off). */
export function quotaArguments (limits: StoreLimits): string[] {
  return [String(limits.quotaWindowMs), String(limits.quotaMessages), String(limits.quotaBytes), String(limits.quotaChannels)]
}

/** Whether any quota is on (a window and at least one budget). */
export function quotasOn (limits: StoreLimits): boolean {
  return limits.quotaWindowMs > 0 && (limits.quotaMessages > 0 || limits.quotaBytes > 0 || limits.quotaChannels > 0)
}

/**
 * Builds one APPEND_BATCH call for `inputs` (all of them in this call's slot on Redis Cluster).
 * KEYS: per channel (1..C) stream, meta; then per channel its conversation lists (when it has
 *   participants and the call may touch them); then per sender (1..S) its quota hash (when quotas are
 *   checked here); then, entry by entry, its dedup key (if it has a mid) and its members key (if the
 *   sender must be a member).
 * ARGV: fresh epoch, ttl ms, max length, dedup ttl ms, PUBLISH|SPUBLISH, C, E, S, the 4 quota
 *   arguments, max conversations; then per channel: L, its L live channels, I (its conversation list
 *   keys among KEYS) and, when I > 0, the channel's name; then per entry: channel index, frame prefix, flags (1: has a mid, 2: sender
 *   must be a member, 4: check blocks), the sender, sender index (if S > 0), the recipient (if flag 4).
 *   Entry keys: its dedup key (flag 1), the room's members and mutes (flag 2), the sender's blocks and blocked-by sets (flag 4).
 */
export function batchCall (inputs: readonly AppendInput[], names: BatchNames, settings: BatchSettings): BatchCall {
  const { limits, anySlot } = settings
  const channelIndex = new Map<string, string>()
  const channelKeys: string[] = []
  const listKeys: string[] = []
  const channelArgs: string[] = []
  const senderIndex = new Map<string, string>()
  const quotaKeys: string[] = []
  const checkQuotas = anySlot && quotasOn(limits)
  const entryKeys: string[] = []
  const fields: string[] = []
  for (const { channel, framePrefix, sender, mid, requireMember, participants, recipient } of inputs) {
    let index = channelIndex.get(channel)
    if (index === undefined) {
      index = String(channelIndex.size + 1)
      channelIndex.set(channel, index)
      channelKeys.push(names.history(channel), names.meta(channel))
      // A conversation is heard through its users' personal channels; on Redis Cluster those are other slots.
      const lives = participants === undefined ? [names.live(channel)] : anySlot ? participants.map((u) => names.live(names.personal(u))) : []
      const lists = participants !== undefined && anySlot ? participants.map((u) => names.conversations(u)) : []
      channelArgs.push(String(lives.length), ...lives, String(lists.length), ...(lists.length > 0 ? [channel] : []))
      listKeys.push(...lists)
    }
    const checkBlocks = anySlot && recipient !== undefined
    fields.push(index, framePrefix, String((mid === undefined ? 0 : HAS_MID) + (requireMember === true ? MEMBER_ONLY : 0) + (checkBlocks ? CHECK_BLOCKS : 0)), sender)
    if (checkQuotas) {
      let s = senderIndex.get(sender)
      if (s === undefined) {
        s = String(senderIndex.size + 1)
        senderIndex.set(sender, s)
        quotaKeys.push(names.quota(sender))
      }
      fields.push(s)
    }
    if (mid !== undefined) entryKeys.push(names.dedup(channel, sender, mid))
    if (requireMember === true) entryKeys.push(names.members(channel), names.mutes(channel))
    if (checkBlocks) {
      entryKeys.push(names.blocks(sender), names.blockedBy(sender))
      fields.push(recipient)
    }
  }
  const keys = [...channelKeys, ...listKeys, ...quotaKeys, ...entryKeys]
  return [String(keys.length), ...keys, settings.epoch, String(limits.historyTtlMs), String(limits.historySize), String(limits.dedupWindowMs),
    settings.publish, String(channelIndex.size), String(inputs.length), String(quotaKeys.length), ...quotaArguments(limits),
    String(limits.maxConversations), ...channelArgs, ...fields]
}

/**
 * One entry's reply, from APPEND_BATCH or QUOTA_BATCH: the offset (appended), 'd' .. offset
 * (duplicate), '' (not a member), 'b' (blocked), 'm' (muted), 'q' .. budget letter .. ':' .. ms until the window ends (over a quota).
 */
export function entryResult (reply: string): AppendResult {
  if (reply === '') return { status: 'forbidden' }
  if (reply === 'b') return { status: 'blocked' }
  if (reply === 'm') return { status: 'muted' }
  const first = reply.charCodeAt(0)
  if (first === 100) return { status: 'duplicate', offset: reply.slice(1) } // 'd'
  if (first === 113) { // 'q'
    return { status: 'quota', budget: BUDGET_LETTERS[reply[1] ?? ''] ?? 'messages', retryAfterMs: Math.max(0, Number(reply.slice(3)) || 0) }
  }
  return { status: 'appended', offset: reply }
}

/**
 * The reply of one APPEND_BATCH call: one string per entry (see entryResult), then the epoch of each
 * of the call's channels in order ('' for one that got no message), then each one's newest offset
 * before the call (its first message's `prev`).
 */
export function splitReply (reply: readonly string[], entries: number): { results: readonly string[], epochs: readonly string[], starts: readonly string[] } {
  const channels = (reply.length - entries) / 2
  return { results: reply.slice(0, entries), epochs: reply.slice(entries, entries + channels), starts: reply.slice(entries + channels) }
}
