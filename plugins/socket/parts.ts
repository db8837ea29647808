/**
 * Replies sent in parts (outbox.ts): the pages of a long `history` reply and
 * of a replay, read from the store one at a time, each only when the outbox
 * asks for the next.
 */
import { compareOffsets } from '../store/types.js'
import type { HistorySpan, PageLimits, Position, Store, StoredFrame } from '../store/types.js'
import { historyFrame } from './frames.js'
import type { NextPart } from './outbox.js'
import type { RequestId } from './protocol.js'

/** The history frames of a span too big for one page: one frame per page, every one but the last with `more`. */
export function historyParts (store: Store, requestId: RequestId, channel: string, span: HistorySpan, page: PageLimits): NextPart {
  let after = span.after
  let done = false
  return async () => {
    if (done) return undefined
    const part = await store.read(channel, { after, upTo: span.upTo }, page) ?? []
    const last = part[part.length - 1]?.offset
    done = last === undefined || compareOffsets(last, span.upTo) >= 0
    if (last !== undefined) after = last
    return [historyFrame(requestId, channel, part, !done)]
  }
}

/**
 * A replay's message frames after `since` up to `upTo`, the first page already read; `last()` is the offset of the
 * newest one read. `pass` says which go out (the delivery gate's: a frame the client already has does not).
 */
export function replayParts (store: Store, channel: string, since: Position, upTo: string, first: StoredFrame[], page: PageLimits,
  pass: (frame: StoredFrame) => boolean): { next: NextPart, last: () => string } {
  let last = since.offset
  let part: StoredFrame[] | null = first
  const next: NextPart = async () => {
    if (part === null) {
      if (compareOffsets(last, upTo) >= 0) return undefined
      part = await store.read(channel, { after: last, upTo, epoch: since.epoch }, page)
      // Trimmed (or expired) while the client was being sent the rest: it must recover again.
      if (part === null) throw new Error('history was trimmed during the replay')
      if (part.length === 0) return undefined
    }
    const frames: StoredFrame[] = part
    part = null
    last = frames[frames.length - 1]?.offset ?? last
    return frames.filter(pass).map((frame) => frame.text)
  }
  return { next, last: () => last }
}
