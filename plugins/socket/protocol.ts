/**
 * Client → server frames (docs/protocol.md). Each frame type has its own
 * compiled TypeBox checker, so an error names the field that is wrong.
 */
import { Type } from '@sinclair/typebox'
import type { Static, TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { TypeCheck } from '@sinclair/typebox/compiler'
import { FrameErrorCodes } from '../errors.js'
import type { FrameErrorCode } from '../errors.js'
import { MAX_CHANNEL_LENGTH, NAME_PATTERN } from '../names.js'
import { OFFSET_PATTERN } from '../store/types.js'

const RequestIdSchema = Type.Union([
  Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  Type.String({ minLength: 1, maxLength: 64 })
], { description: 'client-chosen request id, echoed in the reply' })
const Name = Type.String({ pattern: NAME_PATTERN })
/** Channel names are checked by isChannel() so the error code can say INVALID_CHANNEL. */
const Channel = Type.String({ maxLength: MAX_CHANNEL_LENGTH })
const Mid = Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$', description: 'client message id for idempotent resends' })
const Offset = Type.String({ pattern: OFFSET_PATTERN })
const Epoch = Type.String({ minLength: 1, maxLength: 32 })

/** the offset of the message of the same conversation a message answers */
const ReplyTo = Type.Optional(Offset)
export const SendFrameSchema = Type.Object({ type: Type.Literal('send'), id: RequestIdSchema, to: Name, data: Type.Unknown(), mid: Type.Optional(Mid), replyTo: ReplyTo })
export const PublishFrameSchema = Type.Object({
  type: Type.Literal('publish'), id: RequestIdSchema, channel: Channel, data: Type.Unknown(), mid: Type.Optional(Mid), replyTo: ReplyTo
})
export const JoinFrameSchema = Type.Object({ type: Type.Literal('join'), id: RequestIdSchema, room: Name })
export const LeaveFrameSchema = Type.Object({ type: Type.Literal('leave'), id: RequestIdSchema, room: Name })
const Since = Type.Object({ offset: Offset, epoch: Epoch })
/** Channels one `subscribe` frame may carry (announced in `welcome.limits.subscribeBatch`). */
export const SUBSCRIBE_BATCH = 100
/** One channel (`channel`, `since`), or many at once (`channels`, each with its own `since`): exactly one of the two. */
export const SubscribeFrameSchema = Type.Object({
  type: Type.Literal('subscribe'),
  id: RequestIdSchema,
  channel: Type.Optional(Channel),
  since: Type.Optional(Since),
  channels: Type.Optional(Type.Array(Type.Object({ channel: Channel, since: Type.Optional(Since) }), { minItems: 1, maxItems: SUBSCRIBE_BATCH }))
})
export const UnsubscribeFrameSchema = Type.Object({ type: Type.Literal('unsubscribe'), id: RequestIdSchema, channel: Channel })
export const HistoryFrameSchema = Type.Object({
  type: Type.Literal('history'),
  id: RequestIdSchema,
  channel: Channel,
  before: Type.Optional(Offset),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 }))
})
export const PresenceFrameSchema = Type.Object({ type: Type.Literal('presence'), id: RequestIdSchema, channel: Channel })
export const ConversationsFrameSchema = Type.Object({
  type: Type.Literal('conversations'),
  id: RequestIdSchema,
  /** the `at` and `channel` of the last entry of the previous page */
  after: Type.Optional(Type.Object({ at: Type.Integer({ minimum: 0 }), channel: Channel })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 }))
})

/** The user is typing in a room this connection listens to, or in one of their direct conversations (`active: false`: stopped). */
export const TypingFrameSchema = Type.Object({
  type: Type.Literal('typing'),
  id: RequestIdSchema,
  channel: Channel,
  active: Type.Optional(Type.Boolean({ description: 'false: stopped typing (default true)' }))
})

/** The user has read `channel` up to `offset` (a room they are in, or one of their direct conversations). */
export const ReadFrameSchema = Type.Object({ type: Type.Literal('read'), id: RequestIdSchema, channel: Channel, offset: Offset })
/** Replaces the data of a message of yours (`offset`) in a room or one of your direct conversations. */
export const EditFrameSchema = Type.Object({
  type: Type.Literal('edit'), id: RequestIdSchema, channel: Channel, offset: Offset, data: Type.Unknown(), mid: Type.Optional(Mid)
})
/** Deletes a message of yours (`offset`): its data is gone from the store. */
export const DeleteFrameSchema = Type.Object({ type: Type.Literal('delete'), id: RequestIdSchema, channel: Channel, offset: Offset, mid: Type.Optional(Mid) })
/** Blocks a user (`block`): direct messages between the two are refused both ways; or unblocks them (`unblock`). */
export const BlockFrameSchema = Type.Object({ type: Type.Literal('block'), id: RequestIdSchema, user: Name })
export const UnblockFrameSchema = Type.Object({ type: Type.Literal('unblock'), id: RequestIdSchema, user: Name })
/** The users this user blocked. */
export const BlocksFrameSchema = Type.Object({ type: Type.Literal('blocks'), id: RequestIdSchema })
/** A change in a room by its owner or a moderator (types.ts Moderation). */
export const ModerateFrameSchema = Type.Object({
  type: Type.Literal('moderate'),
  id: RequestIdSchema,
  room: Name,
  action: Type.Union(['invite', 'kick', 'ban', 'unban', 'mute', 'unmute', 'role', 'settings'].map((a) => Type.Literal(a))),
  user: Type.Optional(Name),
  role: Type.Optional(Type.Union([Type.Literal('moderator'), Type.Literal('member')])),
  mode: Type.Optional(Type.Union([Type.Literal('public'), Type.Literal('invite')])),
  title: Type.Optional(Type.String({ maxLength: 100 })),
  topic: Type.Optional(Type.String({ maxLength: 500 }))
})
/** A room's settings, owner and the asker's role. */
export const RoomFrameSchema = Type.Object({ type: Type.Literal('room'), id: RequestIdSchema, room: Name })
/** A page of a room's members, with their roles, sorted by id. */
export const MembersFrameSchema = Type.Object({
  type: Type.Literal('members'), id: RequestIdSchema, room: Name, after: Type.Optional(Name), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 }))
})
/** How far each member has read `channel`. */
export const ReceiptsFrameSchema = Type.Object({ type: Type.Literal('receipts'), id: RequestIdSchema, channel: Channel })

export type RequestId = Static<typeof RequestIdSchema>
export type SendFrame = Static<typeof SendFrameSchema>
export type PublishFrame = Static<typeof PublishFrameSchema>
export type JoinFrame = Static<typeof JoinFrameSchema>
export type LeaveFrame = Static<typeof LeaveFrameSchema>
export type SubscribeFrame = Static<typeof SubscribeFrameSchema>
/** One channel of a `subscribe` of several. */
export type SubscribeEntry = NonNullable<SubscribeFrame['channels']>[number]
export type UnsubscribeFrame = Static<typeof UnsubscribeFrameSchema>
export type HistoryFrame = Static<typeof HistoryFrameSchema>
export type PresenceFrame = Static<typeof PresenceFrameSchema>
export type ConversationsFrame = Static<typeof ConversationsFrameSchema>
export type TypingFrame = Static<typeof TypingFrameSchema>
export type ReadFrame = Static<typeof ReadFrameSchema>
export type ReceiptsFrame = Static<typeof ReceiptsFrameSchema>
export type EditFrame = Static<typeof EditFrameSchema>
export type DeleteFrame = Static<typeof DeleteFrameSchema>
export type BlockFrame = Static<typeof BlockFrameSchema>
export type UnblockFrame = Static<typeof UnblockFrameSchema>
export type BlocksFrame = Static<typeof BlocksFrameSchema>
export type ModerateFrame = Static<typeof ModerateFrameSchema>
export type RoomFrame = Static<typeof RoomFrameSchema>
export type MembersFrame = Static<typeof MembersFrameSchema>
export type ClientFrame = SendFrame | PublishFrame | JoinFrame | LeaveFrame | SubscribeFrame | UnsubscribeFrame | HistoryFrame | PresenceFrame | ConversationsFrame |
  TypingFrame | ReadFrame | ReceiptsFrame | EditFrame | DeleteFrame | BlockFrame | UnblockFrame | BlocksFrame | ModerateFrame | RoomFrame |
  MembersFrame

const schemas = {
  send: SendFrameSchema,
  publish: PublishFrameSchema,
  join: JoinFrameSchema,
  leave: LeaveFrameSchema,
  subscribe: SubscribeFrameSchema,
  unsubscribe: UnsubscribeFrameSchema,
  history: HistoryFrameSchema,
  presence: PresenceFrameSchema,
  conversations: ConversationsFrameSchema,
  typing: TypingFrameSchema,
  read: ReadFrameSchema,
  receipts: ReceiptsFrameSchema,
  edit: EditFrameSchema,
  delete: DeleteFrameSchema,
  block: BlockFrameSchema,
  unblock: UnblockFrameSchema,
  blocks: BlocksFrameSchema,
  moderate: ModerateFrameSchema,
  room: RoomFrameSchema,
  members: MembersFrameSchema
} satisfies Record<ClientFrame['type'], TSchema>
const checkers = new Map<string, TypeCheck<TSchema>>(
  Object.entries(schemas).map(([type, schema]) => [type, TypeCompiler.Compile(schema)])
)
const checkId = TypeCompiler.Compile(RequestIdSchema)

export interface FrameError {
  readonly code: FrameErrorCode
  readonly message: string
  /** the request id, when the frame had a valid one */
  readonly id?: RequestId
}

export type ParseResult =
  | { readonly ok: true, readonly frame: ClientFrame }
  | { readonly ok: false, readonly error: FrameError }

/** Parses and validates one text frame. Never throws. */
export function parseFrame (text: string): ParseResult {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, error: { code: FrameErrorCodes.INVALID_JSON, message: 'frame is not valid JSON' } }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: { code: FrameErrorCodes.INVALID_FRAME, message: 'frame must be a JSON object' } }
  }
  const record = value as Record<string, unknown>
  const id = checkId.Check(record.id) ? record.id : undefined
  const withId = id === undefined ? {} : { id }
  const type = record.type
  if (typeof type !== 'string') {
    return { ok: false, error: { code: FrameErrorCodes.INVALID_FRAME, message: 'frame needs a string "type"', ...withId } }
  }
  const checker = checkers.get(type)
  if (checker === undefined) {
    return { ok: false, error: { code: FrameErrorCodes.UNKNOWN_TYPE, message: `unknown frame type ${JSON.stringify(type.slice(0, 32))}`, ...withId } }
  }
  if (!checker.Check(value)) {
    const first = checker.Errors(value).First()
    const where = first === undefined || first.path === '' ? '' : `${first.path.slice(1)}: `
    return { ok: false, error: { code: FrameErrorCodes.INVALID_FRAME, message: `${type}: ${where}${first?.message ?? 'invalid'}`, ...withId } }
  }
  if (type === 'subscribe' && (record.channel === undefined) === (record.channels === undefined)) {
    return { ok: false, error: { code: FrameErrorCodes.INVALID_FRAME, message: 'subscribe: give either "channel" or "channels"', ...withId } }
  }
  return { ok: true, frame: value as ClientFrame }
}

/**
 * The request id of a frame that will not be handled (rate-limited, binary), so that its error
 * can still carry it. Cheap: one pass over the top level of the object without building it; nested
 * values are skipped by counting brackets. Undefined when the text is not such an object or has no
 * valid id. (An `id` early in the frame is found soonest: the SDK puts it first.)
 */
export function peekRequestId (text: string): RequestId | undefined {
  let i = skipSpace(text, 0)
  if (text.charCodeAt(i) !== 0x7b) return undefined // {
  i++
  for (;;) {
    i = skipSpace(text, i)
    if (text.charCodeAt(i) !== 0x22) return undefined // a key
    const keyEnd = stringEnd(text, i)
    if (keyEnd < 0) return undefined
    const isId = keyEnd - i === 4 && text.startsWith('"id"', i)
    i = skipSpace(text, keyEnd)
    if (text.charCodeAt(i) !== 0x3a) return undefined // :
    i = skipSpace(text, i + 1)
    const valueEnd = valueEndAt(text, i)
    if (valueEnd < 0) return undefined
    if (isId) {
      let id: unknown
      try {
        id = JSON.parse(text.slice(i, valueEnd))
      } catch {
        return undefined
      }
      return checkId.Check(id) ? id : undefined
    }
    i = skipSpace(text, valueEnd)
    if (text.charCodeAt(i) !== 0x2c) return undefined // , (or the end: no id)
    i++
  }
}

function skipSpace (text: string, i: number): number {
  while (i < text.length && (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x0a || text.charCodeAt(i) === 0x0d || text.charCodeAt(i) === 0x09)) i++
  return i
}

/** The index just past the string starting at `i` (a quote), or -1. */
function stringEnd (text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    const c = text.charCodeAt(j)
    if (c === 0x5c) j++ // backslash: skip the escaped character
    else if (c === 0x22) return j + 1
  }
  return -1
}

/** The index just past the JSON value starting at `i`, or -1 (not validated: only its extent). */
function valueEndAt (text: string, i: number): number {
  const c = text.charCodeAt(i)
  if (c === 0x22) return stringEnd(text, i)
  if (c !== 0x7b && c !== 0x5b) {
    let j = i
    while (j < text.length && !',}] \n\r\t'.includes(text.charAt(j))) j++
    return j > i ? j : -1
  }
  let depth = 0
  for (let j = i; j < text.length; j++) {
    const d = text.charCodeAt(j)
    if (d === 0x22) {
      j = stringEnd(text, j) - 1
      if (j < 0) return -1
    } else if (d === 0x7b || d === 0x5b) {
      depth++
    } else if (d === 0x7d || d === 0x5d) {
      if (--depth === 0) return j + 1
    }
  }
  return -1
}
