/**
 * Batched appends for one Redis (and Sentinel). Appends requested during one
 * turn of the event loop leave together, as one APPEND_BATCH script call: a
 * busy server pays Redis's per-script cost, and each channel's bookkeeping
 * and PUBLISH, once per batch instead of once per message. Order is kept:
 * entries run in the order they were asked for, and batches in the order
 * they were sent (one connection, answered in order).
 */
import type { AppendInput } from './types.js'

/** What the script returns per entry: offset and 0 appended, 1 duplicate; '' and 2 not a member. */
export type EntryResult = [string, number]

/** The arguments of one APPEND_BATCH call, and where each input's own result is. */
export interface BatchCall {
  /** numkeys, the keys, then the arguments (ioredis: a script defined without a key count) */
  readonly args: Array<string | number>
  /** per input, the index of its entry (a direct message's copy is the entry after it) */
  readonly entryOf: number[]
}

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

/** Builds one APPEND_BATCH call for `inputs` (each with its copy, if any). */
export function batchCall (inputs: readonly AppendInput[], names: BatchNames, settings: BatchSettings): BatchCall {
  const channelIndex = new Map<string, number>()
  const channelKeys: string[] = []
  const lives: string[] = []
  const dedupKeys: string[] = []
  const memberKeys: string[] = []
  const entries: Array<string | number> = []
  const entryOf: number[] = []
  const add = (channel: string, framePrefix: string, sender: string, mid: string | undefined, memberOnly: boolean): void => {
    let index = channelIndex.get(channel)
    if (index === undefined) {
      index = channelIndex.size + 1
      channelIndex.set(channel, index)
      channelKeys.push(names.history(channel), names.meta(channel))
      lives.push(names.live(channel))
    }
    // Unused slots name the channel's stream: a key the script may touch anyway, never read as anything else.
    dedupKeys.push(mid === undefined ? names.history(channel) : names.dedup(channel, sender, mid))
    memberKeys.push(memberOnly ? names.members(channel) : names.history(channel))
    entries.push(index, framePrefix, sender, (mid === undefined ? 0 : HAS_MID) + (memberOnly ? MEMBER_ONLY : 0))
  }
  for (const input of inputs) {
    entryOf.push(dedupKeys.length)
    add(input.channel, input.framePrefix, input.sender, input.mid, input.requireMember === true)
    if (input.copy !== undefined) add(input.copy.channel, input.copy.framePrefix, input.sender, input.mid, false)
  }
  const keys = [...channelKeys, ...dedupKeys, ...memberKeys]
  return {
    args: [keys.length, ...keys, settings.epoch, settings.ttlMs, settings.maxLen, settings.dedupTtlMs, settings.publish, lives.length, dedupKeys.length,
      ...lives, ...entries],
    entryOf
  }
}

interface Waiting {
  readonly input: AppendInput
  resolve (result: EntryResult): void
  reject (err: unknown): void
}

/**
 * Gathers appends and runs them in batches of at most `maxBatch` inputs,
 * after the current turn of the event loop (setImmediate): under load a
 * batch holds everything that arrived meanwhile; an idle server sends each
 * append on its own, one turn later.
 */
export class AppendBatcher {
  readonly #run: (inputs: readonly AppendInput[]) => Promise<EntryResult[]>
  readonly #maxBatch: number
  #queue: Waiting[] = []
  #scheduled = false

  /** `run` performs one batch and returns each input's own result, in order. */
  constructor (run: (inputs: readonly AppendInput[]) => Promise<EntryResult[]>, maxBatch = 256) {
    this.#run = run
    this.#maxBatch = maxBatch
  }

  async append (input: AppendInput): Promise<EntryResult> {
    return await new Promise<EntryResult>((resolve, reject) => {
      this.#queue.push({ input, resolve, reject })
      if (this.#scheduled) return
      this.#scheduled = true
      setImmediate(this.#flush)
    })
  }

  readonly #flush = (): void => {
    this.#scheduled = false
    const queue = this.#queue
    this.#queue = []
    for (let start = 0; start < queue.length; start += this.#maxBatch) {
      const batch = queue.slice(start, start + this.#maxBatch)
      this.#run(batch.map((w) => w.input)).then((results) => {
        batch.forEach((w, i) => {
          const result = results[i]
          if (result === undefined) w.reject(new Error('the batch returned fewer results than it had appends'))
          else w.resolve(result)
        })
      }, (err: unknown) => { for (const w of batch) w.reject(err) })
    }
  }
}
