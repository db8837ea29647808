/**
 * Server → client frames, serialized by hand where it is the hot path. Every
 * name spliced in raw (users, channels, offsets, epochs) has already been
 * validated against a pattern that needs no JSON escaping.
 */
import type { FrameErrorCode } from '../errors.js'
import { MESSAGE_HEAD } from '../store/message-frame.js'
import type { Position, StoredFrame } from '../store/types.js'
import type { RequestId } from './protocol.js'

const id = (value: RequestId): string => JSON.stringify(value)

/**
 * The protocol's version, in `welcome` (docs/protocol.md). 2: direct messages live in per-pair
 * conversation channels (`dm:{a}:{b}`), and message frames carry their channel's epoch. 3: typing
 * indicators (the `typing` request and events). 4: read state (`read`, `receipts`, their events) and
 * a conversation list with rooms, unread counts and newest messages. 5: `edit` and `delete`, replies
 * (`replyTo`), and blocking (`block`, `unblock`, `blocks`).
 */
export const PROTOCOL_VERSION = 5

/** What a client must stay within, announced in `welcome` so that it can pace and batch its frames. */
export interface WelcomeLimits {
  /** frames per second on average, and the burst above it (`FRAME_RATE`, `FRAME_BURST`) */
  readonly frameRate: number
  readonly frameBurst: number
  /** rooms (channels besides the personal one) a connection may listen to */
  readonly maxChannels: number
  /** the largest frame accepted, bytes (`MAX_PAYLOAD`) */
  readonly maxPayload: number
  /** channels one `subscribe` frame may carry */
  readonly subscribeBatch: number
}

export function welcomeFrame (
  user: string, server: string, channel: string, position: Position, rooms: string[], recovered: boolean | undefined, limits: WelcomeLimits
): string {
  return JSON.stringify({
    type: 'welcome', protocol: PROTOCOL_VERSION, user, server, channel, epoch: position.epoch, offset: position.offset, rooms, limits, ...(recovered === undefined ? {} : { recovered })
  })
}

export function ackFrame (requestId: RequestId, channel: string, offset: string): string {
  return `{"type":"ack","id":${id(requestId)},"channel":"${channel}","offset":"${offset}"}`
}

export function joinedFrame (requestId: RequestId, channel: string, position: Position): string {
  return JSON.stringify({ type: 'joined', id: requestId, channel, epoch: position.epoch, offset: position.offset })
}

export function subscribedFrame (requestId: RequestId, channel: string, position: Position, recovered: boolean | undefined): string {
  return JSON.stringify({ type: 'subscribed', id: requestId, channel, ...(recovered === undefined ? {} : { recovered }), epoch: position.epoch, offset: position.offset })
}

export function doneFrame (type: 'left' | 'unsubscribed', requestId: RequestId, channel: string): string {
  return JSON.stringify({ type, id: requestId, channel })
}

/** History replies splice the stored frames in as they are; every part but the last of a reply sent in parts says `more`. */
export function historyFrame (requestId: RequestId, channel: string, messages: readonly StoredFrame[], more = false): string {
  let list = ''
  for (const message of messages) list += list === '' ? message.text : `,${message.text}`
  return `{"type":"history","id":${id(requestId)},"channel":"${channel}","messages":[${list}]${more ? ',"more":true' : ''}}`
}

/** One channel's outcome in the reply to a `subscribe` of several channels. */
export type SubscribeResult =
  | { readonly channel: string, readonly position: Position, readonly recovered: boolean | undefined }
  | { readonly channel: string, readonly error: { readonly code: FrameErrorCode, readonly message: string } }

export function subscribedBatchFrame (requestId: RequestId, results: SubscribeResult[]): string {
  return JSON.stringify({
    type: 'subscribed',
    id: requestId,
    channels: results.map((r) => 'error' in r
      ? { channel: r.channel, error: r.error }
      : { channel: r.channel, ...(r.recovered === undefined ? {} : { recovered: r.recovered }), epoch: r.position.epoch, offset: r.position.offset })
  })
}

/**
 * Who is online in a channel: the reply to a `presence` request, or, without `id`, sent unasked after a gap in the
 * server's live delivery was healed (the presence events of the gap are gone: they are not stored).
 */
export function presenceFrame (requestId: RequestId | undefined, channel: string, users: readonly string[]): string {
  return JSON.stringify({ type: 'presence', id: requestId, channel, users })
}

/** The reply to a `typing` frame: whether an event went out (a repeat within TYPING_REFRESH_MS is absorbed). */
export function typingReply (requestId: RequestId, channel: string, relayed: boolean): string {
  return JSON.stringify({ type: 'typing', id: requestId, channel, relayed })
}

/** A presence event: `user` came online in (`join`) or left (`leave`) a channel. */
export function presenceEvent (type: 'join' | 'leave', channel: string, user: string): string {
  return `{"type":"${type}","channel":"${channel}","user":"${user}"}`
}

/** On the user's own channel: they left `channel` (a room) from one of their connections; every other one stops listening. */
export const LEFT_EVENT_PREFIX = '{"type":"left","channel":"'

export function leftEvent (channel: string): string {
  return `${LEFT_EVENT_PREFIX}${channel}"}`
}

/**
 * On the user's own channel: they joined `channel` (a room) from one of their connections, whose
 * reply reported `position`. Another connection that subscribes with `since` misses nothing.
 * (Nested, so that the frame does not end in an `offset` field: only stored messages do.)
 */
export function joinedEvent (channel: string, position: Position): string {
  return JSON.stringify({ type: 'joined', channel, since: { epoch: position.epoch, offset: position.offset } })
}

/** The room channel of a left event, or undefined if `frame` is not one. */
export function leftEventChannel (frame: string): string | undefined {
  return frame.startsWith(LEFT_EVENT_PREFIX) && frame.endsWith('"}') ? frame.slice(LEFT_EVENT_PREFIX.length, -2) : undefined
}

/** Go there now: the server is draining. */
export function reconnectFrame (allocation: { url: string, token: string, server: string, expiresAt: number }): string {
  return JSON.stringify({ type: 'reconnect', reason: 'drain', url: allocation.url, token: allocation.token, server: allocation.server, expiresAt: allocation.expiresAt })
}

export function errorFrame (code: FrameErrorCode, message: string, requestId?: RequestId, extra?: Readonly<Record<string, string | number>>): string {
  return JSON.stringify({ type: 'error', ...(requestId === undefined ? {} : { id: requestId }), code, message, ...extra })
}

/**
 * A message frame up to (not including) its epoch. The store adds the
 * channel's epoch, the offset it assigns and `"}` (finishFrame), so the frame
 * is serialized exactly once and every message says where it stands.
 * `mid` is the sender's message id: a receiver can drop a second copy of the
 * same (from, mid), which is what a resend after a failover can produce.
 */
export function messagePrefix (channel: string, from: string, to: string | null, dataJson: string, ts: number, mid?: string, replyTo?: string): string {
  const toField = to === null ? '' : `"to":"${to}",`
  const midField = mid === undefined ? '' : `"mid":"${mid}",`
  const replyField = replyTo === undefined ? '' : `"replyTo":"${replyTo}",`
  return `${MESSAGE_HEAD}${channel}","from":"${from}",${toField}${midField}${replyField}"data":${dataJson},"ts":${ts},"epoch":"`
}

/**
 * An edit's or a delete's frame up to its epoch: a message frame that names what it amends (`"edit":"<offset>"` with
 * the new data, or `"delete":"<offset>"` with `null`), stored and delivered like a message (amend-script.ts).
 */
export function amendmentPrefix (channel: string, from: string, to: string | null, kind: 'edit' | 'delete', target: string, dataJson: string, ts: number,
  mid?: string): string {
  const toField = to === null ? '' : `"to":"${to}",`
  const midField = mid === undefined ? '' : `"mid":"${mid}",`
  return `${MESSAGE_HEAD}${channel}","from":"${from}",${toField}${midField}"${kind}":"${target}","data":${dataJson},"ts":${ts},"epoch":"`
}
