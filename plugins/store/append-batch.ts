/**
 * Batched appends. Appends requested during one turn of the event loop leave
 * together (see batcher.ts) as APPEND_BATCH script calls: one call on one
 * Redis (and Sentinel), one call per slot on Redis Cluster (a script touches
 * one slot). A busy server pays Redis's per-script cost, and each channel's
 * bookkeeping and PUBLISH, once per batch instead of once per message. Order
 * is kept: entries run in the order they were asked for, and batches in the
 * order they were sent (one connection per node, answered in order).
 */
import type { AppendInput } from './types.js'

/** An input's own result: its offset, or undefined when the sender is not a member. */
export interface EntryResult {
  readonly offset: string | undefined
  readonly duplicate: boolean
}

/** The arguments of one APPEND_BATCH call: numkeys, the keys, then the arguments, as strings (see bulk-script.ts). */
export type BatchCall = string[]

export interface BatchNames {
  history (channel: string): string
  meta (channel: string): string
  live (channel: string): string
  dedup (channel: string, sender: string, mid: string): string
  /** the members set of a room channel (`room:x`) */
  members (channel: string): string
}

export interface BatchSettings {
  readonly epoch: string
  readonly ttlMs: number
  readonly maxLen: number
  readonly dedupTtlMs: number
  readonly publish: 'PUBLISH' | 'SPUBLISH'
}

const HAS_MID = 1
const MEMBER_ONLY = 2
const REPORT = 4
const FOLLOWS = 8

/** One append of a batch: a message, or a direct message's copy (whose result nobody needs). */
export interface BatchEntry {
  readonly channel: string
  readonly framePrefix: string
  readonly sender: string
  readonly mid: string | undefined
  readonly memberOnly: boolean
  /** a copy: the entry it is the copy of. Only originals have a result (the script reports them alone). */
  readonly original?: BatchEntry
}

/** The entries of `inputs`, in order: each input's own, then its copy if it has one. */
export function batchEntries (inputs: readonly AppendInput[]): BatchEntry[] {
  const entries: BatchEntry[] = []
  for (const input of inputs) {
    const original: BatchEntry = { channel: input.channel, framePrefix: input.framePrefix, sender: input.sender, mid: input.mid, memberOnly: input.requireMember === true }
    entries.push(original)
    if (input.copy !== undefined) {
      entries.push({ channel: input.copy.channel, framePrefix: input.copy.framePrefix, sender: input.sender, mid: input.mid, memberOnly: false, original })
    }
  }
  return entries
}

/** Builds one APPEND_BATCH call for `entries`; the script returns one result per original entry, in order. */
export function batchCall (entries: readonly BatchEntry[], names: BatchNames, settings: BatchSettings): BatchCall {
  const channelIndex = new Map<string, string>()
  const channelKeys: string[] = []
  const lives: string[] = []
  const entryKeys: string[] = []
  const fields: string[] = []
  entries.forEach(({ channel, framePrefix, sender, mid: ownMid, memberOnly, original }, e) => {
    // A copy right behind its original in the same call shares its fate (appended, or a duplicate): no dedup key of
    // its own. On Redis Cluster a copy in another slot than its original is checked on its own.
    const follows = original !== undefined && entries[e - 1] === original
    const mid = follows ? undefined : ownMid
    let index = channelIndex.get(channel)
    if (index === undefined) {
      index = String(channelIndex.size + 1)
      channelIndex.set(channel, index)
      channelKeys.push(names.history(channel), names.meta(channel))
      lives.push(names.live(channel))
    }
    fields.push(index, framePrefix, String((mid === undefined ? 0 : HAS_MID) + (memberOnly ? MEMBER_ONLY : 0) + (original === undefined ? REPORT : 0) + (follows ? FOLLOWS : 0)))
    if (mid !== undefined) entryKeys.push(names.dedup(channel, sender, mid))
    if (memberOnly) {
      entryKeys.push(names.members(channel))
      fields.push(sender)
    }
  })
  return [String(channelKeys.length + entryKeys.length), ...channelKeys, ...entryKeys, settings.epoch, String(settings.ttlMs), String(settings.maxLen),
    String(settings.dedupTtlMs), settings.publish, String(lives.length), String(entries.length), ...lives, ...fields]
}

/** One reported result of APPEND_BATCH. */
export function entryResult (reply: string): EntryResult {
  if (reply === '') return { offset: undefined, duplicate: false }
  return reply.startsWith('d') ? { offset: reply.slice(1), duplicate: true } : { offset: reply, duplicate: false }
}
