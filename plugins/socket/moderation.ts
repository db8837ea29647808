/**
 * Rooms with owners on the wire (docs/protocol.md §2.15): `moderate`, `room`
 * and `members` requests, what their refusals say, and the events a change
 * sends: to the room's listeners (who did what), to a member removed (a `left`
 * on their personal channel: every connection of theirs stops listening), and
 * to a user invited (on theirs).
 */
import { FrameErrorCodes } from '../errors.js'
import { roomChannel, userChannel } from '../names.js'
import type { JoinOutcome, Moderation, ModerationOutcome, RoomInfo, RoomMember, RoomRole, Store } from '../store/types.js'
import { leftEvent } from './frames.js'
import type { ModerateFrame, RequestId } from './protocol.js'

/** A refusal the connection sends as an `error` frame (connection.ts's Refusal, kept apart to stay free of it). */
export interface Refused {
  readonly code: typeof FrameErrorCodes.FORBIDDEN | typeof FrameErrorCodes.LIMIT_EXCEEDED | typeof FrameErrorCodes.INVALID_FRAME
  readonly message: string
  readonly reason?: string
}

/** Why a `join` was refused, or undefined when it was let in. */
export function joinRefusal (user: string, room: string, outcome: JoinOutcome): Refused | undefined {
  switch (outcome) {
    case 'joined': return undefined
    case 'limit': return { code: FrameErrorCodes.LIMIT_EXCEEDED, message: `${user} is a member of too many rooms; leave one first` }
    case 'banned': return { code: FrameErrorCodes.FORBIDDEN, message: `${user} is banned from ${room}`, reason: 'BANNED' }
    case 'invite_only': return { code: FrameErrorCodes.FORBIDDEN, message: `${room} is invite-only: its owner or a moderator must invite ${user} first`, reason: 'INVITE_ONLY' }
  }
}

/** The change a `moderate` frame asks for, or why it is malformed. */
export function moderationOf (frame: ModerateFrame): Moderation | Refused {
  if (frame.action === 'settings') {
    if (frame.mode === undefined && frame.title === undefined && frame.topic === undefined) {
      return { code: FrameErrorCodes.INVALID_FRAME, message: 'moderate: settings needs mode, title or topic' }
    }
    return { action: 'settings', ...(frame.mode === undefined ? {} : { mode: frame.mode }), ...(frame.title === undefined ? {} : { title: frame.title }), ...(frame.topic === undefined ? {} : { topic: frame.topic }) }
  }
  if (frame.user === undefined) return { code: FrameErrorCodes.INVALID_FRAME, message: `moderate: ${frame.action} needs user` }
  if (frame.action === 'role') {
    if (frame.role === undefined) return { code: FrameErrorCodes.INVALID_FRAME, message: 'moderate: role needs role (moderator or member)' }
    return { action: 'role', user: frame.user, role: frame.role }
  }
  return { action: frame.action as Exclude<Moderation['action'], 'role' | 'settings'>, user: frame.user }
}

/** What a refused change says. */
export function moderationRefusal (by: string, room: string, change: Moderation, outcome: ModerationOutcome): Refused | undefined {
  const who = 'user' in change ? change.user : ''
  switch (outcome) {
    case 'ok': return undefined
    case 'not_member': return { code: FrameErrorCodes.FORBIDDEN, message: `${by} is not a member of ${room}; join it first`, reason: 'NOT_MEMBER' }
    case 'role': return { code: FrameErrorCodes.FORBIDDEN, message: roleNeeded(change), reason: 'ROLE' }
    case 'target': return { code: FrameErrorCodes.FORBIDDEN, message: `${who} is not a member of ${room}${change.action === 'role' ? ' (or is its owner)' : ''}` }
    case 'banned': return { code: FrameErrorCodes.FORBIDDEN, message: `${who} is banned from ${room}; unban them first`, reason: 'BANNED' }
  }
}

function roleNeeded (change: Moderation): string {
  if (change.action === 'role' || (change.action === 'settings' && change.mode !== undefined)) return `only the room's owner may ${change.action === 'role' ? 'give roles' : 'change who may join'}`
  if (change.action === 'invite') return 'only the owner or a moderator may invite to an invite-only room'
  if (change.action === 'settings') return 'only the owner or a moderator may change the title and topic'
  return `only the owner or a moderator may ${change.action}, and only members of a lower role`
}

/** Tells of a change that was made: the room's listeners, and the member removed or the user invited. */
export async function tellModeration (store: Store, room: string, by: string, change: Moderation): Promise<void> {
  const channel = roomChannel(room)
  const event = JSON.stringify({ type: 'moderated', channel, by, ...change })
  const news = [store.publishEvent(channel, event)]
  if (change.action === 'kick' || change.action === 'ban') news.push(store.publishEvent(userChannel(change.user), leftEvent(channel)))
  if (change.action === 'invite') news.push(store.publishEvent(userChannel(change.user), JSON.stringify({ type: 'invited', channel, by })))
  await Promise.all(news)
}

export function moderatedReply (id: RequestId, room: string, change: Moderation): string {
  return JSON.stringify({ type: 'moderated', id, channel: roomChannel(room), ...change })
}

export function roomReply (id: RequestId, room: string, info: RoomInfo, role: RoomRole | undefined): string {
  return JSON.stringify({ type: 'room', id, channel: roomChannel(room), ...info, ...(role === undefined ? {} : { role }) })
}

export function membersReply (id: RequestId, room: string, page: { members: RoomMember[], more: boolean }): string {
  return JSON.stringify({ type: 'members', id, channel: roomChannel(room), members: page.members, ...(page.more ? { more: true } : {}) })
}
