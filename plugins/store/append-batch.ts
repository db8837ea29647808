/**
 * Batched appends for one Redis (and Sentinel). Appends requested during one
 * turn of the event loop leave together (see batcher.ts), as one APPEND_BATCH script call: a
 * busy server pays Redis's per-script cost, and each channel's bookkeeping
 * and PUBLISH, once per batch instead of once per message. Order is kept:
 * entries run in the order they were asked for, and batches in the order
 * they were sent (one connection, answered in order).
 */
import type { AppendInput } from './types.js'

/** An input's own result: its offset, or undefined when the sender is not a member. */
export interface EntryResult {
  readonly offset: string | undefined
  readonly duplicate: boolean
}

/** The arguments of one APPEND_BATCH call (numkeys, the keys, then the arguments: a script defined without a key count). */
export type BatchCall = Array<string | number>

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

/**
 * Builds one APPEND_BATCH call for `inputs` (each with its copy, if any). The
 * script reports one result per input, in order: the copies' are not needed.
 */
export function batchCall (inputs: readonly AppendInput[], names: BatchNames, settings: BatchSettings): BatchCall {
  const channelIndex = new Map<string, number>()
  const channelKeys: string[] = []
  const lives: string[] = []
  const entryKeys: string[] = []
  const entries: Array<string | number> = []
  let count = 0
  const add = (channel: string, framePrefix: string, sender: string, mid: string | undefined, memberOnly: boolean, report: boolean): void => {
    let index = channelIndex.get(channel)
    if (index === undefined) {
      index = channelIndex.size + 1
      channelIndex.set(channel, index)
      channelKeys.push(names.history(channel), names.meta(channel))
      lives.push(names.live(channel))
    }
    count++
    entries.push(index, framePrefix, (mid === undefined ? 0 : HAS_MID) + (memberOnly ? MEMBER_ONLY : 0) + (report ? REPORT : 0))
    if (mid !== undefined) entryKeys.push(names.dedup(channel, sender, mid))
    if (memberOnly) {
      entryKeys.push(names.members(channel))
      entries.push(sender)
    }
  }
  for (const input of inputs) {
    add(input.channel, input.framePrefix, input.sender, input.mid, input.requireMember === true, true)
    if (input.copy !== undefined) add(input.copy.channel, input.copy.framePrefix, input.sender, input.mid, false, false)
  }
  return [channelKeys.length + entryKeys.length, ...channelKeys, ...entryKeys,
    settings.epoch, settings.ttlMs, settings.maxLen, settings.dedupTtlMs, settings.publish, lives.length, count, ...lives, ...entries]
}

/** One reported result of APPEND_BATCH. */
export function entryResult (reply: string): EntryResult {
  if (reply === '') return { offset: undefined, duplicate: false }
  return reply.startsWith('d') ? { offset: reply.slice(1), duplicate: true } : { offset: reply, duplicate: false }
}
