/**
 * The Switchboard client: allocate → connect → on any drop, re-allocate and
 * reconnect with full-jitter backoff → recover every channel it holds from
 * its last offset → resend what was not acknowledged (same mid). The
 * application sees each message once.
 */
import { Emitter } from './emitter.js'
import { fullJitter, sleep } from './backoff.js'
import { DEFAULT_SERVER_LIMITS, Pacer, limitsOf } from './pacer.js'
import type { ServerLimits } from './pacer.js'
import { SendOrder } from './requests.js'
import { TypingIn, TypingOut } from './typing.js'
import { compareOffsets } from './offsets.js'
import { ReadMarks } from './reads.js'
import type { ReadState } from './reads.js'
import type { Frame, Pending } from './requests.js'
import { SwitchboardError } from './types.js'
import type {
  Ack, Amendment, ClientEvents, ClientOptions, Conversation, ConnectionState, FetchLike, Message, MessageOptions, Moderated, PresenceEvent, Receipt, RoomChange,
  RoomDetails, RoomMemberInfo, WebSocketConstructor, WebSocketLike
} from './types.js'

interface Position { epoch: string, offset: string }
/** where to connect; `server` is its id when the registry (or a draining server) said it */
interface Target { url: string, token: string, server?: string }

/**
 * The close code of a connection that dropped or never opened (no close frame): the next allocation avoids
 * that server. A server killed keeps a fresh heartbeat for up to HEARTBEAT_TIMEOUT_MS, and the registry would
 * offer it again all that time; one that closes cleanly (1001 shutting down, 1012 …) has said goodbye.
 */
const ABNORMAL_CLOSURE = 1006
interface SubscribeOutcome { channel: string, epoch?: string, offset?: string, recovered?: boolean, error?: { code?: string, message?: string } }

const OPEN = 1
/** how many recent message ids are remembered for dropping resent copies */
const SEEN_MIDS = 10_000
/**
 * how long after it was made a request answered `UNAVAILABLE` is still retried (ms): counted from
 * its creation, so the sends queued behind a failing one of their channel are each tried once more,
 * not retried for this long again one after the other
 */
const UNAVAILABLE_RETRY_MS = 30_000
/** how many times a request answered `RATE_LIMITED` is resent before it is given up */
const RATE_LIMITED_RETRIES = 50

export { compareOffsets }

/** The direct conversation of two users: `dm:{a}:{b}`, their ids in order (the same whoever writes). */
export function dmChannel (a: string, b: string): string {
  return a <= b ? `dm:${a}:${b}` : `dm:${b}:${a}`
}

function isConversation (channel: string): boolean {
  return channel.startsWith('dm:')
}

/** The milliseconds of an offset (`<ms>-<seq>`). */
function offsetMs (offset: string): number {
  return Number(offset.slice(0, offset.indexOf('-')))
}

function randomId (): string {
  const bytes = new Uint8Array(6)
  globalThis.crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => b.toString(36).padStart(2, '0')).join('')
}

/** An edit's or delete's frame as the `amend` event tells it, or undefined for a message. */
function amendmentOf (message: Message): Amendment | undefined {
  const { edit, delete: deleted } = message as { edit?: unknown, delete?: unknown }
  const target = typeof edit === 'string' ? edit : typeof deleted === 'string' ? deleted : undefined
  if (target === undefined) return undefined
  return {
    kind: typeof edit === 'string' ? 'edit' : 'delete', channel: message.channel, offset: target, from: message.from, data: message.data, at: message.ts, amendment: message.offset
  }
}

function replyOf (options: MessageOptions): { replyTo?: string } {
  return options.replyTo === undefined ? {} : { replyTo: options.replyTo }
}

/** A channel's room name, for room channels. */
function roomOf (channel: string): string | undefined {
  return channel.startsWith('room:') ? channel.slice('room:'.length) : undefined
}

const encoder = new TextEncoder()

export class SwitchboardClient extends Emitter<ClientEvents> {
  readonly #options: ClientOptions
  readonly #WebSocket: WebSocketConstructor
  readonly #fetch: FetchLike
  readonly #clientId = randomId()
  /** last delivered position per channel: replay starts after it, and nothing at or before it is delivered again */
  readonly #positions = new Map<string, Position>()
  /**
   * channels besides the personal one that this client listens to (resubscribed on every connection): its
   * rooms, and the direct conversations it has seen a message of (recovered on every connection)
   */
  readonly #channels = new Set<string>()
  /**
   * Direct conversations being recovered on this connection, and their live messages that came before the
   * reply. A conversation's messages come through the personal channel from the welcome on, so some arrive
   * before its replay; the replay holds them too, in order (recovered: true), so they are dropped.
   */
  readonly #recovering = new Map<string, Message[]>()
  /**
   * The newest `at` seen in the conversation list (and of any direct message): a conversation the
   * client does not know yet that is newer was begun while it was away, and is recovered from there.
   * Undefined until the first list: a new client reads its conversations' history itself.
   */
  #listedUpTo: number | undefined
  /** while conversations begun meanwhile are being found after a reconnect: live messages of unknown ones, held */
  #undiscovered: Map<string, Message[]> | undefined
  /** channels this client is joining right now */
  readonly #joining = new Set<string>()
  /** every request not yet settled, sent or not */
  readonly #pending = new Map<number, Pending>()
  readonly #order = new SendOrder()
  /** requests ready to go, oldest first, sent as fast as the server's budget allows */
  #queue: Pending[] = []
  /** channels to subscribe on this connection: one `subscribe` frame carries many */
  readonly #toSubscribe = new Set<string>()
  /** per channel, resubscriptions that failed with `UNAVAILABLE` in a row */
  readonly #subscribeRetries = new Map<string, number>()
  readonly #timers = new Set<ReturnType<typeof setTimeout>>()
  /** when this user last said they type, per conversation; and who is typing where (typing.ts) */
  readonly #typingOut = new TypingOut()
  readonly #typingIn = new TypingIn((event) => { this.emit('typing', event) })
  /** read positions going out, one at a time per conversation */
  readonly #reads = new ReadMarks(async (channel, offset) => await this.#sendRead(channel, offset))
  #flushTimer: ReturnType<typeof setTimeout> | undefined
  /** set while a connection is welcomed: the server's budget for this client's frames */
  #pacer: Pacer | undefined
  #limits: ServerLimits = DEFAULT_SERVER_LIMITS
  /** recent (channel, from, mid), oldest first */
  readonly #seenMids = new Set<string>()
  #socket: WebSocketLike | undefined
  #state: ConnectionState = 'connecting'
  #user: string | undefined
  #server: string | undefined
  #nextId = 1
  #nextMid = 1
  #attempt = 0
  #closed = false
  #redirect: Target | undefined
  /** the server the last connection was lost on: the next `/allocate` asks for another (`?avoid=`) */
  #avoid: string | undefined
  /** the protocol version of the last welcome (typing needs 3) */
  #protocol = 0
  #resolveReady!: () => void
  #rejectReady!: (error: Error) => void
  /** resolves on the first welcome; rejects if authentication is refused */
  readonly ready: Promise<void>

  constructor (options: ClientOptions) {
    super()
    this.#options = options
    const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    const fetchImpl = options.fetch ?? (globalThis as { fetch?: FetchLike }).fetch
    if (WebSocketImpl === undefined) throw new TypeError('no WebSocket implementation: pass options.WebSocket (e.g. from the ws package)')
    if (fetchImpl === undefined) throw new TypeError('no fetch implementation: pass options.fetch')
    this.#WebSocket = WebSocketImpl
    // Called through a wrapper: browsers refuse fetch invoked with another `this` ("Illegal invocation").
    this.#fetch = async (url, init) => await fetchImpl(url, init)
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve
      this.#rejectReady = reject
    })
    this.ready.catch(() => {}) // a rejection nobody awaits must not crash the process
    this.#run().catch((err: unknown) => { this.emit('error', new SwitchboardError('INTERNAL', String(err))) })
  }

  get state (): ConnectionState { return this.#state }
  /** the user id the server assigned (known once connected) */
  get user (): string | undefined { return this.#user }
  /** the id of the socket server of the last welcome (the one in use while `connected`) */
  get server (): string | undefined { return this.#server }
  /** the limits the server announced in its last welcome (the documented defaults before) */
  get limits (): ServerLimits { return this.#limits }

  /**
   * A direct message to `to`, stored in your conversation with them (`dm:{a}:{b}`, see dmChannel).
   * Resolves with its channel and offset once stored.
   */
  async send (to: string, data: unknown, options: MessageOptions = {}): Promise<Ack> {
    if (this.#user !== undefined) this.#typingOut.forget(dmChannel(this.#user, to))
    // In order per conversation (one per recipient), whatever the user's own id turns out to be.
    const reply = await this.#request({ type: 'send', to, data, mid: this.#mid(), ...replyOf(options) }, { order: `dm-with:${to}` })
    return { channel: reply.channel as string, offset: reply.offset as string }
  }

  /** A message to a room you are a member of (`replyTo`: the offset of the message of the room it answers). */
  async publish (room: string, data: unknown, options: MessageOptions = {}): Promise<Ack> {
    const channel = `room:${room}`
    this.#typingOut.forget(channel)
    const reply = await this.#request({ type: 'publish', channel, data, mid: this.#mid(), ...replyOf(options) }, { order: channel })
    return { channel: reply.channel as string, offset: reply.offset as string }
  }

  /**
   * Replaces the data of one of your messages (`offset`) in a room or a direct conversation. Every listener gets
   * the `amend` event; history shows the new data (and `edited`). In order after your earlier sends there. Needs
   * protocol 5; rejects with FORBIDDEN (not yours), NOT_FOUND (no such message, or deleted).
   */
  async edit (channel: string, offset: string, data: unknown): Promise<Ack> {
    return await this.#amend({ type: 'edit', channel, offset, data })
  }

  /** Deletes one of your messages: its data is gone from the server; listeners get the `amend` event (`kind: 'delete'`). */
  async delete (channel: string, offset: string): Promise<Ack> {
    return await this.#amend({ type: 'delete', channel, offset })
  }

  async #amend (frame: Frame & { channel: string }): Promise<Ack> {
    if (this.#protocol !== 0 && this.#protocol < 5) throw new SwitchboardError('UNSUPPORTED', 'the server is older than protocol 5: it cannot edit or delete')
    const reply = await this.#request({ ...frame, mid: this.#mid() }, { order: this.#orderOf(frame.channel) })
    return { channel: reply.channel as string, offset: reply.offset as string }
  }

  /** The lane of a channel's sends (send orders them by recipient, before the user's id is known). */
  #orderOf (channel: string): string {
    if (!isConversation(channel)) return channel
    const [, a = '', b = ''] = channel.split(':')
    return `dm-with:${a === this.#user ? b : a}`
  }

  /**
   * Tells a conversation that the user is typing (a `room:` channel this client listens to, or a `dm:` channel
   * of theirs), or stopped (`active` false: the input was cleared, or the user left the conversation). Call it
   * on every keystroke: a frame goes out at most every 3 s per conversation, a stop only if one is still shown,
   * and nothing while not connected (typing is not queued). Sending a message there ends it by itself.
   * Rejects with the server's refusal (`FORBIDDEN`: not a room you listen to, not your conversation).
   */
  async typing (channel: string, active = true): Promise<void> {
    // A server of an older protocol (a fleet being upgraded) would count each as an invalid frame: none goes there.
    if (this.#state !== 'connected' || this.#protocol < 3 || !this.#typingOut.due(channel, active, Date.now())) return
    // Never retried: a typing frame that comes late says something that is no longer true.
    await this.#request({ type: 'typing', channel, active }, { perConnection: true, once: true }).catch((err: unknown) => {
      if ((err as SwitchboardError).code !== 'RECONNECTING') throw err
    })
  }

  /** The users shown typing in `channel` now (the `typing` event tells each change). */
  typists (channel: string): string[] {
    return this.#typingIn.in(channel)
  }

  /** Become a member of a room and receive its messages (also after reconnects). */
  async join (room: string): Promise<void> {
    const channel = `room:${room}`
    // The `joined` event this join also sends to all of the user's connections is not news here.
    this.#joining.add(channel)
    try {
      await this.#request({ type: 'join', room })
    } finally {
      this.#joining.delete(channel)
    }
    // The position was recorded when the reply arrived (see #onReply); from now on it is resubscribed.
    this.#channels.add(channel)
  }

  async leave (room: string): Promise<void> {
    const channel = `room:${room}`
    this.#forget(channel)
    await this.#request({ type: 'leave', room })
  }

  /** Up to `limit` messages older than `before` (newest when absent), oldest first (a reply sent in parts is put together). */
  async history (channel: string, options: { before?: string, limit?: number } = {}): Promise<Message[]> {
    const reply = await this.#request({ type: 'history', channel, ...options })
    // Edits and deletes are in history too, in their place; the messages they amend already show their latest version.
    return (reply.messages as Message[]).filter((m) => amendmentOf(m) === undefined)
  }

  async presence (channel: string): Promise<string[]> {
    return (await this.#request({ type: 'presence', channel })).users as string[]
  }

  /**
   * Your conversations (direct ones and your rooms), most recent first, at most `limit` (1-100, default 50), each
   * with its unread count, your read position and its newest message; for the next page pass the last one of this
   * page as `after`. The same on every device (see `markRead` and the `read` event).
   */
  async conversations (options: { after?: Conversation, limit?: number } = {}): Promise<Conversation[]> {
    return await this.#listConversations(options, false)
  }

  async #listConversations ({ after, limit }: { after?: Conversation, limit?: number }, perConnection: boolean): Promise<Conversation[]> {
    const reply = await this.#request({
      type: 'conversations', ...(after === undefined ? {} : { after: { at: after.at, channel: after.channel } }), ...(limit === undefined ? {} : { limit })
    }, { perConnection })
    const me = this.#user ?? ''
    const list = (reply.conversations as Array<Omit<Conversation, 'with' | 'room'>>).map((c): Conversation => {
      const room = roomOf(c.channel)
      if (room !== undefined) return { ...c, room }
      const [, a = '', b = ''] = c.channel.split(':')
      return { ...c, with: a === me ? b : a }
    })
    this.#listedUpTo = Math.max(this.#listedUpTo ?? 0, ...list.map((c) => c.at))
    return list
  }

  /**
   * The user has read `channel` (a room of theirs or one of their direct conversations) up to `offset`, usually
   * the newest message shown. Never goes back. Every connection of the user's, on any device, gets the `read`
   * event; the other members see a receipt. One frame per conversation is out at a time: calls made meanwhile
   * are folded into the newest. Resolves with the position kept and what is still unread. Needs protocol 4
   * (rejects with UNSUPPORTED on an older server).
   */
  async markRead (channel: string, offset: string): Promise<ReadState> {
    return await this.#reads.mark(channel, offset)
  }

  async #sendRead (channel: string, offset: string): Promise<ReadState> {
    if (this.#protocol !== 0 && this.#protocol < 4) throw new SwitchboardError('UNSUPPORTED', 'the server is older than protocol 4: it keeps no read state')
    const reply = await this.#request({ type: 'read', channel, offset })
    return { channel, epoch: reply.epoch as string, offset: reply.offset as string, unread: reply.unread as number }
  }

  /**
   * Blocks `user`: direct messages between you are refused both ways (FORBIDDEN, reason BLOCKED), and neither of you
   * sees the other's typing or read receipts. Every connection of yours gets the `blocked` event. Needs protocol 5.
   */
  async block (user: string): Promise<void> {
    await this.#blocking('block', user)
  }

  async unblock (user: string): Promise<void> {
    await this.#blocking('unblock', user)
  }

  /** The users you blocked. */
  async blocks (): Promise<string[]> {
    return (await this.#request({ type: 'blocks' })).users as string[]
  }

  async #blocking (type: 'block' | 'unblock', user: string): Promise<void> {
    if (this.#protocol !== 0 && this.#protocol < 5) throw new SwitchboardError('UNSUPPORTED', 'the server is older than protocol 5: it cannot block')
    await this.#request({ type, user })
  }

  /**
   * A change in a room you own or moderate: invite, kick, ban, unban, mute, unmute (`user`), give a role (`role`), or
   * settings (`mode`, `title`, `topic`). Rejects with FORBIDDEN and the reason (ROLE, NOT_MEMBER, BANNED). Needs protocol 5.
   */
  async moderate (room: string, change: RoomChange): Promise<void> {
    if (this.#protocol !== 0 && this.#protocol < 5) throw new SwitchboardError('UNSUPPORTED', 'the server is older than protocol 5: rooms have no owners')
    await this.#request({ type: 'moderate', room, ...change })
  }

  /** A room's settings, its owner and your role (an invite-only room only to its members). */
  async room (room: string): Promise<RoomDetails> {
    const reply = await this.#request({ type: 'room', room })
    const { type: _type, id: _id, channel: _channel, ...details } = reply
    return details as unknown as RoomDetails
  }

  /** A page of a room's members, by id, with their roles (members only). */
  async members (room: string, options: { after?: string, limit?: number } = {}): Promise<{ members: RoomMemberInfo[], more: boolean }> {
    const reply = await this.#request({ type: 'members', room, ...options })
    return { members: reply.members as RoomMemberInfo[], more: reply.more === true }
  }

  /** How far each member has read `channel` (direct conversations, and rooms of up to 100 members). */
  async receipts (channel: string): Promise<Receipt[]> {
    return (await this.#request({ type: 'receipts', channel })).receipts as Receipt[]
  }

  /** Rooms this client listens to. */
  get rooms (): string[] {
    const rooms: string[] = []
    for (const channel of this.#channels) {
      const room = roomOf(channel)
      if (room !== undefined) rooms.push(room)
    }
    return rooms
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#rejectReady(new SwitchboardError('CLOSED', 'client closed before it connected'))
    this.#socket?.close(1000, 'client closed')
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    this.#typingIn.clear()
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer)
    const pending = [...this.#pending.values()]
    this.#pending.clear()
    this.#queue = []
    this.#order.clear()
    for (const request of pending) request.reject(new SwitchboardError('CLOSED', 'client closed'))
    this.#setState('closed', {})
  }

  // Connection loop -----------------------------------------------------------

  async #run (): Promise<void> {
    while (!this.#closed) {
      let target: Target
      try {
        target = this.#redirect ?? await this.#allocate()
        this.#redirect = undefined
        if (this.#closed) return
      } catch (err) {
        if (this.#closed) return
        const error = err as SwitchboardError
        if (error.code === 'UNAUTHORIZED') {
          this.emit('error', error)
          this.#rejectReady(error)
          this.close()
          return
        }
        await this.#wait(error.retryAfterMs, error.message)
        continue
      }
      const closed = await this.#connect(target)
      if (this.#closed) return
      this.#avoid = closed.code === ABNORMAL_CLOSURE ? target.server : undefined
      const reason = `connection closed (${closed.code}${closed.reason === '' ? '' : ` ${closed.reason}`})`
      // Told where to go (drain): go at once. Otherwise back off before allocating again.
      if (this.#redirect !== undefined) this.#setState('reconnecting', { delayMs: 0, reason })
      else await this.#wait(undefined, reason)
    }
  }

  async #wait (retryAfterMs: number | undefined, reason: string): Promise<void> {
    const { baseMs = 300, maxMs = 10_000 } = this.#options.backoff ?? {}
    const delayMs = retryAfterMs ?? fullJitter(this.#attempt, baseMs, maxMs)
    this.#attempt++
    this.#setState('reconnecting', { delayMs, reason })
    await sleep(delayMs)
  }

  async #allocate (): Promise<Target> {
    const { auth, registryUrl } = this.#options
    const headers: Record<string, string> = {}
    const query = new URLSearchParams()
    if ('user' in auth) query.set('user', auth.user)
    else headers.authorization = `Bearer ${typeof auth.token === 'function' ? await auth.token() : auth.token}`
    if (this.#avoid !== undefined) query.set('avoid', this.#avoid)
    const url = `${registryUrl.replace(/\/$/, '')}/allocate${query.toString() === '' ? '' : `?${query.toString()}`}`
    const response = await this.#fetch(url, { headers })
    const body = await response.json().catch(() => ({})) as { url?: string, token?: string, server?: string, code?: string, message?: string }
    if (response.status === 200 && typeof body.url === 'string' && typeof body.token === 'string') {
      return { url: body.url, token: body.token, ...(typeof body.server === 'string' ? { server: body.server } : {}) }
    }
    const retryAfter = Number(response.headers.get('retry-after'))
    throw new SwitchboardError(body.code ?? `HTTP_${response.status}`, body.message ?? `allocation failed with ${response.status}`,
      (response.status === 503 || response.status === 429) && retryAfter > 0 ? retryAfter * 1000 : undefined)
  }

  /** Opens one connection and resolves when it closes. */
  async #connect (target: Target): Promise<{ code: number, reason: string }> {
    const own = this.#user === undefined ? undefined : this.#positions.get(`user:${this.#user}`)
    const since = own === undefined ? '' : `&offset=${own.offset}&epoch=${encodeURIComponent(own.epoch)}`
    const socket = new this.#WebSocket(`${target.url}?token=${encodeURIComponent(target.token)}${since}`)
    this.#socket = socket
    return await new Promise((resolve) => {
      socket.onmessage = (event) => { this.#onFrame(socket, String(event.data)) }
      socket.onerror = () => {}
      socket.onclose = (event) => {
        if (this.#socket === socket) this.#socket = undefined
        this.#disconnected()
        resolve({ code: event.code, reason: event.reason })
      }
    })
  }

  /** The connection is gone: nothing goes out until the next welcome; resubscriptions are redone then. */
  #disconnected (): void {
    this.#pacer = undefined
    // Typing is not replayed: nobody is shown typing until their next event, and this user's next one is news.
    this.#typingIn.clear()
    this.#typingOut.forget()
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer)
    this.#flushTimer = undefined
    this.#toSubscribe.clear()
    // Held live messages of conversations being recovered: the next connection recovers them again, from the same position.
    this.#recovering.clear()
    for (const pending of [...this.#pending.values()]) {
      if (pending.perConnection) this.#settle(pending, new SwitchboardError('RECONNECTING', 'connection lost; redone on the next one'))
    }
  }

  // Sending ---------------------------------------------------------------------

  async #request (body: Record<string, unknown>, options: { order?: string, perConnection?: boolean, once?: boolean } = {}): Promise<Frame> {
    if (this.#closed) throw new SwitchboardError('CLOSED', 'client closed')
    const id = this.#nextId++
    const frame = { id, ...body } as unknown as Frame
    return await new Promise((resolve, reject) => {
      const pending: Pending = {
        id,
        text: JSON.stringify(frame),
        frame,
        resolve,
        reject,
        ...(options.order === undefined ? {} : { order: options.order }),
        perConnection: options.perConnection === true,
        once: options.once === true,
        delayed: false,
        retries: 0,
        retryUntil: Date.now() + UNAVAILABLE_RETRY_MS
      }
      this.#pending.set(id, pending)
      // Sent as soon as the budget allows if connected and welcomed, and nothing of its channel is ahead; otherwise later.
      if (this.#order.enter(pending)) this.#enqueue(pending)
    })
  }

  #enqueue (pending: Pending): void {
    this.#queue.push(pending)
    this.#flush()
  }

  /** Sends what is queued, as fast as the server's budget allows. */
  #flush (): void {
    const socket = this.#socket
    const pacer = this.#pacer
    if (pacer === undefined || socket === undefined || socket.readyState !== OPEN || this.#flushTimer !== undefined) return
    while (this.#queue.length > 0) {
      const pending = this.#queue[0] as Pending
      if (this.#pending.get(pending.id) !== pending) {
        this.#queue.shift()
        continue
      }
      if (this.#tooLarge(pending.text)) {
        this.#queue.shift()
        this.#settle(pending, new SwitchboardError('FRAME_TOO_LARGE', `the request is larger than the server's ${this.#limits.maxPayload} bytes`))
        continue
      }
      if (!pacer.take()) {
        this.#flushTimer = setTimeout(() => {
          this.#flushTimer = undefined
          this.#flush()
        }, pacer.waitMs)
        return
      }
      this.#queue.shift()
      socket.send(pending.text)
    }
  }

  #tooLarge (text: string): boolean {
    const max = this.#limits.maxPayload
    return text.length * 3 > max && encoder.encode(text).length > max
  }

  /** Answered or given up: the next request of its channel may go out. */
  #settle (pending: Pending, outcome: Frame | Error): void {
    if (this.#pending.get(pending.id) !== pending) return
    this.#pending.delete(pending.id)
    const next = this.#order.leave(pending)
    if (next !== undefined) this.#enqueue(next)
    if (outcome instanceof Error) pending.reject(outcome)
    else pending.resolve(outcome)
  }

  /** Sends it again after `delayMs` (still pending, and on whatever connection is welcomed then). */
  #retry (pending: Pending, delayMs: number): void {
    pending.delayed = true
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      pending.delayed = false
      if (this.#pending.get(pending.id) !== pending) return
      pending.parts = undefined
      this.#enqueue(pending)
    }, delayMs)
    this.#timers.add(timer)
  }

  // Subscriptions ---------------------------------------------------------------

  /** Subscribes `channel` on this connection, batched with the others asked for in the same turn. */
  #want (channel: string): void {
    this.#toSubscribe.add(channel)
    if (this.#toSubscribe.size > 1) return
    queueMicrotask(() => { this.#subscribeWanted() })
  }

  #subscribeWanted (): void {
    if (this.#pacer === undefined) {
      this.#toSubscribe.clear() // not connected: the next welcome subscribes everything
      return
    }
    const channels = [...this.#toSubscribe].filter((channel) => this.#channels.has(channel))
    this.#toSubscribe.clear()
    const batch = Math.max(1, this.#limits.subscribeBatch)
    for (let i = 0; i < channels.length; i += batch) {
      const entries = channels.slice(i, i + batch).map((channel) => {
        const since = this.#positions.get(channel)
        return since === undefined ? { channel } : { channel, since: { offset: since.offset, epoch: since.epoch } }
      })
      // Outcomes are handled when the reply arrives (#onSubscribed); a refusal of the whole frame here.
      this.#request({ type: 'subscribe', channels: entries }, { perConnection: true }).then(() => {}, (err: Error) => {
        if (!(err instanceof SwitchboardError) || err.code === 'RECONNECTING' || err.code === 'CLOSED') return
        for (const { channel } of entries) this.#subscribeFailed(channel, err.code, err.message)
      })
    }
  }

  /** One channel could not be (re)subscribed: tried again if the store failed, otherwise dropped, and the application told. */
  #subscribeFailed (channel: string, code: string, message: string): void {
    if (!this.#channels.has(channel)) return
    if (code === 'UNAVAILABLE' || code === 'RATE_LIMITED') {
      const attempt = (this.#subscribeRetries.get(channel) ?? 0) + 1
      this.#subscribeRetries.set(channel, attempt)
      const timer = setTimeout(() => {
        this.#timers.delete(timer)
        if (this.#channels.has(channel)) this.#want(channel)
      }, 100 + fullJitter(attempt, 200, 3000))
      this.#timers.add(timer)
      return
    }
    this.#forget(channel)
    const room = roomOf(channel)
    this.emit('subscribeFailed', { channel, ...(room === undefined ? {} : { room }), code, message })
  }

  #forget (channel: string): void {
    this.#channels.delete(channel)
    this.#recovering.delete(channel)
    this.#positions.delete(channel)
    this.#toSubscribe.delete(channel)
    this.#subscribeRetries.delete(channel)
  }

  // Frames ----------------------------------------------------------------------

  #onFrame (socket: WebSocketLike, text: string): void {
    let frame: Frame
    try {
      frame = JSON.parse(text) as Frame
    } catch {
      return
    }
    switch (frame.type) {
      case 'message': return this.#onMessage(frame as unknown as Message)
      case 'welcome': return this.#onWelcome(socket, frame)
      case 'join':
      case 'leave': return this.emit('presence', frame as unknown as PresenceEvent)
      case 'presence':
        // Without an id: who is online in a room now, after the server healed a gap in its delivery (events were lost).
        if (frame.id === undefined) return this.emit('presenceSnapshot', { channel: frame.channel as string, users: frame.users as string[] })
        return this.#onReply(frame)
      case 'reconnect':
        // The server is draining: go where it says, now.
        if (typeof frame.url === 'string' && typeof frame.token === 'string') {
          this.#redirect = { url: frame.url, token: frame.token, ...(typeof frame.server === 'string' ? { server: frame.server } : {}) }
        }
        return
      case 'error': return this.#onError(frame)
      case 'typing':
        // Without an id: someone is typing (or stopped) in a conversation; one's own is not news.
        if (frame.id !== undefined) return this.#onReply(frame)
        if (frame.user !== this.#user) this.#typingIn.heard(frame.channel as string, frame.user as string, frame.active === true, Number(frame.expiresInMs))
        return
      case 'left':
        // Without an id: this user left the room from one of their connections (maybe this one).
        if (frame.id === undefined) return this.#onLeft(frame.channel as string)
        return this.#onReply(frame)
      case 'joined':
        // Without an id: this user joined the room from one of their connections (maybe this one).
        if (frame.id === undefined) return this.#onJoined(frame.channel as string, frame.since as Position)
        return this.#onReply(frame)
      case 'read':
        // Without an id: this user's read position moved, on one of their connections (maybe this one).
        if (frame.id !== undefined) return this.#onReply(frame)
        return this.emit('read', { channel: frame.channel as string, epoch: frame.epoch as string, offset: frame.offset as string, unread: frame.unread as number })
      case 'moderated':
        // Without an id: a change in a room this client listens to (its listeners are all told).
        if (frame.id !== undefined) return this.#onReply(frame)
        return this.emit('moderated', frame as unknown as Moderated)
      case 'invited': return this.emit('invited', { room: (frame.channel as string).slice('room:'.length), by: frame.by as string })
      case 'blocked':
        // Without an id: the user blocked or unblocked someone, on one of their connections (maybe this one).
        if (frame.id !== undefined) return this.#onReply(frame)
        return this.emit('blocked', { user: frame.user as string, blocked: frame.blocked === true })
      case 'receipt': {
        const read = frame.read as Position
        return this.emit('receipt', { channel: frame.channel as string, user: frame.user as string, epoch: read.epoch, offset: read.offset })
      }
      default: return this.#onReply(frame)
    }
  }

  #onWelcome (socket: WebSocketLike, frame: Frame): void {
    if (socket !== this.#socket) return
    const channel = frame.channel as string
    this.#user = frame.user as string
    this.#server = frame.server as string
    this.#protocol = typeof frame.protocol === 'number' ? frame.protocol : 1
    this.#limits = limitsOf(frame.limits)
    this.#pacer = new Pacer(this.#limits)
    if (frame.recovered === false) this.emit('reset', channel)
    this.#position(channel, frame as unknown as Position, frame.recovered === true)
    for (const room of frame.rooms as string[]) this.#channels.add(`room:${room}`)
    this.#attempt = 0
    // Everything not yet answered goes out again on this connection, oldest first (sends keep their mid),
    // each behind the earlier requests of its channel; requests waiting to be retried follow when their time comes.
    this.#queue = [...this.#pending.values()].filter((p) => !p.perConnection && !p.delayed && this.#order.isHead(p))
    for (const pending of this.#queue) pending.parts = undefined
    this.#setState('connected', {})
    this.#resolveReady()
    for (const channel of this.#channels) {
      if (isConversation(channel)) this.#recovering.set(channel, [])
      this.#want(channel)
    }
    this.#flush()
    this.#discoverConversations().catch(() => {})
  }

  /**
   * Conversations begun while the client was away (it knows none of their messages): each is recovered from
   * where the previous list ended. Their live messages that arrive meanwhile are held; the replay covers them.
   * A client's first list only marks where that is.
   */
  async #discoverConversations (): Promise<void> {
    const from = this.#listedUpTo
    if (from === undefined) {
      await this.#listConversations({ limit: 1 }, true)
      return
    }
    const held = new Map<string, Message[]>()
    const recovered = new Set<string>()
    this.#undiscovered = held
    try {
      let after: Conversation | undefined
      for (let more = true; more;) {
        const page = await this.#listConversations({ ...(after === undefined ? {} : { after }), limit: 100 }, true)
        for (const c of page) {
          if (c.at <= from) break
          // Rooms are in the list too: a room joined elsewhere is in the welcome (and the `joined` event).
          if (!isConversation(c.channel) || this.#positions.has(c.channel) || c.epoch === '-') continue
          this.#positions.set(c.channel, { epoch: c.epoch, offset: `${from}-0` })
          recovered.add(c.channel)
          this.#channels.add(c.channel)
          this.#recovering.set(c.channel, [])
          this.#want(c.channel)
        }
        after = page[page.length - 1]
        more = page.length === 100 && after !== undefined && after.at > from
      }
    } finally {
      if (this.#undiscovered === held) this.#undiscovered = undefined
      for (const [channel, messages] of held) if (!recovered.has(channel)) for (const message of messages) this.#onMessage(message)
    }
  }

  /** A conversation's recovery answered: what was held meanwhile is in the replay (recovered), or is shown now (not). */
  #recovered (channel: string, recovered: boolean): void {
    const held = this.#recovering.get(channel)
    if (held === undefined) return
    this.#recovering.delete(channel)
    if (!recovered) for (const message of held) this.#onMessage(message)
  }

  #onJoined (channel: string, joinedAt: Position): void {
    if (this.#channels.has(channel) || this.#joining.has(channel)) return
    this.#channels.add(channel)
    // Subscribed from where the join happened: messages published since are replayed, none missed.
    this.#positions.set(channel, { epoch: joinedAt.epoch, offset: joinedAt.offset })
    this.#want(channel)
    const room = roomOf(channel)
    if (room !== undefined) this.emit('joined', room)
  }

  #onLeft (channel: string): void {
    const listening = this.#channels.has(channel)
    this.#forget(channel)
    const room = roomOf(channel)
    if (listening && room !== undefined) this.emit('left', room)
  }

  /** Records a channel's position from a welcome/joined/subscribed reply. When recovered, replayed messages advance it instead. */
  #position (channel: string, reply: Position, recovered: boolean): void {
    const known = this.#positions.get(channel)
    if (recovered && known !== undefined) return
    if (known !== undefined && known.epoch === reply.epoch && compareOffsets(known.offset, reply.offset) >= 0) return
    this.#positions.set(channel, { epoch: reply.epoch, offset: reply.offset })
  }

  #onMessage (message: Message): void {
    const recovering = this.#recovering.get(message.channel)
    if (recovering !== undefined) {
      if (recovering.length < SEEN_MIDS) recovering.push(message)
      return
    }
    const position = this.#positions.get(message.channel)
    const unknown = position === undefined && isConversation(message.channel) ? this.#undiscovered : undefined
    if (unknown !== undefined) {
      const list = unknown.get(message.channel)
      if (list === undefined) unknown.set(message.channel, [message])
      else if (list.length < SEEN_MIDS) list.push(message)
      return
    }
    // A message in another epoch than the one kept: the channel's history began again (or had none, '-').
    if (position !== undefined && (message.epoch === undefined || message.epoch === position.epoch)) {
      if (compareOffsets(message.offset, position.offset) <= 0) return // already delivered
      position.offset = message.offset
    } else if (message.epoch !== undefined && (position !== undefined || isConversation(message.channel))) {
      // A conversation is known from its first message on: its position is kept, and it is recovered on every connection.
      this.#positions.set(message.channel, { epoch: message.epoch, offset: message.offset })
      if (isConversation(message.channel)) this.#channels.add(message.channel)
    }
    if (isConversation(message.channel) && this.#listedUpTo !== undefined) this.#listedUpTo = Math.max(this.#listedUpTo, offsetMs(message.offset))
    if (message.mid !== undefined) {
      // The same (from, mid) at another offset: a resend stored again after a failover lost the
      // first copy from history (it had already been delivered live). Deliver it once.
      const key = `${message.channel}\n${message.from}\n${message.mid}`
      if (this.#seenMids.has(key)) return
      this.#seenMids.add(key)
      if (this.#seenMids.size > SEEN_MIDS) this.#seenMids.delete(this.#seenMids.values().next().value as string)
    }
    const amendment = amendmentOf(message)
    if (amendment !== undefined) return this.emit('amend', amendment)
    this.#typingIn.messageFrom(message.channel, message.from)
    this.emit('message', message)
  }

  #onReply (frame: Frame): void {
    const pending = typeof frame.id === 'number' ? this.#pending.get(frame.id) : undefined
    if (pending === undefined) return
    // Positions are recorded now, not when the promise settles: messages that arrived in the same
    // read are handled before any promise callback runs, and must already be checked against them.
    if (frame.type === 'subscribed' && Array.isArray(frame.channels)) {
      this.#onSubscribed(pending, frame.channels as SubscribeOutcome[])
    } else if (frame.type === 'joined' || frame.type === 'subscribed') {
      const channel = frame.channel as string
      if (pending.frame.since !== undefined && frame.recovered === false) this.emit('reset', channel)
      this.#position(channel, frame as unknown as Position, frame.recovered === true)
      this.#recovered(channel, frame.recovered === true)
    } else if (frame.type === 'history' || frame.type === 'conversations') {
      // A long history reply, or conversation list, comes in parts; the last one has no `more`.
      const field = frame.type === 'history' ? 'messages' : 'conversations'
      const parts = [...(pending.parts ?? []), ...(frame[field] as unknown[])]
      if (frame.more === true) {
        pending.parts = parts
        return
      }
      frame = { ...frame, [field]: parts }
    }
    this.#settle(pending, frame)
  }

  #onSubscribed (pending: Pending, outcomes: SubscribeOutcome[]): void {
    const asked = new Set((pending.frame.channels as Array<{ channel: string, since?: unknown }>).filter((e) => e.since !== undefined).map((e) => e.channel))
    for (const outcome of outcomes) {
      const { channel } = outcome
      if (outcome.error !== undefined) {
        this.#subscribeFailed(channel, String(outcome.error.code), String(outcome.error.message))
        continue
      }
      this.#subscribeRetries.delete(channel)
      if (asked.has(channel) && outcome.recovered === false) this.emit('reset', channel)
      this.#position(channel, outcome as unknown as Position, outcome.recovered === true)
      // Now, before the replays that follow in the same read: the messages held meanwhile are in them.
      this.#recovered(channel, outcome.recovered === true)
    }
  }

  #onError (frame: Frame): void {
    const pending = typeof frame.id === 'number' ? this.#pending.get(frame.id) : undefined
    if (pending === undefined) return
    const now = Date.now()
    // A request made `once` is not retried, whatever the error.
    if (frame.code === 'UNAVAILABLE' && !pending.once) {
      // The server could not complete it (e.g. Redis failing over): the same frame again later, for a while.
      if (now < pending.retryUntil) {
        pending.retries++
        this.#retry(pending, 50 + fullJitter(pending.retries, 200, 3000))
        return
      }
    } else if (frame.code === 'RATE_LIMITED' && !pending.once && pending.retries < RATE_LIMITED_RETRIES) {
      // Dropped unhandled (frames bunched up on the way): once the budget has room again.
      pending.retries++
      this.#retry(pending, Math.ceil(1000 / this.#limits.frameRate) + (this.#pacer?.waitMs ?? 0) + fullJitter(1, 50, 100))
      return
    }
    this.#settle(pending, new SwitchboardError(String(frame.code), String(frame.message), typeof frame.retryAfterMs === 'number' ? frame.retryAfterMs : undefined))
    // A publish to a room this client is in, refused because the user is not a member: the membership was lost on the
    // server's side (a failover, a Redis restarted empty). The server stopped sending the room; the application is told.
    const channel = pending.frame.channel
    if (frame.reason === 'NOT_MEMBER' && pending.frame.type === 'publish' && typeof channel === 'string') this.#subscribeFailed(channel, String(frame.code), String(frame.message))
  }

  #mid (): string {
    return `${this.#clientId}-${this.#nextMid++}`
  }

  #setState (state: ConnectionState, detail: { delayMs?: number, reason?: string }): void {
    if (state === this.#state && state !== 'reconnecting') return
    this.#state = state
    this.emit('state', state, detail)
  }
}
