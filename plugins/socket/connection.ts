/**
 * One client connection: its identity, the channels it listens to, and the
 * handling of its frames. Kept to a few fields: a server holds many.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket, RawData } from 'ws'
import { CloseCode, FrameErrorCodes } from '../errors.js'
import type { FrameErrorCode } from '../errors.js'
import { dmChannel, isChannel, isDmChannel, participantsOf, roomChannel, userChannel } from '../names.js'
import { compareOffsets } from '../store/types.js'
import type { AmendResult, LiveFrame, Position, Store, StoredFrame } from '../store/types.js'
import {
  ackFrame, amendmentPrefix, doneFrame, errorFrame, historyFrame, joinedEvent, joinedFrame, leftEvent, leftEventChannel, messagePrefix,
  presenceFrame, subscribedBatchFrame, subscribedFrame, typingReply
} from './frames.js'
import { TypingState, typingEvent } from './typing.js'
import { DeliveryGate } from './gate.js'
import type { SubscribeResult } from './frames.js'
import type { Hub, Listener } from './hub.js'
import { corkForThisTurn } from './cork.js'
import type { CorkOwner, Corkable } from './cork.js'
import { Lanes } from './lanes.js'
import { FrameBudget } from './limits.js'
import { Outbox, OutboxClosedError } from './outbox.js'
import { historyParts, replayParts } from './parts.js'
import { conversationsParts, readFrame, receiptsFrame, tellRead } from './reading.js'
import { BlockView, blockChange, blockNotice, blockedEvent, blockedReply, blocksReply, eventUser } from './blocks.js'
import { joinRefusal, membersReply, moderatedReply, moderationOf, moderationRefusal, roomReply, tellModeration } from './moderation.js'
import type { Refused } from './moderation.js'
import type { NextPart, OutboxLimits, OutboxSocket } from './outbox.js'
import { sharedTextFrame } from './text-frame.js'
import type { ConnectionLimits } from './limits.js'
import type { SocketMeter } from './meter.js'
import type { PresenceTracker } from './presence.js'
import { parseFrame, peekRequestId } from './protocol.js'
import { isStoreFull } from '../store/full.js'
import type {
  ClientFrame, ConversationsFrame, FrameError, HistoryFrame, JoinFrame, LeaveFrame, PresenceFrame, PublishFrame, RequestId, SendFrame, SubscribeEntry,
  DeleteFrame, EditFrame, MembersFrame, ModerateFrame, ReadFrame, ReceiptsFrame, TypingFrame, UnsubscribeFrame
} from './protocol.js'

/** Decides whether `user` may join `room` (open by default). */
export type AuthorizeJoin = (user: string, room: string) => boolean | Promise<boolean>

/** What every connection of one server shares. */
export interface ConnectionContext {
  readonly store: Store
  readonly hub: Hub
  readonly presence: PresenceTracker
  readonly log: FastifyBaseLogger
  readonly authorizeJoin: AuthorizeJoin
  /** every local connection of a user */
  readonly byUser: Map<string, Set<Connection>>
  /** consecutive invalid frames after which the connection is closed with 4400 */
  readonly maxViolations: number
  readonly limits: ConnectionLimits
  /** how MAX_BUFFERED_BYTES is shared out while replies are sent in parts (outbox.ts) */
  readonly outbox: OutboxLimits
  readonly meter: SocketMeter
}

/** A refusal that becomes an error frame for the request that caused it. */
class Refusal extends Error {
  constructor (readonly code: FrameErrorCode, message: string, readonly extra?: Readonly<Record<string, string | number>>) {
    super(message)
  }
}

/** The refusal of a room request by a user who is not in the room: `reason` lets a client tell it from other refusals. */
function notMember (user: string, channel: string): Refusal {
  return new Refusal(FrameErrorCodes.FORBIDDEN, `${user} is not a member of ${channel}; join it first`, { reason: 'NOT_MEMBER' })
}

/** Throws a refusal (moderation.ts) as the error frame it is. */
function refuse (refused: Refused | undefined): void {
  if (refused !== undefined) throw new Refusal(refused.code, refused.message, refused.reason === undefined ? undefined : { reason: refused.reason })
}

/** The offset of an accepted append, or the refusal its status means. */
function accepted (result: AmendResult, forbidden: string): string {
  if (result.status === 'forbidden') throw new Refusal(FrameErrorCodes.FORBIDDEN, forbidden, { reason: 'NOT_MEMBER' })
  if (result.status === 'missing') throw new Refusal(FrameErrorCodes.NOT_FOUND, 'no such message: never stored, no longer in history, an edit or delete itself, or deleted')
  if (result.status === 'not_author') throw new Refusal(FrameErrorCodes.FORBIDDEN, 'only its author may edit or delete a message')
  if (result.status === 'blocked') throw new Refusal(FrameErrorCodes.FORBIDDEN, 'direct messages between these two users are blocked', { reason: 'BLOCKED' })
  if (result.status === 'muted') throw new Refusal(FrameErrorCodes.FORBIDDEN, 'you are muted in this room', { reason: 'MUTED' })
  if (result.status === 'too_old') {
    throw new Refusal(FrameErrorCodes.FORBIDDEN, 'only a conversation\'s 100 newest entries can be edited or deleted', { reason: 'TOO_OLD' })
  }
  if (result.status === 'quota') {
    throw new Refusal(FrameErrorCodes.QUOTA_EXCEEDED, `storage quota used up: too many ${result.budget === 'channels' ? 'conversations and rooms written' : result.budget} ` +
      `in this window; it starts again in ${Math.ceil(result.retryAfterMs / 1000)} s`, { budget: result.budget, retryAfterMs: result.retryAfterMs })
  }
  return result.offset
}

/** A connection's gate: marks dropped once a newer frame went out, and kept for at most 256 channels (a quiet conversation's would stay). */
const GATE = Object.freeze({ compare: compareOffsets, forget: true, maxMarks: 256 })

/** The request cannot be answered any more (the connection closed, or its reply already went out): no error frame. */
class Unanswerable extends Error {}

const EMPTY = Buffer.alloc(0)
const noop = (): void => {}

export class Connection implements Listener, OutboxSocket, CorkOwner {
  readonly user: string
  readonly socket: WebSocket
  /** the channels this connection has a live subscription to (its personal channel and rooms) */
  readonly channels = new Set<string>()
  readonly #personal: string
  readonly #context: ConnectionContext
  /** what goes out, what waits while a channel attaches, and what the client already has (gate.ts) */
  readonly #gate = new DeliveryGate(GATE)
  /** membership operations, one channel at a time, in arrival order (lanes.ts) */
  #lanes: Lanes | undefined
  /** while a reply is sent in parts, or frames wait behind one (outbox.ts) */
  #outbox: Outbox | undefined
  /** per channel, `left` events of leaves already applied here (from this server), to ignore when they come back */
  #echoes: Map<string, number> | undefined
  /** whom this user blocked and who blocked them (blocks.ts), once needed */
  #blocks: BlockView | undefined
  /** the conversations this connection said its user is typing in (typing.ts), once it has */
  #typing: TypingState | undefined
  #released = false
  #violations = 0
  #floods = 0
  /** frames go to the TCP socket as built by textFrame() */
  readonly #plain: boolean
  readonly #budget: FrameBudget
  /** when the last ping went out unanswered (0 = answered) */
  pingedAt = 0

  constructor (context: ConnectionContext, socket: WebSocket, user: string) {
    this.#context = context
    this.socket = socket
    // Without permessage-deflate `ws` writes every frame at once, so ours can go to the socket directly (see text-frame.ts).
    this.#plain = socket.extensions === ''
    this.user = user
    this.#personal = userChannel(user)
    this.#budget = new FrameBudget(context.limits.frameRate, context.limits.frameBurst)
  }

  deliver (via: string, frame: LiveFrame): void {
    if (frame.offset === undefined) {
      if (via === this.#personal) {
        // A `leave` from another of the user's connections (any server) reaches this one on the personal channel.
        const left = leftEventChannel(frame.text)
        if (left !== undefined && left !== via) this.#onLeftEvent(left)
        // Blocks changed: this user's (the client is told), or someone blocked them (the server keeps that to itself).
        const change = blockChange(frame.text)
        if (change !== undefined) {
          this.#blockView().apply(change)
          if (change.kind === 'notice') return
        }
      }
      // Neither of two users one of whom blocked the other sees the other's typing or receipts.
      const user = eventUser(frame.text)
      if (user !== undefined && user !== this.user) {
        const view = this.#blockView()
        const hidden = view.hides(user)
        if (hidden === true) return
        if (hidden === undefined) {
          view.ready().then(() => { if (view.hides(user) === false) this.#pass(via, frame) }, noop)
          return
        }
      }
    }
    this.#pass(via, frame)
  }

  /** Exactly once (gate.ts): a frame of a channel being attached waits, and counts in the budget; a second copy is dropped. */
  #pass (via: string, frame: LiveFrame): void {
    if (this.#gate.live(frame, via)) this.send(frame.text)
    else if (this.#gate.heldBytes > 0) this.#ensureOutbox().checkBudget()
  }

  #blockView (): BlockView {
    this.#blocks ??= new BlockView(async () => await this.#context.store.blocks(this.user))
    return this.#blocks
  }

  /** Sends a frame: at once, or behind what waits in the outbox. */
  send (frame: string): void {
    if (this.socket.readyState !== 1) return
    if (this.#outbox !== undefined) {
      this.#outbox.push(frame)
      return
    }
    this.write(frame)
    // A client that does not read makes its unsent data pile up here: cut it off instead of growing.
    if (this.socket.bufferedAmount > this.#context.limits.maxBufferedBytes) this.#slowConsumer()
  }

  // OutboxSocket: what the outbox writes through.
  get open (): boolean { return this.socket.readyState === 1 }
  get buffered (): number { return this.socket.bufferedAmount }

  write (frame: string): void {
    const raw = this.#raw()
    if (raw === undefined) {
      this.socket.send(frame)
    } else {
      corkForThisTurn(raw, this)
      if (this.#plain) raw.write(sharedTextFrame(frame))
      else this.socket.send(frame)
    }
    this.#context.meter.frameOut()
  }

  /** A relay gap on `via` could not be healed from history (hub.ts): the client reconnects and recovers by itself. */
  relayLost (_via: string): void {
    if (this.socket.readyState === 1) this.socket.close(CloseCode.RELAY_INTERRUPTED, 'relay interrupted; reconnect to recover')
  }

  /**
   * A gap of `via` was healed: its messages reached this client, its events did not. For a room, the client
   * gets who is online now (`online`), in the room's lane, after the membership operations asked before it.
   * A `left` event of the user's lost in a gap of the personal channel is not made good here: a membership
   * the store no longer has may as well have been lost with the store (a Redis restarted empty), and this
   * connection would then drop the room silently. It stops at the next reconnect, when the resubscription is
   * refused and the client says so (the SDK's `subscribeFailed`).
   */
  afterGap (via: string, online: readonly string[] | undefined): void {
    if (online === undefined) return
    this.#inLane(via, async () => { if (this.channels.has(via)) this.send(presenceFrame(undefined, via, online)) }).catch(noop)
  }

  /** Its TCP socket could not be uncorked: frames may be stuck in it, so the client reconnects and recovers them. */
  uncorkFailed (err: unknown): void {
    this.#context.log.error({ err, user: this.user }, 'could not uncork a socket; connection dropped')
    this.socket.terminate()
  }

  flushed (done: () => void): void {
    const raw = this.#raw()
    // An empty write's callback runs once everything before it has left the process.
    if (this.#plain && raw !== undefined) raw.write(EMPTY, () => { done() })
    // permessage-deflate: `ws` compresses and queues frames itself; look again shortly.
    else setTimeout(done, 20).unref()
  }

  #raw (): (Corkable & { write (chunk: Buffer, cb?: () => void): boolean }) | undefined {
    return (this.socket as unknown as { _socket?: Corkable & { write (chunk: Buffer, cb?: () => void): boolean } })._socket
  }

  #ensureOutbox (): Outbox {
    this.#outbox ??= new Outbox(this, this.#context.outbox, {
      overflow: () => { this.#slowConsumer() },
      idle: () => { this.#outbox = undefined },
      held: () => this.#gate.heldBytes
    })
    return this.#outbox
  }

  /** Sends a reply in parts under the budget (see outbox.ts). */
  async #stream (next: NextPart): Promise<void> {
    if (this.#released) throw new Unanswerable()
    await this.#ensureOutbox().stream(next)
  }

  #slowConsumer (): void {
    if (this.socket.readyState !== 1) return
    this.#context.log.info({ user: this.user, buffered: this.socket.bufferedAmount, waiting: this.#gate.heldBytes }, 'slow consumer closed')
    this.#context.meter.slowConsumer()
    this.socket.close(CloseCode.SLOW_CONSUMER, 'slow consumer: too much unsent data')
  }

  /** Runs a membership operation on `channel` after the ones before it (lanes.ts). */
  #inLane (channel: string, task: () => Promise<void>): Promise<void> {
    this.#lanes ??= new Lanes()
    return this.#lanes.run(channel, task)
  }

  /**
   * Starts listening to a channel without a gap (the welcome's personal channel): see #listen.
   * `reply` builds the reply frame from the position.
   */
  async attach (channel: string, since: Position | undefined, reply: (position: Position, recovered: boolean | undefined) => string | Promise<string>): Promise<void> {
    await this.#listen(channel, since, async (position, recovered) => { this.send(await reply(position, recovered)) })
  }

  /**
   * Starts listening to a channel without a gap: live frames are held while
   * the position (or the replay after `since`) is read; `announce` sends the
   * reply (it may wait, for a reply that covers several channels), then the
   * replay follows in pages, then the held frames newer than what the reply
   * and replay cover. From the reply on, the client gets every message after
   * its offset exactly once. A failure after the reply went out cannot be
   * answered: the connection is closed so that the client recovers again.
   */
  async #listen (channel: string, since: Position | undefined, announce: (position: Position, recovered: boolean | undefined) => Promise<void>): Promise<void> {
    const { hub, store, presence, outbox } = this.#context
    // A direct conversation needs no subscription: its frames come through the personal channel.
    const alreadyListening = this.channels.has(channel) || isDmChannel(channel)
    let counted = false
    let announced = false
    this.#gate.hold(channel)
    try {
      if (!alreadyListening) {
        if (channel !== userChannel(this.user)) this.#checkRoomLimit()
        if (this.#released) throw new Unanswerable()
        this.channels.add(channel)
        await hub.add(channel, this)
        // After the subscription is live, so the user's own join event reaches them too, on every store.
        presence.add(channel, this.user)
        counted = true
      }
      // Held frames at or before the boundary are already covered: by the replay, or by the position
      // the reply reports (everything up to it is history, readable with `history`).
      let boundary: string
      // A conversation's frames come through the personal channel: the relay heals a gap of theirs there.
      const via = isDmChannel(channel) ? this.#personal : channel
      if (since === undefined) {
        const position = await store.position(channel)
        hub.noteBoundary(via, channel, position)
        announced = true
        await announce(position, undefined)
        boundary = position.offset
      } else {
        const recovery = await store.recover(channel, since, outbox.page)
        hub.noteBoundary(via, channel, recovery)
        announced = true
        await announce(recovery, recovery.recovered)
        // Pages are read in the channel's epoch (a `since` in NO_HISTORY recovers a conversation begun since).
        boundary = recovery.recovered ? await this.#replay(channel, { epoch: recovery.epoch, offset: since.offset }, recovery.offset, recovery.messages) : recovery.offset
      }
      // A personal channel's own frames are events (nothing is stored on it any more): no mark to keep for it.
      for (const frame of this.#gate.open(channel, channel === this.#personal ? undefined : boundary)) this.send(frame.text)
    } catch (err) {
      if (!alreadyListening) this.#undo(channel, counted)
      // A channel still listened to (a conversation, or a room asked for again) loses nothing to a failed attach:
      // what it held goes out as if it had not been asked.
      else if (!announced) for (const frame of this.#gate.abandon(channel)) this.send(frame.text)
      if (!announced) throw err
      if (!(err instanceof Unanswerable) && !(err instanceof OutboxClosedError)) {
        this.#context.log.warn({ err, user: this.user, channel }, 'replay interrupted')
        this.socket.close(CloseCode.RELAY_INTERRUPTED, 'replay interrupted; reconnect to recover')
      }
      throw new Unanswerable()
    } finally {
      if (this.#gate.isHolding(channel)) this.#gate.forgetChannel(channel)
      this.#outbox?.settle()
    }
  }

  /** Sends the replay after `since` up to `upTo` in pages (the first one already read); returns the offset of the last frame read. */
  async #replay (channel: string, since: Position, upTo: string, first: StoredFrame[]): Promise<string> {
    if (first.length === 0) return since.offset
    const pass = (frame: StoredFrame): boolean => this.#gate.replayed({ channel, offset: frame.offset, text: frame.text })
    const parts = replayParts(this.#context.store, channel, since, upTo, first, this.#context.outbox.page, pass)
    await this.#stream(parts.next)
    return parts.last()
  }

  #checkRoomLimit (): void {
    const { maxChannels } = this.#context.limits
    const rooms = this.channels.size - (this.channels.has(userChannel(this.user)) ? 1 : 0)
    if (rooms >= maxChannels) throw new Refusal(FrameErrorCodes.LIMIT_EXCEEDED, `a connection may listen to at most ${maxChannels} channels besides its personal one`)
  }

  /** Rolls back a failed attach. */
  #undo (channel: string, counted: boolean): void {
    if (!this.channels.delete(channel)) return
    this.#context.hub.remove(channel, this)
    if (counted) this.#context.presence.remove(channel, this.user)
  }

  detach (channel: string): void {
    this.#gate.forgetChannel(channel)
    if (!this.channels.delete(channel)) return
    this.#context.hub.remove(channel, this)
    this.#context.presence.remove(channel, this.user)
    // Not listening any more, not typing there any more either.
    if (this.#typing?.end(channel, Date.now()) === true) this.#relayTyping(channel, false).catch(noop)
  }

  /** Called once when the socket closes: stop listening everywhere, after any operation under way on each channel. */
  release (): void {
    this.#released = true
    this.#outbox?.close()
    this.#outbox = undefined
    for (const channel of this.#typing?.close(Date.now()) ?? []) this.#relayTyping(channel, false).catch(noop)
    for (const channel of [...this.channels]) this.#inLane(channel, async () => { this.detach(channel) }).catch(noop)
  }

  /** A leave of this user reached this connection as a `left` event: stop listening, in order, unless it was applied here already. */
  #onLeftEvent (channel: string): void {
    const expected = this.#echoes?.get(channel)
    if (expected !== undefined) {
      if (expected > 1) this.#echoes?.set(channel, expected - 1)
      else this.#echoes?.delete(channel)
      if (this.#echoes?.size === 0) this.#echoes = undefined
      return
    }
    this.#inLane(channel, async () => { this.detach(channel) }).catch(noop)
  }

  /** The `left` event of a leave applied here will come back: it must not undo a join made after it. */
  #expectEcho (channel: string, change: 1 | -1): void {
    const count = (this.#echoes?.get(channel) ?? 0) + change
    this.#echoes ??= new Map()
    if (count > 0) this.#echoes.set(channel, count)
    else this.#echoes.delete(channel)
    if (this.#echoes.size === 0) this.#echoes = undefined
  }

  onFrame (data: RawData, isBinary: boolean): void {
    if (!this.#budget.take()) {
      this.#context.meter.rateLimited()
      // Dropped unhandled, but its id is found (cheaply) so that the client knows which request to resend.
      this.send(errorFrame(FrameErrorCodes.RATE_LIMITED, 'too many frames; slow down, then resend', peekRequestId(data.toString())))
      if (++this.#floods >= this.#context.limits.floodTolerance) this.socket.close(CloseCode.RATE_LIMITED, 'rate limited')
      return
    }
    this.#floods = 0
    if (isBinary) {
      const id = peekRequestId(data.toString())
      this.#reject({ code: FrameErrorCodes.INVALID_FRAME, message: 'binary frames are not supported; send JSON text frames', ...(id === undefined ? {} : { id }) })
      return
    }
    const parsed = parseFrame(data.toString())
    if (!parsed.ok) {
      this.#reject(parsed.error)
      return
    }
    this.#violations = 0
    const frame = parsed.frame
    this.#context.meter.frameIn(frame.type)
    this.#handle(frame).catch((err: unknown) => this.#failed(frame.id, err))
  }

  // Not async (the hot path): each handler's own promise is returned as it is.
  #handle (frame: ClientFrame): Promise<void> {
    switch (frame.type) {
      case 'send': return this.#send(frame)
      case 'publish': return this.#publish(frame)
      case 'join': return this.#inLane(roomChannel(frame.room), async () => { await this.#join(frame) })
      case 'leave': return this.#inLane(roomChannel(frame.room), async () => { await this.#leave(frame) })
      case 'subscribe': return frame.channels !== undefined
        ? this.#subscribeMany(frame.id, frame.channels)
        : this.#inLane(frame.channel ?? '', async () => { await this.#subscribe(frame.id, frame.channel ?? '', frame.since) })
      case 'unsubscribe': return this.#inLane(frame.channel, async () => { this.#unsubscribe(frame) })
      case 'history': return this.#history(frame)
      case 'presence': return this.#presence(frame)
      case 'conversations': return this.#conversations(frame)
      case 'typing': return this.#typingFrame(frame)
      case 'edit':
      case 'delete': return this.#amend(frame)
      case 'block': return this.#block(frame.user, true, frame.id)
      case 'unblock': return this.#block(frame.user, false, frame.id)
      case 'blocks': return this.#context.store.blocks(this.user).then(({ blocked }) => { this.send(blocksReply(frame.id, blocked)) })
      case 'moderate': return this.#moderate(frame)
      case 'room': return this.#roomInfo(frame.id, frame.room)
      case 'members': return this.#members(frame)
      case 'read': return this.#read(frame)
      case 'receipts': return this.#receipts(frame)
    }
  }

  async #send (frame: SendFrame): Promise<void> {
    const from = this.user
    const to = frame.to
    // One conversation per pair, stored once: a stranger's messages have a history of their own and cannot push out anyone else's.
    const channel = dmChannel(from, to)
    const now = Date.now()
    const result = await this.#context.store.append({
      channel,
      framePrefix: messagePrefix(channel, from, to, JSON.stringify(frame.data), now, frame.mid, frame.replyTo),
      sender: from,
      mid: frame.mid,
      participants: participantsOf(channel),
      ...(to === from ? {} : { recipient: to })
    })
    this.#typing?.sent(channel, now)
    this.send(ackFrame(frame.id, channel, accepted(result, 'not allowed')))
  }

  async #publish (frame: PublishFrame): Promise<void> {
    const channel = this.#channel(frame.channel)
    if (!channel.startsWith('room:')) throw new Refusal(FrameErrorCodes.FORBIDDEN, 'publish goes to room: channels; send a direct message with "send"')
    const now = Date.now()
    const prefix = messagePrefix(channel, this.user, null, JSON.stringify(frame.data), now, frame.mid, frame.replyTo)
    const result = await this.#context.store.append({ channel, framePrefix: prefix, sender: this.user, mid: frame.mid, requireMember: true })
    if (result.status === 'forbidden') {
      // Listening to a room the store says this user is not in: the membership was lost (a failover took a join with it,
      // or a Redis restarted empty). Stop listening too, so that this connection agrees with the store.
      if (this.channels.has(channel)) this.#inLane(channel, async () => { this.detach(channel) }).catch(noop)
      throw notMember(this.user, channel)
    }
    this.#typing?.sent(channel, now)
    this.send(ackFrame(frame.id, channel, accepted(result, `${this.user} may not publish to ${channel}`)))
  }

  /** An edit or delete of one of the user's messages, in a room they are in or one of their direct conversations. */
  async #amend (frame: EditFrame | DeleteFrame): Promise<void> {
    const channel = this.#channel(frame.channel)
    const participants = participantsOf(channel)
    if (!channel.startsWith('room:') && participants?.includes(this.user) !== true) {
      throw new Refusal(FrameErrorCodes.FORBIDDEN, 'messages are edited and deleted in rooms and in your own direct conversations')
    }
    const to = participants === undefined ? null : participants.find((p) => p !== this.user) ?? this.user
    const now = Date.now()
    const dataJson = frame.type === 'edit' ? JSON.stringify(frame.data) : 'null'
    // A room's owner and moderators may delete anyone's message there (not put words in their mouth).
    const moderating = participants === undefined && frame.type === 'delete' && await this.#context.store.roleOf(channel.slice('room:'.length), this.user)
      .then((role) => role === 'owner' || role === 'moderator')
    const result = await this.#context.store.amend({
      channel,
      target: frame.offset,
      anyone: moderating,
      kind: frame.type,
      dataJson,
      at: now,
      framePrefix: amendmentPrefix(channel, this.user, to, frame.type, frame.offset, dataJson, now, frame.mid),
      sender: this.user,
      mid: frame.mid,
      // A block stops edits, not deletes: either may still take back what they said.
      ...(participants === undefined ? { requireMember: true } : { participants, ...(to === null || to === this.user || frame.type === 'delete' ? {} : { recipient: to }) })
    })
    this.send(ackFrame(frame.id, channel, accepted(result, `${this.user} is not a member of ${channel}; join it first`)))
  }

  async #typingFrame (frame: TypingFrame): Promise<void> {
    const channel = this.#channel(frame.channel)
    const active = frame.active ?? true
    // A stop needs no listening: one sent after leaving the room still clears what listeners show.
    this.#typingTargets(channel, active)
    this.#typing ??= new TypingState()
    const decision = this.#typing.say(channel, active, Date.now())
    if (decision !== undefined) await this.#relayTyping(channel, decision.active)
    this.send(typingReply(frame.id, channel, decision !== undefined))
  }

  /**
   * Where a typing event in `channel` goes: the room's listeners, or the other participant of a direct conversation.
   * Refuses the rest, and (`listening`) a room this connection does not listen to; a stop goes out regardless.
   */
  #typingTargets (channel: string, listening: boolean): string[] {
    if (channel.startsWith('room:')) {
      if (listening && !this.channels.has(channel)) {
        throw new Refusal(FrameErrorCodes.FORBIDDEN, `listen to ${channel} (join or subscribe) before typing in it`, { reason: 'NOT_LISTENING' })
      }
      return [channel]
    }
    const participants = participantsOf(channel)
    if (participants?.includes(this.user) !== true) throw new Refusal(FrameErrorCodes.FORBIDDEN, `${this.user} types in rooms and in their own direct conversations only`)
    return participants.filter((p) => p !== this.user).map(userChannel)
  }

  async #relayTyping (channel: string, active: boolean): Promise<void> {
    const event = typingEvent(channel, this.user, active)
    let targets = this.#typingTargets(channel, active)
    // A direct conversation with a user either of them blocked: nothing goes out (nor is the typist told so).
    const other = isDmChannel(channel) ? targets[0]?.slice('user:'.length) : undefined
    if (other !== undefined) {
      await this.#blockView().ready()
      if (this.#blockView().hides(other) === true) targets = []
    }
    await Promise.all(targets.map(async (target) => { await this.#context.store.publishEvent(target, event) }))
  }

  async #join (frame: JoinFrame): Promise<void> {
    const { store, authorizeJoin } = this.#context
    if (!(await authorizeJoin(this.user, frame.room))) throw new Refusal(FrameErrorCodes.FORBIDDEN, `${this.user} may not join ${frame.room}`)
    const channel = roomChannel(frame.room)
    if (!this.channels.has(channel)) this.#checkRoomLimit()
    refuse(joinRefusal(this.user, channel, await store.enter(frame.room, this.user)))
    let joinedAt: Position | undefined
    await this.#listen(channel, undefined, async (position) => { joinedAt = position; this.send(joinedFrame(frame.id, channel, position)) })
    // The user's other connections (any server) learn of it on their personal channel, with the position
    // to subscribe from so that they miss nothing published since.
    if (joinedAt !== undefined) {
      // What was said before the join is history, not unread: the read position starts there, unless there is one.
      const at = joinedAt.offset
      await Promise.all([
        this.#tellMyConnections(joinedEvent(channel, joinedAt)),
        this.#context.store.markRead(this.user, channel, at, true).catch((err: unknown) => {
          this.#context.log.warn({ err, user: this.user, channel }, 'could not set the read position of a room joined')
        })
      ])
    }
  }

  /** Best effort: the request itself succeeded, whatever happens to the news of it. False when it could not be sent. */
  async #tellMyConnections (event: string): Promise<boolean> {
    return await this.#context.store.publishEvent(userChannel(this.user), event).then(() => true, (err: unknown) => {
      this.#context.log.warn({ err, user: this.user }, 'could not tell the user\'s other connections')
      return false
    })
  }

  async #leave (frame: LeaveFrame): Promise<void> {
    const channel = roomChannel(frame.room)
    await this.#context.store.leave(frame.room, this.user)
    // Local connections stop listening now (each after what it is doing on the room); all of the user's
    // connections, on every server, also get a `left` event on their personal channel and stop when it
    // arrives (see deliver). Here it has been applied already, so its echo is ignored.
    const local = [...this.#context.byUser.get(this.user) ?? []]
    for (const connection of local) {
      connection.#expectEcho(channel, 1)
      if (connection === this) this.detach(channel)
      else connection.#inLane(channel, async () => { connection.detach(channel) }).catch(noop)
    }
    if (!(await this.#tellMyConnections(leftEvent(channel)))) for (const connection of local) connection.#expectEcho(channel, -1)
    this.send(doneFrame('left', frame.id, channel))
  }

  async #subscribe (id: RequestId, name: string, since: Position | undefined): Promise<void> {
    const channel = this.#channel(name)
    await this.#authorizeRead(channel)
    await this.#listen(channel, since, async (position, recovered) => { this.send(subscribedFrame(id, channel, position, recovered)) })
  }

  /**
   * Many channels in one frame: each is subscribed in its own lane as #subscribe would; one reply
   * lists every channel's outcome once all are known; then each replay follows, in the frame's order.
   * A channel listed twice counts once.
   */
  async #subscribeMany (id: RequestId, entries: SubscribeEntry[]): Promise<void> {
    let replied = noop
    const reply = new Promise<void>((resolve) => { replied = resolve })
    const unique = new Map<string, SubscribeEntry>()
    for (const entry of entries) if (!unique.has(entry.channel)) unique.set(entry.channel, entry)
    const results = await Promise.all([...unique.values()].map(async ({ channel, since }) => await new Promise<SubscribeResult>((resolve) => {
      this.#inLane(channel, async () => {
        this.#channel(channel)
        await this.#authorizeRead(channel)
        await this.#listen(channel, since, async (position, recovered) => {
          resolve({ channel, position, recovered })
          await reply
        })
      }).catch((err: unknown) => { resolve({ channel, error: this.#errorOf(err) }) })
    })))
    this.send(subscribedBatchFrame(id, results))
    replied()
  }

  #unsubscribe (frame: UnsubscribeFrame): void {
    const channel = this.#channel(frame.channel)
    if (channel === this.#personal) throw new Refusal(FrameErrorCodes.FORBIDDEN, 'the personal channel cannot be unsubscribed')
    this.detach(channel)
    this.send(doneFrame('unsubscribed', frame.id, channel))
  }

  /** Up to `limit` messages: in one frame when they fit in a page, else in parts under the budget. */
  async #history (frame: HistoryFrame): Promise<void> {
    const channel = this.#channel(frame.channel)
    await this.#authorizeRead(channel)
    const { store, outbox } = this.#context
    const span = await store.historySpan(channel, frame.before, frame.limit ?? 50, outbox.page)
    if (span?.messages !== undefined || span === undefined) {
      this.send(historyFrame(frame.id, channel, span?.messages ?? []))
      return
    }
    await this.#stream(historyParts(store, frame.id, channel, span, outbox.page))
  }

  async #presence (frame: PresenceFrame): Promise<void> {
    const channel = this.#channel(frame.channel)
    if (isDmChannel(channel)) throw new Refusal(FrameErrorCodes.FORBIDDEN, 'presence is asked of a user (user:{id}) or a room')
    // Whether a user is online is public; who is in a room is for its members.
    if (channel.startsWith('room:')) await this.#authorizeRead(channel)
    this.send(presenceFrame(frame.id, channel, await this.#context.store.presence(channel)))
  }

  /** A page of the user's list: in one frame when it fits in a page of the budget, else in parts. */
  async #conversations (frame: ConversationsFrame): Promise<void> {
    const { store, outbox } = this.#context
    const parts = conversationsParts(frame.id, await store.conversations(this.user, frame.after, frame.limit ?? 50), outbox.page.maxBytes)
    if (parts.whole !== undefined) this.send(parts.whole)
    else await this.#stream(parts.next)
  }

  /**
   * Blocks or unblocks a user: direct messages between them are refused both ways, and neither sees the other's typing
   * or read receipts. The user's connections (every server) are told with a `blocked` event; the other user's connections
   * learn it without being told (an event they keep to themselves: blocks.ts).
   */
  async #block (other: string, blocked: boolean, id: RequestId): Promise<void> {
    if (other === this.user) throw new Refusal(FrameErrorCodes.FORBIDDEN, 'a user cannot block themselves')
    const { store } = this.#context
    const outcome = await store.setBlock(this.user, other, blocked)
    if (outcome === 'limit') throw new Refusal(FrameErrorCodes.LIMIT_EXCEEDED, 'too many users blocked; unblock one first')
    if (outcome === 'changed') {
      await Promise.all([
        this.#tellMyConnections(blockedEvent(other, blocked)),
        store.publishEvent(userChannel(other), blockNotice(this.user, blocked)).catch((err: unknown) => {
          this.#context.log.warn({ err, user: this.user }, 'could not tell a blocked user\'s servers')
        })
      ])
    }
    this.send(blockedReply(id, other, blocked))
  }

  /** A change by the room's owner or a moderator; the room's listeners are told, and the member removed or invited. */
  async #moderate (frame: ModerateFrame): Promise<void> {
    const change = moderationOf(frame)
    if (!('action' in change)) throw new Refusal(change.code, change.message)
    const { store, log } = this.#context
    refuse(moderationRefusal(this.user, roomChannel(frame.room), change, await store.moderate(frame.room, this.user, change)))
    await tellModeration(store, frame.room, this.user, change).catch((err: unknown) => { log.warn({ err, room: frame.room }, 'could not tell of a room change') })
    this.send(moderatedReply(frame.id, frame.room, change))
  }

  /** A room's settings: for anyone while it is public (to decide whether to join), for members when it is invite-only. */
  async #roomInfo (id: RequestId, room: string): Promise<void> {
    const { store } = this.#context
    const [info, role] = await Promise.all([store.roomInfo(room), store.roleOf(room, this.user)])
    if (info.mode === 'invite' && role === undefined) throw notMember(this.user, roomChannel(room))
    this.send(roomReply(id, room, info, role))
  }

  async #members (frame: MembersFrame): Promise<void> {
    const channel = roomChannel(frame.room)
    await this.#authorizeRead(channel)
    this.send(membersReply(frame.id, frame.room, await this.#context.store.memberPage(frame.room, frame.after, frame.limit ?? 50)))
  }

  /** Moves the user's read position (never back); their other connections, and the other members, are told. */
  async #read (frame: ReadFrame): Promise<void> {
    const channel = this.#conversation(frame.channel)
    await this.#authorizeRead(channel)
    const { store, log } = this.#context
    const mark = await store.markRead(this.user, channel, frame.offset)
    this.send(readFrame(frame.id, channel, mark))
    if (mark !== undefined) {
      // Best effort: the position is kept; a device that missed the news reads it in its next list. No receipt goes to a
      // user either of them blocked.
      const other = participantsOf(channel)?.find((u) => u !== this.user)
      const view = this.#blockView()
      const hidden = other !== undefined && await view.ready().then(() => view.hides(other) === true, () => true)
      await tellRead(store, this.user, channel, hidden ? { ...mark, receipt: false } : mark)
        .catch((err: unknown) => { log.warn({ err, user: this.user, channel }, 'could not tell of a read') })
    }
  }

  async #receipts (frame: ReceiptsFrame): Promise<void> {
    const channel = this.#conversation(frame.channel)
    await this.#authorizeRead(channel)
    this.send(receiptsFrame(frame.id, channel, await this.#context.store.receipts(channel)))
  }

  /** A channel that has read state: a room or a direct conversation (not a personal channel). */
  #conversation (name: string): string {
    const channel = this.#channel(name)
    if (channel.startsWith('user:')) throw new Refusal(FrameErrorCodes.FORBIDDEN, 'read state is kept for rooms and direct conversations, not personal channels')
    return channel
  }

  #channel (name: string): string {
    if (!isChannel(name)) {
      throw new Refusal(FrameErrorCodes.INVALID_CHANNEL, 'channels are user:{id}, room:{name} or dm:{a}:{b} (the two user ids in order), with ids of 1-64 of [A-Za-z0-9_.-]')
    }
    return name
  }

  async #authorizeRead (channel: string): Promise<void> {
    if (channel.startsWith('user:')) {
      if (channel !== this.#personal) throw new Refusal(FrameErrorCodes.FORBIDDEN, 'only your own personal channel can be read')
      return
    }
    if (isDmChannel(channel)) {
      if (participantsOf(channel)?.includes(this.user) !== true) throw new Refusal(FrameErrorCodes.FORBIDDEN, 'only its two users can read a direct conversation')
      return
    }
    const room = channel.slice('room:'.length)
    if (!(await this.#context.store.isMember(room, this.user))) throw notMember(this.user, channel)
  }

  #failed (id: RequestId, err: unknown): void {
    if (err instanceof Unanswerable || err instanceof OutboxClosedError) return
    const { code, message, extra } = this.#errorOf(err)
    this.send(errorFrame(code, message, id, extra))
  }

  /** What the client is told about a failed request. */
  #errorOf (err: unknown): { code: FrameErrorCode, message: string, extra?: Readonly<Record<string, string | number>> } {
    if (err instanceof Refusal) return { code: err.code, message: err.message, ...(err.extra === undefined ? {} : { extra: err.extra }) }
    this.#context.log.warn({ err, user: this.user }, 'request failed')
    const message = isStoreFull(err) ? 'the store (Redis) is full; retry it later (with the same mid)' : 'the request could not be completed; retry it (with the same mid)'
    return { code: FrameErrorCodes.UNAVAILABLE, message }
  }

  #reject (error: FrameError): void {
    this.send(errorFrame(error.code, error.message, error.id))
    if (++this.#violations >= this.#context.maxViolations) {
      this.socket.close(CloseCode.PROTOCOL_VIOLATIONS, 'too many invalid frames')
    }
  }
}
