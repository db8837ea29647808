/**
 * The Switchboard client: allocate → connect → on any drop, re-allocate and
 * reconnect with full-jitter backoff → recover every channel it holds from
 * its last offset → resend what was not acknowledged (same mid). The
 * application sees each message once.
 */
import { Emitter } from './emitter.js'
import { fullJitter, sleep } from './backoff.js'
import { SwitchboardError } from './types.js'
import type {
  Ack, ClientEvents, ClientOptions, Conversation, ConnectionState, FetchLike, Message, PresenceEvent, WebSocketConstructor, WebSocketLike
} from './types.js'

interface Position { epoch: string, offset: string }
type Frame = Record<string, unknown> & { type: string }
interface Pending {
  readonly frame: Record<string, unknown> & { id: number }
  readonly resolve: (reply: Frame) => void
  readonly reject: (error: Error) => void
  retries: number
  /** redone from scratch on the next connection instead of resent (resubscriptions) */
  readonly perConnection: boolean
}
interface Target { url: string, token: string }

const OPEN = 1
/** how many recent message ids are remembered for dropping resent copies */
const SEEN_MIDS = 10_000

/** Orders two offsets of one channel (negative: `a` is older). Offsets compare as numbers, never as strings. */
export function compareOffsets (a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number)
  const [bm = 0, bs = 0] = b.split('-').map(Number)
  return am - bm || as - bs
}

/** The direct conversation of two users: `dm:{a}:{b}`, their ids in order (the same whoever writes). */
export function dmChannel (a: string, b: string): string {
  return a <= b ? `dm:${a}:${b}` : `dm:${b}:${a}`
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

export class SwitchboardClient extends Emitter<ClientEvents> {
  readonly #options: ClientOptions
  readonly #WebSocket: WebSocketConstructor
  readonly #fetch: FetchLike
  readonly #clientId = randomId()
  /** last delivered position per channel: replay starts after it, and nothing at or before it is delivered again */
  readonly #positions = new Map<string, Position>()
  /** rooms this client listens to (resubscribed on every connection) */
  readonly #rooms = new Set<string>()
  /** rooms this client is joining right now */
  readonly #joining = new Set<string>()
  readonly #pending = new Map<number, Pending>()
  /** recent (channel, from, mid), oldest first */
  readonly #seenMids = new Set<string>()
  /**
   * The newest `at` seen in the conversation list (and of any direct message): a conversation the
   * client does not know yet that is newer was begun while it was away, and is recovered from there.
   * Undefined until the first list: a new client reads its conversations' history itself.
   */
  #listedUpTo: number | undefined
  /** while conversations begun meanwhile are being found after a reconnect: live messages of unknown ones, held */
  #undiscovered: Map<string, Message[]> | undefined
  /**
   * Direct conversations being recovered on this connection, and their live messages that came before the
   * `subscribed` reply. A conversation's messages come through the personal channel from the welcome on, so
   * some arrive before its replay; the replay holds them too, in order (recovered: true), so they are dropped.
   */
  readonly #recovering = new Map<string, Message[]>()
  #socket: WebSocketLike | undefined
  #state: ConnectionState = 'connecting'
  #user: string | undefined
  #server: string | undefined
  #nextId = 1
  #nextMid = 1
  #attempt = 0
  #closed = false
  #redirect: Target | undefined
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

  /**
   * A direct message to `to`, stored in your conversation with them (`dm:{a}:{b}`, see dmChannel).
   * Resolves with its channel and offset once stored.
   */
  async send (to: string, data: unknown): Promise<Ack> {
    const reply = await this.#request({ type: 'send', to, data, mid: this.#mid() })
    return { channel: reply.channel as string, offset: reply.offset as string }
  }

  /** A message to a room you are a member of. */
  async publish (room: string, data: unknown): Promise<Ack> {
    const reply = await this.#request({ type: 'publish', channel: `room:${room}`, data, mid: this.#mid() })
    return { channel: reply.channel as string, offset: reply.offset as string }
  }

  /** Become a member of a room and receive its messages (also after reconnects). */
  async join (room: string): Promise<void> {
    // The `joined` event this join also sends to all of the user's connections is not news here.
    this.#joining.add(room)
    try {
      await this.#request({ type: 'join', room })
    } finally {
      this.#joining.delete(room)
    }
    // The position was recorded when the reply arrived (see #onReply); from now on it is resubscribed.
    this.#rooms.add(room)
  }

  async leave (room: string): Promise<void> {
    this.#rooms.delete(room)
    this.#positions.delete(`room:${room}`)
    await this.#request({ type: 'leave', room })
  }

  /** Up to `limit` messages older than `before` (newest when absent), oldest first. */
  async history (channel: string, options: { before?: string, limit?: number } = {}): Promise<Message[]> {
    const reply = await this.#request({ type: 'history', channel, ...options })
    return reply.messages as Message[]
  }

  async presence (channel: string): Promise<string[]> {
    return (await this.#request({ type: 'presence', channel })).users as string[]
  }

  /**
   * Your direct conversations, most recent first, at most `limit` (1-100, default 50); for the next page pass
   * the last one of this page as `after`.
   */
  async conversations (options: { after?: Conversation, limit?: number } = {}): Promise<Conversation[]> {
    return await this.#listConversations(options, false)
  }

  async #listConversations ({ after, limit }: { after?: Conversation, limit?: number }, perConnection: boolean): Promise<Conversation[]> {
    const reply = await this.#request({
      type: 'conversations', ...(after === undefined ? {} : { after: { at: after.at, channel: after.channel } }), ...(limit === undefined ? {} : { limit })
    }, perConnection)
    const me = this.#user ?? ''
    const list = (reply.conversations as Array<Omit<Conversation, 'with'>>).map((c) => {
      const [, a = '', b = ''] = c.channel.split(':')
      return { ...c, with: a === me ? b : a }
    })
    this.#listedUpTo = Math.max(this.#listedUpTo ?? 0, ...list.map((c) => c.at))
    return list
  }

  /** Rooms this client listens to. */
  get rooms (): string[] { return [...this.#rooms] }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#rejectReady(new SwitchboardError('CLOSED', 'client closed before it connected'))
    this.#socket?.close(1000, 'client closed')
    for (const pending of this.#pending.values()) pending.reject(new SwitchboardError('CLOSED', 'client closed'))
    this.#pending.clear()
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
    let url = `${registryUrl.replace(/\/$/, '')}/allocate`
    if ('user' in auth) url += `?user=${encodeURIComponent(auth.user)}`
    else headers.authorization = `Bearer ${typeof auth.token === 'function' ? await auth.token() : auth.token}`
    const response = await this.#fetch(url, { headers })
    const body = await response.json().catch(() => ({})) as { url?: string, token?: string, code?: string, message?: string }
    if (response.status === 200 && typeof body.url === 'string' && typeof body.token === 'string') return { url: body.url, token: body.token }
    const retryAfter = Number(response.headers.get('retry-after'))
    throw new SwitchboardError(body.code ?? `HTTP_${response.status}`, body.message ?? `allocation failed with ${response.status}`,
      response.status === 503 && retryAfter > 0 ? retryAfter * 1000 : undefined)
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
        for (const pending of [...this.#pending.values()]) {
          if (!pending.perConnection) continue
          this.#pending.delete(pending.frame.id)
          pending.reject(new SwitchboardError('RECONNECTING', 'connection lost; redone on the next one'))
        }
        resolve({ code: event.code, reason: event.reason })
      }
    })
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
      case 'reconnect':
        // The server is draining: go where it says, now.
        if (typeof frame.url === 'string' && typeof frame.token === 'string') this.#redirect = { url: frame.url, token: frame.token }
        return
      case 'error': return this.#onError(frame)
      case 'left':
        // Without an id: this user left the room from one of their connections (maybe this one).
        if (frame.id === undefined) return this.#onLeft(frame.channel as string)
        return this.#onReply(frame)
      case 'joined':
        // Without an id: this user joined the room from one of their connections (maybe this one).
        if (frame.id === undefined) return this.#onJoined(frame.channel as string, frame.since as Position)
        return this.#onReply(frame)
      default: return this.#onReply(frame)
    }
  }

  #onWelcome (socket: WebSocketLike, frame: Frame): void {
    const channel = frame.channel as string
    this.#user = frame.user as string
    this.#server = frame.server as string
    if (frame.recovered === false) this.emit('reset', channel)
    this.#position(channel, frame as unknown as Position, frame.recovered === true)
    for (const room of frame.rooms as string[]) this.#rooms.add(room)
    this.#attempt = 0
    const unanswered = [...this.#pending.values()]
    this.#setState('connected', {})
    this.#resolveReady()
    for (const room of this.#rooms) this.#resubscribe(room)
    // Direct conversations come through the personal channel; each known one is recovered after its position.
    for (const [channel, since] of this.#positions) if (channel.startsWith('dm:')) this.#recoverConversation(channel, since)
    this.#discoverConversations().catch(() => {})
    // Everything not yet answered goes out again on this connection; sends keep their mid.
    for (const pending of unanswered) if (socket.readyState === OPEN) socket.send(JSON.stringify(pending.frame))
  }

  #onJoined (channel: string, joinedAt: Position): void {
    const room = channel.slice('room:'.length)
    if (this.#rooms.has(room) || this.#joining.has(room)) return
    this.#rooms.add(room)
    // Subscribed from where the join happened: messages published since are replayed, none missed.
    this.#positions.set(channel, { epoch: joinedAt.epoch, offset: joinedAt.offset })
    this.#resubscribe(room)
    this.emit('joined', room)
  }

  #onLeft (channel: string): void {
    const room = channel.slice('room:'.length)
    this.#positions.delete(channel)
    if (this.#rooms.delete(room)) this.emit('left', room)
  }

  #recoverConversation (channel: string, since: Position): void {
    this.#recovering.set(channel, [])
    this.#request({ type: 'subscribe', channel, since }, true).then(() => {}, (err: Error) => {
      const held = this.#recovering.get(channel) ?? []
      this.#recovering.delete(channel)
      const code = err instanceof SwitchboardError ? err.code : ''
      // Connection lost: recovered on the next one, from the same position. No longer ours: forgotten.
      if (code === 'RECONNECTING' || code === 'CLOSED') return
      if (code === 'FORBIDDEN') {
        this.#positions.delete(channel)
        return
      }
      // It could not be replayed: what came live is shown, and the gap before it is the application's to reload.
      this.emit('reset', channel)
      this.#positions.delete(channel)
      for (const message of held) this.#onMessage(message)
    })
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
          if (this.#positions.has(c.channel) || c.epoch === '-') continue
          const since = { epoch: c.epoch, offset: `${from}-0` }
          this.#positions.set(c.channel, since)
          recovered.add(c.channel)
          this.#recoverConversation(c.channel, since)
        }
        after = page[page.length - 1]
        more = page.length === 100 && after !== undefined && after.at > from
      }
    } finally {
      if (this.#undiscovered === held) this.#undiscovered = undefined
      for (const [channel, messages] of held) if (!recovered.has(channel)) for (const message of messages) this.#onMessage(message)
    }
  }

  #resubscribe (room: string): void {
    const channel = `room:${room}`
    const since = this.#positions.get(channel)
    // The reply is handled in #onReply (position, reset); only a refusal matters here.
    this.#request({ type: 'subscribe', channel, ...(since === undefined ? {} : { since }) }, true).then(() => {}, (err: Error) => {
      // No longer a member (e.g. left from another device): stop resubscribing.
      if (err instanceof SwitchboardError && err.code === 'FORBIDDEN') {
        this.#positions.delete(channel)
        if (this.#rooms.delete(room)) this.emit('left', room)
      }
    })
  }

  /** Records a channel's position from a welcome/joined/subscribed reply. When recovered, replayed messages advance it instead. */
  #position (channel: string, reply: Position, recovered: boolean): void {
    const known = this.#positions.get(channel)
    if (recovered && known !== undefined) return
    if (known !== undefined && known.epoch === reply.epoch && compareOffsets(known.offset, reply.offset) >= 0) return
    this.#positions.set(channel, { epoch: reply.epoch, offset: reply.offset })
  }

  #onMessage (message: Message): void {
    const position = this.#positions.get(message.channel)
    const recovering = this.#recovering.get(message.channel)
    if (recovering !== undefined) {
      if (recovering.length < SEEN_MIDS) recovering.push(message)
      return
    }
    const held = position === undefined && message.channel.startsWith('dm:') ? this.#undiscovered : undefined
    if (held !== undefined) {
      const list = held.get(message.channel)
      if (list === undefined) held.set(message.channel, [message])
      else if (list.length < SEEN_MIDS) list.push(message)
      return
    }
    // A message in another epoch than the one kept: the channel's history began again (or had none, '-').
    if (position !== undefined && (message.epoch === undefined || message.epoch === position.epoch)) {
      if (compareOffsets(message.offset, position.offset) <= 0) return // already delivered
      position.offset = message.offset
    } else if (message.epoch !== undefined && (position !== undefined || message.channel.startsWith('dm:'))) {
      // A conversation is known from its first message on: its position is kept (and recovered) from then.
      this.#positions.set(message.channel, { epoch: message.epoch, offset: message.offset })
    }
    if (message.channel.startsWith('dm:') && this.#listedUpTo !== undefined) this.#listedUpTo = Math.max(this.#listedUpTo, offsetMs(message.offset))
    if (message.mid !== undefined) {
      // The same (from, mid) at another offset: a resend stored again after a failover lost the
      // first copy from history (it had already been delivered live). Deliver it once.
      const key = `${message.channel}\n${message.from}\n${message.mid}`
      if (this.#seenMids.has(key)) return
      this.#seenMids.add(key)
      if (this.#seenMids.size > SEEN_MIDS) this.#seenMids.delete(this.#seenMids.values().next().value as string)
    }
    this.emit('message', message)
  }

  #onReply (frame: Frame): void {
    const pending = typeof frame.id === 'number' ? this.#pending.get(frame.id) : undefined
    if (pending === undefined) return
    this.#pending.delete(pending.frame.id)
    // Positions are recorded now, not when the promise settles: messages that arrived in the same
    // read are handled before any promise callback runs, and must already be checked against them.
    if (frame.type === 'joined' || frame.type === 'subscribed') {
      const channel = frame.channel as string
      const recovered = frame.recovered === true
      if (pending.frame.since !== undefined && frame.recovered === false) this.emit('reset', channel)
      this.#position(channel, frame as unknown as Position, recovered)
      // Now, before the replay that follows in the same read: the messages held meanwhile are in it (or, not recovered, history).
      const held = this.#recovering.get(channel)
      this.#recovering.delete(channel)
      if (held !== undefined && !recovered) for (const message of held) this.#onMessage(message)
    }
    pending.resolve(frame)
  }

  #onError (frame: Frame): void {
    const pending = typeof frame.id === 'number' ? this.#pending.get(frame.id) : undefined
    if (pending === undefined) return
    if (frame.code === 'UNAVAILABLE' && pending.retries < 10) {
      // The server could not store it (e.g. Redis failing over): resend the same frame later.
      pending.retries++
      setTimeout(() => {
        if (this.#pending.has(pending.frame.id) && this.#socket?.readyState === OPEN) this.#socket.send(JSON.stringify(pending.frame))
      }, fullJitter(pending.retries, 200, 3000))
      return
    }
    this.#pending.delete(pending.frame.id)
    pending.reject(new SwitchboardError(String(frame.code), String(frame.message), typeof frame.retryAfterMs === 'number' ? frame.retryAfterMs : undefined))
  }

  async #request (body: Record<string, unknown>, perConnection = false): Promise<Frame> {
    if (this.#closed) throw new SwitchboardError('CLOSED', 'client closed')
    const frame = { ...body, id: this.#nextId++ }
    return await new Promise((resolve, reject) => {
      this.#pending.set(frame.id, { frame, resolve, reject, retries: 0, perConnection })
      // Sent now if connected and welcomed; otherwise on the next welcome.
      if (this.#state === 'connected' && this.#socket?.readyState === OPEN) this.#socket.send(JSON.stringify(frame))
    })
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
