/** Public types of the Switchboard client SDK (docs/protocol.md for the frames). */
import type { ReadState } from './reads.js'

/**
 * An event handler property: its parameter is checked both ways (a method's is), so the browser's
 * WebSocket and `ws`'s, whose handlers take their own fuller event types, are WebSocketLike as
 * they are, with no cast (under `strictFunctionTypes` a plain function type would refuse them).
 */
type EventHandler<E> = { handle (event: E): void }['handle']

/** The WebSocket surface the SDK uses: the browser's WebSocket, or `ws` in Node. */
export interface WebSocketLike {
  readonly readyState: number
  onopen: EventHandler<unknown> | null
  onmessage: EventHandler<{ data: unknown }> | null
  onclose: EventHandler<{ code: number, reason: string }> | null
  onerror: EventHandler<unknown> | null
  send (data: string): void
  close (code?: number, reason?: string): void
}
export type WebSocketConstructor = new (url: string) => WebSocketLike

export type FetchLike = (url: string, init?: { headers?: Record<string, string> }) => Promise<{
  readonly status: number
  readonly headers: { get (name: string): string | null }
  json (): Promise<unknown>
}>

export type Auth =
  /** dev mode: `?user=` (only where the registry allows it) */
  | { readonly user: string }
  /** a bearer JWT from your identity provider, or a function returning a fresh one */
  | { readonly token: string | (() => string | Promise<string>) }

export interface ClientOptions {
  /** base URL of the registry (or nginx in front of registries), e.g. `https://chat.example.com` */
  readonly registryUrl: string
  readonly auth: Auth
  /** default: globalThis.WebSocket (pass `WebSocket` from `ws` on Node 20) */
  readonly WebSocket?: WebSocketConstructor
  /** default: globalThis.fetch */
  readonly fetch?: FetchLike
  /** reconnect backoff: full jitter between 0 and min(maxMs, baseMs·2^attempt) */
  readonly backoff?: { readonly baseMs?: number, readonly maxMs?: number }
}

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed'

export interface Message {
  /** `room:{name}`, or the direct conversation `dm:{a}:{b}` (the two user ids in order) */
  readonly channel: string
  readonly offset: string
  /** the channel's epoch (offsets compare only within one); absent on messages stored before protocol 2 */
  readonly epoch?: string
  readonly from: string
  /** direct messages: the recipient */
  readonly to?: string
  /** the sender's message id, when it gave one */
  readonly mid?: string
  readonly data: unknown
  /** server time when it was accepted, ms */
  readonly ts: number
  /** the offset of the message of this channel it answers */
  readonly replyTo?: string
  /** when its data was last edited, ms (server time) */
  readonly edited?: number
  /** it was deleted: its `data` is null */
  readonly deleted?: true
}

/** `send` and `publish` options. */
export interface MessageOptions {
  /** the offset of the message of the same conversation this one answers */
  readonly replyTo?: string
}

/** A change in a room by its owner or a moderator (`moderate()`). */
export type RoomChange =
  | { readonly action: 'invite' | 'kick' | 'ban' | 'unban' | 'mute' | 'unmute', readonly user: string }
  | { readonly action: 'role', readonly user: string, readonly role: 'moderator' | 'member' }
  | { readonly action: 'settings', readonly mode?: 'public' | 'invite', readonly title?: string, readonly topic?: string }

/** A change in a room this client listens to (the `moderated` event). */
export type Moderated = RoomChange & { readonly channel: string, readonly by: string }

export interface RoomDetails {
  readonly mode: 'public' | 'invite'
  /** undefined for a room made before rooms had owners */
  readonly owner?: string
  readonly title: string
  readonly topic: string
  /** yours, when you are a member */
  readonly role?: 'owner' | 'moderator' | 'member'
}

export interface RoomMemberInfo {
  readonly user: string
  readonly role: 'owner' | 'moderator' | 'member'
  readonly muted: boolean
}

/** A message was edited or deleted (the `amend` event). */
export interface Amendment {
  readonly kind: 'edit' | 'delete'
  readonly channel: string
  /** the message amended */
  readonly offset: string
  /** who amended it: its author (or a room's moderator) */
  readonly from: string
  /** an edit's new data (null for a delete) */
  readonly data: unknown
  /** when, ms (server time) */
  readonly at: number
  /** the amendment's own offset in the channel */
  readonly amendment: string
}

export interface PresenceEvent {
  readonly type: 'join' | 'leave'
  readonly channel: string
  readonly user: string
}

/** Who is online in a room now: replaces what the presence events said so far (they resume after it). */
export interface PresenceSnapshot {
  readonly channel: string
  readonly users: readonly string[]
}

export interface Ack {
  readonly channel: string
  readonly offset: string
}

/** A conversation of the user's (a direct conversation or a room), as `conversations()` lists it. */
export interface Conversation {
  /** `dm:{a}:{b}` or `room:{name}` */
  readonly channel: string
  /** direct conversations: the other user (yourself, for your conversation with yourself) */
  readonly with?: string
  /** rooms: the room's name */
  readonly room?: string
  /** when it last had a message, ms since epoch (the store's clock); 0 for a room without messages */
  readonly at: number
  /** its epoch and newest offset ('-' and '0-0' when it has no history) */
  readonly epoch: string
  readonly offset: string
  /** messages after your read position that others sent (your own are never unread) */
  readonly unread: number
  /** your read position in this epoch, when you have one */
  readonly read?: string
  /** its newest message, when it is at most 4 KiB (read a bigger one with `history`) */
  readonly last?: Message
}

/** The user's read position in a conversation moved (`read` event, and what `markRead` resolves with). */
export type { ReadState } from './reads.js'

/** How far another member has read a conversation. */
export interface Receipt {
  readonly channel?: string
  readonly user: string
  readonly epoch?: string
  readonly offset: string
}

export interface ClientEvents {
  message: (message: Message) => void
  presence: (event: PresenceEvent) => void
  /**
   * who is online in a room now, unasked: the server healed a gap in its delivery (a Redis failover, say), and
   * the presence events of the gap were lost (they are not stored). Replace the room's list with it
   */
  presenceSnapshot: (snapshot: PresenceSnapshot) => void
  /** `delayMs` is set while reconnecting: the wait before the next attempt */
  state: (state: ConnectionState, detail: { delayMs?: number, reason?: string }) => void
  /** the user joined `room` from another of their connections (or devices): this client now listens to it too */
  joined: (room: string) => void
  /** the user left `room` from another of their connections (or devices): this client stopped listening to it */
  left: (room: string) => void
  /** messages of `channel` may have been missed and cannot be replayed: reload its history */
  reset: (channel: string) => void
  /**
   * a channel this client held could not be (re)subscribed, e.g. after a reconnect: refused
   * (`FORBIDDEN`: no longer a member; `LIMIT_EXCEEDED`: too many channels). Also a room whose
   * publish was refused because the user is no longer a member of it (the membership was lost on
   * the server's side: a failover, a Redis restarted empty). The client stopped listening to it
   * and no longer resubscribes it; join it again to get it back
   */
  subscribeFailed: (failure: SubscribeFailure) => void
  /**
   * someone started (`active`) or stopped typing in a conversation: a room this client listens to, or one of
   * the user's direct conversations. Stops come from the typist, from their message there, from the event
   * expiring, and for everyone when the connection is lost. The user's own typing is not reported
   */
  typing: (event: TypingEvent) => void
  /**
   * the user's read position in a conversation moved, on one of their connections or devices (this one included):
   * show `unread` as its badge
   */
  read: (state: ReadState) => void
  /** another member (or the user elsewhere, in a room) has read a conversation up to `offset` */
  receipt: (receipt: Required<Receipt>) => void
  /**
   * a message was edited or deleted (by its author, or a room's moderator), live or while this client was away (the
   * replay brings it): show the new data, or remove the message. Each once, in order with the channel's messages
   */
  amend: (amendment: Amendment) => void
  /** a change in a room this client listens to, by its owner or a moderator (a member kicked or banned also gets `left`) */
  moderated: (change: Moderated) => void
  /** the user was invited to a room (join it with `join`) */
  invited: (invitation: { room: string, by: string }) => void
  /** the user blocked (or unblocked) `user`, on this client or another of their connections */
  blocked: (change: { user: string, blocked: boolean }) => void
  /** a failure the application should know about (e.g. authentication refused) */
  error: (error: SwitchboardError) => void
}

/** Someone started (`active`) or stopped typing in a conversation (`room:` or `dm:` channel). */
export interface TypingEvent {
  readonly channel: string
  readonly user: string
  readonly active: boolean
}

/** A channel that could not be (re)subscribed, and why. */
export interface SubscribeFailure {
  readonly channel: string
  /** the room's name, for `room:` channels */
  readonly room?: string
  /** the protocol's error code, e.g. `FORBIDDEN` */
  readonly code: string
  readonly message: string
}

export class SwitchboardError extends Error {
  /** `code` QUOTA_EXCEEDED: when the user may store messages again, ms from now */
  readonly retryAfterMs: number | undefined

  constructor (readonly code: string, message: string, retryAfterMs?: number) {
    super(message)
    this.name = 'SwitchboardError'
    this.retryAfterMs = retryAfterMs
  }
}
