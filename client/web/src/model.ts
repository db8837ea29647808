/**
 * What the chat page knows, without the DOM: conversations (rooms and
 * direct conversations), their messages in offset order, each once, unread
 * counts, and who is online where. The page renders from it.
 */
import { compareOffsets, dmChannel } from '../../sdk/index.js'
import type { Amendment, Message, RoomDetails, RoomMemberInfo } from '../../sdk/index.js'

/** the room everyone joins to see who is online; not shown as a room */
export const LOBBY = 'lobby'
/** messages per history request */
export const PAGE = 30

export interface ChatMessage {
  readonly offset: string
  readonly from: string
  /** changed by an edit; '' once deleted */
  text: string
  readonly ts: number
  edited: boolean
  deleted: boolean
  /** the offset of the message it answers */
  readonly replyTo?: string
}

export interface Conversation {
  /** `room:{name}` or `dm:{user}` */
  readonly id: string
  readonly kind: 'room' | 'dm'
  /** the room name or the other person's user id */
  readonly name: string
  /** the channel its messages come from: the room, or our direct conversation `dm:{a}:{b}` */
  readonly channel: string
  /** oldest first, one per offset */
  readonly messages: ChatMessage[]
  /** what the user wrote here and does not show among its messages yet, in the order written; `offset` once stored */
  readonly unsent: Array<{ readonly text: string, offset?: string }>
  unread: number
  /** the user's read position here, as last sent or heard from another device (the server keeps it) */
  read: string | undefined
  /** the newest offset the server's unread count covered when the list was read: a message up to it is counted already */
  countedTo: string | undefined
  /** the newest page of history was requested once */
  opened: boolean
  /** history holds nothing older than the oldest message shown */
  exhausted: boolean
}

/** A message from the sender of the one before it, within this long, is shown with it: the name and time once. */
export const GROUP_MS = 5 * 60_000

/** Whether `message` continues the group of `previous` (the message shown just before it). */
export function continues (previous: ChatMessage | undefined, message: ChatMessage): boolean {
  return previous !== undefined && previous.from === message.from && message.ts >= previous.ts && message.ts - previous.ts < GROUP_MS
}

export function textOf (data: unknown): string {
  if (typeof data === 'object' && data !== null && typeof (data as { text?: unknown }).text === 'string') return (data as { text: string }).text
  return JSON.stringify(data)
}

export class ChatModel {
  readonly conversations = new Map<string, Conversation>()
  /** users online, by room (the lobby: everyone signed in) */
  readonly online = new Map<string, Set<string>>()
  /** the open room's settings, your role and (for its owner and moderators) its members */
  roomDetails: { room: string, details: RoomDetails, members: RoomMemberInfo[] } | undefined
  /** the users this user blocked */
  readonly blocked = new Set<string>()
  /** rooms the client could not resubscribe (after a reconnect), with the server's error code: shown, not dropped */
  readonly refused = new Map<string, string>()
  active: string | undefined

  constructor (readonly me: string) {}

  room (name: string): Conversation {
    return this.#conversation(`room:${name}`, 'room', name, `room:${name}`)
  }

  dm (user: string): Conversation {
    return this.#conversation(`dm:${user}`, 'dm', user, dmChannel(this.me, user))
  }

  /** The conversation a message belongs to, or undefined for the lobby and for messages that are not chat. */
  conversationOf (message: Message): Conversation | undefined {
    if (message.channel === `room:${LOBBY}`) return undefined
    if (message.channel.startsWith('room:')) return this.room(message.channel.slice(5))
    if (message.channel !== dmChannel(message.from, message.to ?? '') || message.to === undefined) return undefined
    return this.dm(message.from === this.me ? message.to : message.from)
  }

  /**
   * Files a message in its conversation, in offset order. Returns where it went, or undefined
   * when it was already there (history and live delivery overlap) or is not chat.
   * `live` messages from others count as unread unless their conversation is being read.
   */
  add (message: Message, live: boolean, reading: boolean): { conversation: Conversation, index: number, item: ChatMessage } | undefined {
    const conversation = this.conversationOf(message)
    if (conversation === undefined) return undefined
    const { messages } = conversation
    let index = messages.length
    while (index > 0 && compareOffsets((messages[index - 1] as ChatMessage).offset, message.offset) > 0) index--
    const before = messages[index - 1]
    if (before !== undefined && compareOffsets(before.offset, message.offset) === 0) return undefined
    const item: ChatMessage = {
      offset: message.offset,
      from: message.from,
      text: message.deleted === true ? '' : textOf(message.data),
      ts: message.ts,
      edited: message.edited !== undefined,
      deleted: message.deleted === true,
      ...(message.replyTo === undefined ? {} : { replyTo: message.replyTo })
    }
    messages.splice(index, 0, item)
    // A message the list's count covered (it can arrive after the list, replayed after a reconnect) is not counted twice.
    const counted = conversation.countedTo !== undefined && compareOffsets(message.offset, conversation.countedTo) <= 0
    if (live && !counted && message.from !== this.me && !(reading && this.active === conversation.id)) conversation.unread++
    return { conversation, index, item }
  }

  /** The conversation of a channel (a room, or one of the user's direct conversations), or undefined for others and the lobby. */
  byChannel (channel: string): Conversation | undefined {
    if (channel === `room:${LOBBY}`) return undefined
    if (channel.startsWith('room:')) return this.room(channel.slice('room:'.length))
    const [kind, a, b] = channel.split(':')
    if (kind !== 'dm' || a === undefined || b === undefined || (a !== this.me && b !== this.me)) return undefined
    return this.dm(a === this.me ? b : a)
  }

  /**
   * The user's read position moved (on another device, or in the list): `unread` is the server's count then; a
   * message from someone else that arrived here since, after the position, still counts.
   */
  readUpTo (conversation: Conversation, offset: string | undefined, unread: number, countedTo?: string): void {
    if (countedTo !== undefined && countedTo !== '0-0') conversation.countedTo = countedTo
    if (offset !== undefined && (conversation.read === undefined || compareOffsets(offset, conversation.read) > 0)) conversation.read = offset
    const since = offset === undefined ? 0 : conversation.messages.filter((m) => m.from !== this.me && compareOffsets(m.offset, offset) > 0).length
    conversation.unread = Math.max(unread, since)
  }

  /** The offset to send as read when the user sees `conversation`: its newest message, if newer than what was read. */
  toMarkRead (conversation: Conversation): string | undefined {
    const newest = conversation.messages[conversation.messages.length - 1]?.offset
    if (newest === undefined || (conversation.read !== undefined && compareOffsets(newest, conversation.read) <= 0)) return undefined
    conversation.read = newest
    return newest
  }

  /** A message was edited or deleted: the one shown (if it is loaded) changes; returns it. */
  amend (amendment: Amendment): { conversation: Conversation, item: ChatMessage } | undefined {
    const conversation = this.byChannel(amendment.channel)
    const item = conversation?.messages.find((m) => m.offset === amendment.offset)
    if (conversation === undefined || item === undefined) return undefined
    if (amendment.kind === 'delete') {
      item.deleted = true
      item.text = ''
    } else {
      item.text = textOf(amendment.data)
      item.edited = true
    }
    return { conversation, item }
  }

  forget (id: string): void {
    this.conversations.delete(id)
    if (this.active === id) this.active = undefined
  }

  onlineIn (room: string): Set<string> {
    let users = this.online.get(room)
    if (users === undefined) this.online.set(room, users = new Set())
    return users
  }

  get unreadTotal (): number {
    let total = 0
    for (const conversation of this.conversations.values()) total += conversation.unread
    return total
  }

  #conversation (id: string, kind: 'room' | 'dm', name: string, channel: string): Conversation {
    let conversation = this.conversations.get(id)
    if (conversation === undefined) {
      conversation = { id, kind, name, channel, messages: [], unsent: [], unread: 0, read: undefined, countedTo: undefined, opened: false, exhausted: false }
      this.conversations.set(id, conversation)
    }
    return conversation
  }
}
