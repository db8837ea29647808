/**
 * Read state on the wire (docs/protocol.md §2.11, §2.12): the `read` reply and
 * the news of a read (the user's other connections, and the receipt the other
 * members see), the `receipts` reply, and the conversation list, which can be
 * long enough to go in parts.
 */
import { participantsOf, userChannel } from '../names.js'
import type { NextPart } from './outbox.js'
import type { RequestId } from './protocol.js'
import type { ConversationEntry, ReadMark, Receipt, Store } from '../store/types.js'
import { NO_HISTORY } from '../store/types.js'

const id = (value: RequestId): string => JSON.stringify(value)

/**
 * The reply to `read` (with `id`), and the same without `id` on the user's personal channel when their position
 * moved: every connection of theirs learns the new position and what is still unread. It ends in a number, not in
 * an `offset` field: only a stored message's frame does (message-frame.ts).
 */
export function readFrame (requestId: RequestId | undefined, channel: string, mark: ReadMark | undefined): string {
  const head = requestId === undefined ? '{"type":"read"' : `{"type":"read","id":${id(requestId)}`
  const { epoch, offset, unread } = mark ?? { epoch: NO_HISTORY, offset: '0-0', unread: 0 }
  return `${head},"channel":"${channel}","epoch":"${epoch}","offset":"${offset}","unread":${unread}}`
}

/** How far `user` has read `channel`, for its other members (nested: the frame must not end in an `offset` field). */
export function receiptEvent (channel: string, user: string, mark: ReadMark): string {
  return `{"type":"receipt","channel":"${channel}","user":"${user}","read":{"epoch":"${mark.epoch}","offset":"${mark.offset}"}}`
}

export function receiptsFrame (requestId: RequestId, channel: string, receipts: readonly Receipt[]): string {
  return JSON.stringify({ type: 'receipts', id: requestId, channel, receipts })
}

/**
 * Tells whoever must know of a read: the user's connections (any server) when their position moved, and when
 * their receipt moved, the other member of a direct conversation or the listeners of a room.
 */
export async function tellRead (store: Store, user: string, channel: string, mark: ReadMark): Promise<void> {
  const news: Array<Promise<void>> = []
  if (mark.moved) news.push(store.publishEvent(userChannel(user), readFrame(undefined, channel, mark)))
  if (mark.receipt) {
    const receipt = receiptEvent(channel, user, mark)
    const others = participantsOf(channel)
    if (others === undefined) news.push(store.publishEvent(channel, receipt))
    else for (const other of others) if (other !== user) news.push(store.publishEvent(userChannel(other), receipt))
  }
  await Promise.all(news)
}

/** One entry of the list, its newest message spliced in as it was delivered. */
function entryText (entry: ConversationEntry): string {
  const read = entry.read === undefined ? '' : `,"read":"${entry.read}"`
  const last = entry.last === undefined ? '' : `,"last":${entry.last}`
  return `{"channel":"${entry.channel}","at":${entry.at},"epoch":"${entry.epoch}","offset":"${entry.offset}","unread":${entry.unread}${read}${last}}`
}

function listFrame (requestId: RequestId, entries: readonly string[], more: boolean): string {
  return `{"type":"conversations","id":${id(requestId)},"conversations":[${entries.join(',')}]${more ? ',"more":true' : ''}}`
}

/**
 * The reply to `conversations`: one frame, or, when its entries are more than `maxBytes`, several with the same
 * `id`, each but the last with `more` (as a long `history` reply), sent at the client's pace.
 */
export function conversationsParts (requestId: RequestId, entries: readonly ConversationEntry[], maxBytes: number): { whole?: string, next: NextPart } {
  const texts = entries.map(entryText)
  const parts: string[][] = [[]]
  let bytes = 0
  for (const text of texts) {
    const current = parts[parts.length - 1] as string[]
    if (current.length > 0 && bytes + text.length > maxBytes) {
      parts.push([text])
      bytes = text.length
    } else {
      current.push(text)
      bytes += text.length
    }
  }
  let sent = 0
  const next: NextPart = async () => {
    const part = parts[sent]
    if (part === undefined) return undefined
    sent++
    return [listFrame(requestId, part, sent < parts.length)]
  }
  return parts.length === 1 ? { whole: listFrame(requestId, parts[0] ?? [], false), next } : { next }
}
