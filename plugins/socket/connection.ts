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
import type { AppendResult, Position, Store } from '../store/types.js'
import {
  ackFrame, conversationOf, conversationsFrame, doneFrame, errorFrame, frameOffset, historyFrame, joinedEvent, joinedFrame, leftEvent, leftEventChannel, messagePrefix,
  presenceFrame, subscribedFrame
} from './frames.js'
import type { Hub, Listener } from './hub.js'
import { corkForThisTurn } from './cork.js'
import type { Corkable } from './cork.js'
import { FrameBudget } from './limits.js'
import { sharedTextFrame } from './text-frame.js'
import type { ConnectionLimits } from './limits.js'
import type { SocketMeter } from './meter.js'
import type { PresenceTracker } from './presence.js'
import { parseFrame } from './protocol.js'
import { isStoreFull } from '../store/full.js'
import type {
  ClientFrame, ConversationsFrame, FrameError, HistoryFrame, JoinFrame, LeaveFrame, PresenceFrame, PublishFrame, RequestId, SendFrame, SubscribeFrame,
  UnsubscribeFrame
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
  readonly meter: SocketMeter
}

/** A refusal that becomes an error frame for the request that caused it. */
class Refusal extends Error {
  constructor (readonly code: FrameErrorCode, message: string, readonly extra?: Readonly<Record<string, string | number>>) {
    super(message)
  }
}

/** The offset of an accepted append, or the refusal its status means. */
function accepted (result: AppendResult, forbidden: string): string {
  if (result.status === 'forbidden') throw new Refusal(FrameErrorCodes.FORBIDDEN, forbidden)
  if (result.status === 'quota') {
    throw new Refusal(FrameErrorCodes.QUOTA_EXCEEDED, `storage quota used up: too many ${result.budget === 'channels' ? 'conversations and rooms written' : result.budget} ` +
      `in this window; it starts again in ${Math.ceil(result.retryAfterMs / 1000)} s`, { budget: result.budget, retryAfterMs: result.retryAfterMs })
  }
  return result.offset
}

/** Per-connection exactly-once state of direct conversations is kept for at most this many of them (see #floors). */
const MAX_FLOORS = 256

export class Connection implements Listener {
  readonly user: string
  readonly socket: WebSocket
  /** the channels this connection has a live subscription to (its personal channel and rooms) */
  readonly channels = new Set<string>()
  readonly #personal: string
  readonly #context: ConnectionContext
  /** live frames held back per channel while its replay is being sent */
  #held: Map<string, string[]> | undefined
  /** per channel, the offset up to which the client already has everything (see #aboveFloor) */
  #floors: Map<string, string> | undefined
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

  deliver (channel: string, payload: string): void {
    // A `leave` from another of the user's connections (any server) reaches this one on the personal channel.
    const left = leftEventChannel(payload)
    if (left !== undefined && channel === this.#personal && left !== channel) this.detach(left)
    const held = this.#held?.get(channel)
    if (held !== undefined) {
      held.push(payload)
      return
    }
    this.#gate(channel === this.#personal ? conversationOf(payload) ?? channel : channel, payload)
  }

  /**
   * Exactly once per channel: frames of a channel being attached are held, older ones than its
   * boundary dropped. A direct conversation's frames arrive through the personal channel and are
   * gated by their own channel.
   */
  #gate (channel: string, payload: string): void {
    const held = this.#held?.get(channel)
    if (held !== undefined) {
      held.push(payload)
      return
    }
    const floor = this.#floors?.get(channel)
    if (floor !== undefined && !this.#aboveFloor(channel, floor, payload)) return
    this.send(payload)
  }

  /**
   * The pub/sub copy of a message can arrive after the replay that already
   * included it (history is read on the command connection, live frames come
   * on the subscriber connection). Until a frame newer than the attach
   * boundary arrives, older ones are dropped; after it, pub/sub order
   * guarantees all are newer and the floor goes away.
   */
  #aboveFloor (channel: string, floor: string, payload: string): boolean {
    const offset = frameOffset(payload)
    if (offset === undefined) return true
    if (compareOffsets(offset, floor) <= 0) return false
    this.#floors?.delete(channel)
    if (this.#floors?.size === 0) this.#floors = undefined
    return true
  }

  send (frame: string): void {
    if (this.socket.readyState !== 1) return
    const raw = (this.socket as unknown as { _socket?: Corkable & { write (chunk: Buffer): boolean } })._socket
    if (raw === undefined) {
      this.socket.send(frame)
    } else {
      corkForThisTurn(raw)
      if (this.#plain) raw.write(sharedTextFrame(frame))
      else this.socket.send(frame)
    }
    this.#context.meter.frameOut()
    // A client that does not read makes its unsent data pile up here: cut it off instead of growing.
    if (this.socket.bufferedAmount > this.#context.limits.maxBufferedBytes) {
      this.#context.log.info({ user: this.user, buffered: this.socket.bufferedAmount }, 'slow consumer closed')
      this.#context.meter.slowConsumer()
      this.socket.close(CloseCode.SLOW_CONSUMER, 'slow consumer: too much unsent data')
    }
  }

  /**
   * Starts listening to a channel without a gap: live frames are held while
   * the position (or the replay after `since`) is read; `reply` is sent, then
   * the replay, then the held frames newer than what the reply and replay
   * cover. From the reply on, the client gets every message after its offset
   * exactly once.
   */
  async attach (channel: string, since: Position | undefined, reply: (position: Position, recovered: boolean | undefined) => string | Promise<string>): Promise<void> {
    const { hub, store, presence } = this.#context
    // A direct conversation needs no subscription: its frames come through the personal channel.
    const alreadyListening = this.channels.has(channel) || isDmChannel(channel)
    const held: string[] = []
    let counted = false
    this.#held ??= new Map()
    this.#held.set(channel, held)
    try {
      if (!alreadyListening) {
        if (this.channels.size >= this.#context.limits.maxChannels) {
          throw new Refusal(FrameErrorCodes.LIMIT_EXCEEDED, `a connection may listen to at most ${this.#context.limits.maxChannels} channels`)
        }
        this.channels.add(channel)
        await hub.add(channel, this)
        // After the subscription is live, so the user's own join event reaches them too, on every store.
        presence.add(channel, this.user)
        counted = true
      }
      // Held frames at or before `last` are already covered: by the replay, or by the position
      // the reply reports (everything up to it is history, readable with `history`).
      let last: string
      if (since === undefined) {
        const position = await store.position(channel)
        this.send(await reply(position, undefined))
        last = position.offset
      } else {
        const recovery = await store.recover(channel, since)
        this.send(await reply(recovery, recovery.recovered))
        for (const frame of recovery.messages) this.send(frame)
        const replayedTo = frameOffset(recovery.messages[recovery.messages.length - 1] ?? '')
        last = !recovery.recovered ? recovery.offset : replayedTo ?? since.offset
      }
      let newest = last
      // Let go before releasing: frames of other channels held here (conversations, on the personal channel) go through their own gate.
      if (this.#held.get(channel) === held) this.#held.delete(channel)
      for (const frame of held) {
        const other = channel === this.#personal ? conversationOf(frame) : undefined
        if (other !== undefined) {
          this.#gate(other, frame)
          continue
        }
        const offset = frameOffset(frame)
        if (offset !== undefined && compareOffsets(offset, newest) <= 0) continue
        this.send(frame)
        if (offset !== undefined) newest = offset
      }
      this.#floors ??= new Map()
      this.#floors.delete(channel)
      this.#floors.set(channel, newest)
      // A quiet conversation's floor would stay forever: the oldest go (a stale copy after that long is not expected).
      if (this.#floors.size > MAX_FLOORS) this.#floors.delete(this.#floors.keys().next().value as string)
    } catch (err) {
      if (!alreadyListening) this.#undo(channel, counted)
      // A conversation's frames reach this connection whether or not it attached: none is lost to a failed attach.
      if (isDmChannel(channel) && this.#held.get(channel) === held) {
        this.#held.delete(channel)
        for (const frame of held) this.#gate(channel, frame)
      }
      throw err
    } finally {
      if (this.#held.get(channel) === held) this.#held.delete(channel)
      if (this.#held.size === 0) this.#held = undefined
    }
  }

  /** Rolls back a failed attach. */
  #undo (channel: string, counted: boolean): void {
    if (!this.channels.delete(channel)) return
    this.#context.hub.remove(channel, this)
    if (counted) this.#context.presence.remove(channel, this.user)
  }

  detach (channel: string): void {
    this.#floors?.delete(channel)
    if (!this.channels.delete(channel)) return
    this.#context.hub.remove(channel, this)
    this.#context.presence.remove(channel, this.user)
  }

  /** Called once when the socket closes: stop listening everywhere. */
  release (): void {
    for (const channel of [...this.channels]) this.detach(channel)
  }

  onFrame (data: RawData, isBinary: boolean): void {
    if (!this.#budget.take()) {
      this.#context.meter.rateLimited()
      this.send(errorFrame(FrameErrorCodes.RATE_LIMITED, 'too many frames; slow down'))
      if (++this.#floods >= this.#context.limits.floodTolerance) this.socket.close(CloseCode.RATE_LIMITED, 'rate limited')
      return
    }
    this.#floods = 0
    if (isBinary) {
      this.#reject({ code: FrameErrorCodes.INVALID_FRAME, message: 'binary frames are not supported; send JSON text frames' })
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
      case 'join': return this.#join(frame)
      case 'leave': return this.#leave(frame)
      case 'subscribe': return this.#subscribe(frame)
      case 'unsubscribe': return Promise.resolve().then(() => { this.#unsubscribe(frame) })
      case 'history': return this.#history(frame)
      case 'presence': return this.#presence(frame)
      case 'conversations': return this.#conversations(frame)
    }
  }

  async #send (frame: SendFrame): Promise<void> {
    const from = this.user
    const to = frame.to
    // One conversation per pair, stored once: a stranger's messages have a history of their own and cannot push out anyone else's.
    const channel = dmChannel(from, to)
    const result = await this.#context.store.append({
      channel,
      framePrefix: messagePrefix(channel, from, to, JSON.stringify(frame.data), Date.now(), frame.mid),
      sender: from,
      mid: frame.mid,
      participants: participantsOf(channel)
    })
    this.send(ackFrame(frame.id, channel, accepted(result, 'not allowed')))
  }

  async #publish (frame: PublishFrame): Promise<void> {
    const channel = this.#channel(frame.channel)
    if (!channel.startsWith('room:')) throw new Refusal(FrameErrorCodes.FORBIDDEN, 'publish goes to room: channels; send a direct message with "send"')
    const prefix = messagePrefix(channel, this.user, null, JSON.stringify(frame.data), Date.now(), frame.mid)
    const result = await this.#context.store.append({ channel, framePrefix: prefix, sender: this.user, mid: frame.mid, requireMember: true })
    this.send(ackFrame(frame.id, channel, accepted(result, `${this.user} is not a member of ${channel}; join it first`)))
  }

  async #join (frame: JoinFrame): Promise<void> {
    const { store, authorizeJoin } = this.#context
    if (!(await authorizeJoin(this.user, frame.room))) throw new Refusal(FrameErrorCodes.FORBIDDEN, `${this.user} may not join ${frame.room}`)
    if (!this.channels.has(roomChannel(frame.room)) && this.channels.size >= this.#context.limits.maxChannels) {
      throw new Refusal(FrameErrorCodes.LIMIT_EXCEEDED, `a connection may listen to at most ${this.#context.limits.maxChannels} channels`)
    }
    if (!(await store.join(frame.room, this.user))) {
      throw new Refusal(FrameErrorCodes.LIMIT_EXCEEDED, `${this.user} is a member of too many rooms; leave one first`)
    }
    const channel = roomChannel(frame.room)
    let joinedAt: Position | undefined
    await this.attach(channel, undefined, (position) => { joinedAt = position; return joinedFrame(frame.id, channel, position) })
    // The user's other connections (any server) learn of it on their personal channel, with the position
    // to subscribe from so that they miss nothing published since.
    if (joinedAt !== undefined) await this.#tellMyConnections(joinedEvent(channel, joinedAt))
  }

  /** Best effort: the request itself succeeded, whatever happens to the news of it. */
  async #tellMyConnections (event: string): Promise<void> {
    await this.#context.store.publishEvent(userChannel(this.user), event).catch((err: unknown) => {
      this.#context.log.warn({ err, user: this.user }, 'could not tell the user\'s other connections')
    })
  }

  async #leave (frame: LeaveFrame): Promise<void> {
    const channel = roomChannel(frame.room)
    await this.#context.store.leave(frame.room, this.user)
    // Local connections stop listening now; all of the user's connections, on every server, also get
    // a `left` event on their personal channel and stop when it arrives (see deliver).
    for (const connection of this.#context.byUser.get(this.user) ?? []) connection.detach(channel)
    await this.#tellMyConnections(leftEvent(channel))
    this.send(doneFrame('left', frame.id, channel))
  }

  async #subscribe (frame: SubscribeFrame): Promise<void> {
    const channel = this.#channel(frame.channel)
    await this.#authorizeRead(channel)
    await this.attach(channel, frame.since, (position, recovered) => subscribedFrame(frame.id, channel, position, recovered))
  }

  #unsubscribe (frame: UnsubscribeFrame): void {
    const channel = this.#channel(frame.channel)
    if (channel === this.#personal) throw new Refusal(FrameErrorCodes.FORBIDDEN, 'the personal channel cannot be unsubscribed')
    this.detach(channel)
    this.send(doneFrame('unsubscribed', frame.id, channel))
  }

  async #history (frame: HistoryFrame): Promise<void> {
    const channel = this.#channel(frame.channel)
    await this.#authorizeRead(channel)
    const messages = await this.#context.store.history(channel, frame.before, frame.limit ?? 50)
    this.send(historyFrame(frame.id, channel, messages))
  }

  async #presence (frame: PresenceFrame): Promise<void> {
    const channel = this.#channel(frame.channel)
    if (isDmChannel(channel)) throw new Refusal(FrameErrorCodes.FORBIDDEN, 'presence is asked of a user (user:{id}) or a room')
    // Whether a user is online is public; who is in a room is for its members.
    if (channel.startsWith('room:')) await this.#authorizeRead(channel)
    this.send(presenceFrame(frame.id, channel, await this.#context.store.presence(channel)))
  }

  async #conversations (frame: ConversationsFrame): Promise<void> {
    this.send(conversationsFrame(frame.id, await this.#context.store.conversations(this.user, frame.after, frame.limit ?? 50)))
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
    if (!(await this.#context.store.isMember(room, this.user))) throw new Refusal(FrameErrorCodes.FORBIDDEN, `${this.user} is not a member of ${channel}; join it first`)
  }

  #failed (id: RequestId, err: unknown): void {
    if (err instanceof Refusal) {
      this.send(errorFrame(err.code, err.message, id, err.extra))
      return
    }
    this.#context.log.warn({ err, user: this.user }, 'request failed')
    const reason = isStoreFull(err) ? 'the store (Redis) is full; retry it later (with the same mid)' : 'the request could not be completed; retry it (with the same mid)'
    this.send(errorFrame(FrameErrorCodes.UNAVAILABLE, reason, id))
  }

  #reject (error: FrameError): void {
    this.send(errorFrame(error.code, error.message, error.id))
    if (++this.#violations >= this.#context.maxViolations) {
      this.socket.close(CloseCode.PROTOCOL_VIOLATIONS, 'too many invalid frames')
    }
  }
}
