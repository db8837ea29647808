/**
 * Reading a relay gap back from history (hub.ts): for one subscription, what
 * was stored after what the relay last handed on, in order, through the
 * subscription's gate (which drops what already went out).
 *
 * A room's gap is its channel's messages after its mark, up to its newest.
 * A personal channel carries its user's direct conversations: the ones that
 * had a message since shortly before the interruption (the user's
 * conversation list says when each last had one) are read, each after its own
 * mark. A conversation nothing of which went out here since the subscription
 * began has no mark: it is read from the oldest boundary a listener attached
 * at, or from the later of the subscription's start and the interruption's
 * (minus CLOCK_MARGIN_MS, for the store's clock against this machine's), so
 * at worst a message a client already had comes again (the protocol lets
 * clients drop a message at or before their position, and the SDK does).
 *
 * A gap cannot be read back when history no longer holds all of it (trimmed
 * past the mark) or the channel has another epoch (its history was lost):
 * `Unrecoverable`, and the listeners recover by themselves.
 */
import { NO_HISTORY, compareOffsets } from '../store/types.js'
import type { LiveFrame, PageLimits, Store } from '../store/types.js'
import type { Relayed } from './hub.js'

/** Deafness is found up to a few heartbeat periods after it began: conversations active this long before the interruption are read. */
export const DETECTION_MARGIN_MS = 30_000
/** How far the store's clock (which stamps offsets) may be ahead of this machine's. */
export const CLOCK_MARGIN_MS = 1000
/** One read from history: the hub hands each page on before it reads the next. */
const PAGE: PageLimits = { limit: 100, maxBytes: 1024 * 1024 }
/** Conversations listed per read of the conversation list. */
const LIST_PAGE = 50

/** The gap of a channel cannot be read back from history. */
export class Unrecoverable extends Error {}

/** Reads the subscription's gap and hands on each message not yet handed on; returns how many. */
export async function readGap (store: Store, subscription: Relayed, handOn: (frame: LiveFrame) => void): Promise<number> {
  const { channel } = subscription
  const since = subscription.interruptedAt ?? Date.now()
  if (!channel.startsWith('user:')) {
    const { epoch, offset } = await store.position(channel)
    return await readChannel(store, subscription, channel, epoch, offset, since, handOn)
  }
  const user = channel.slice('user:'.length)
  const from = since - DETECTION_MARGIN_MS
  let handed = 0
  let cursor: { at: number, channel: string } | undefined
  for (;;) {
    const page = await store.conversations(user, cursor, LIST_PAGE, { rooms: false })
    for (const entry of page) {
      if (entry.at < from) return handed
      if (entry.epoch === NO_HISTORY) continue
      handed += await readChannel(store, subscription, entry.channel, entry.epoch, entry.offset, since, handOn)
    }
    const last = page[page.length - 1]
    if (page.length < LIST_PAGE || last === undefined) return handed
    cursor = { at: last.at, channel: last.channel }
  }
}

/** One channel's messages after the subscription's mark for it, up to `top`, in the epoch `epoch`. */
async function readChannel (store: Store, subscription: Relayed, channel: string, epoch: string, top: string, since: number,
  handOn: (frame: LiveFrame) => void): Promise<number> {
  const mark = subscription.gate.mark(channel) ?? subscription.boundaries?.get(channel)
  const markEpoch = subscription.epochs?.get(channel)
  if (mark !== undefined && markEpoch !== undefined && markEpoch !== epoch) {
    throw new Unrecoverable(`${channel} has a new epoch: its history was lost`)
  }
  // Without a mark, from the later of the subscription's start and the interruption's (see the module comment).
  let after = mark ?? `${Math.max(0, Math.max(subscription.subscribedAt, since - DETECTION_MARGIN_MS) - CLOCK_MARGIN_MS)}-0`
  let handed = 0
  while (compareOffsets(after, top) < 0) {
    const page = await store.read(channel, { after, upTo: top, ...(mark !== undefined ? { epoch } : {}) }, PAGE)
    if (page === null) throw new Unrecoverable(`${channel} was trimmed past ${after}`)
    if (page.length === 0) break
    for (const stored of page) {
      const frame: LiveFrame = { channel, offset: stored.offset, epoch, text: stored.text }
      if (subscription.gate.replayed(frame)) {
        handOn(frame)
        handed++
      }
    }
    after = page[page.length - 1]?.offset ?? top
  }
  noteEpoch(subscription, channel, epoch)
  return handed
}

/** The epoch of what the subscription handed on (or attached at) for `channel` is `epoch`. */
export function noteEpoch (subscription: Relayed, channel: string, epoch: string | undefined): void {
  if (epoch === undefined || subscription.epochs?.get(channel) === epoch) return
  subscription.epochs ??= new Map()
  subscription.epochs.set(channel, epoch)
}
