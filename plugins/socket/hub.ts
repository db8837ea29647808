/**
 * The relay on one socket server: which local connections listen to which
 * channel, and delivery of live frames to them. The store is subscribed to a
 * channel only while at least one local connection listens to it, so a
 * server receives no traffic it does not need.
 *
 * The relay heals its own gaps. For every subscription it keeps, through the
 * delivery gate (gate.ts), the newest offset it handed to its listeners: per
 * room, and per direct conversation for a personal channel (whose frames are
 * the user's conversations'). When the store reports a channel's live
 * delivery interrupted (a failover, a lost or moved subscription, a deaf
 * relay), the hub holds what arrives on it; once the store reports it
 * subscribed again, the hub reads from history what was stored after each
 * mark, hands it on in order, then releases what it held past it: the
 * listeners get every message once, in order, and no client is closed
 * (heal.ts does the reading). Only a channel whose gap cannot be read back
 * (trimmed past the mark, or a new epoch: the history was lost) has its
 * listeners told to recover by themselves (`relayLost`, close 1012).
 *
 * Each message also names the one before it in its channel (`prev`). One
 * whose `prev` is not what the relay last handed on for that channel means a
 * message is missing here: published out of order (on Redis Cluster a direct
 * conversation reaches its users' personal channels in a second step, so two
 * senders' messages can cross) or lost without the subscription noticing. It
 * is healed the same way: held, the gap read back, then let through.
 */
import type { FastifyBaseLogger } from 'fastify'
import { compareOffsets } from '../store/types.js'
import type { LiveFrame, RelayGapListener, Store } from '../store/types.js'
import { DeliveryGate } from './gate.js'
import { CLOCK_MARGIN_MS, noteEpoch, readGap, Unrecoverable } from './heal.js'
import type { Position } from '../store/types.js'

/** What the hub needs of a connection. */
export interface Listener {
  /** a live frame heard on `via` (the channel it listens to) */
  deliver (via: string, frame: LiveFrame): void
  /** live delivery of `via` had a gap the server could not read back: the client must recover by itself */
  relayLost (via: string): void
  /**
   * a gap of `via` was healed: its messages went out, its events (presence, membership) did not (they are not
   * stored). `online`: for a room, who is online in it now (read once for all its listeners)
   */
  afterGap? (via: string, online: readonly string[] | undefined): void
}

/** The relay's part of a subscription: what it handed on, and a gap it is healing. */
export interface Relayed {
  readonly channel: string
  readonly listeners: Set<Listener>
  /** what went out, per channel it carries (marks kept: gate.ts) */
  readonly gate: DeliveryGate
  /** the epoch of each mark, and of each boundary */
  epochs: Map<string, string> | undefined
  /** per channel it carries, the oldest boundary a listener attached at (where a heal starts when nothing went out since) */
  boundaries: Map<string, string> | undefined
  /** when it was subscribed, local ms */
  readonly subscribedAt: number
  /** set while interrupted: when the interruption began, local ms */
  interruptedAt: number | undefined
  /** subscribed again since the last interruption */
  resumed: boolean
  healing: boolean
  again: boolean
}

interface Subscription extends Relayed {
  /** settles when the store subscription is active; dropped once it has (a server holds many channels) */
  ready: Promise<void> | undefined
}

export interface HubOptions {
  /** sees each live frame once it has gone to the local listeners (metrics) */
  readonly relayed?: (frame: LiveFrame) => void
  /** a gap was healed (`recovered`: messages read back and handed on) or could not be (its listeners were told) */
  readonly healed?: (outcome: 'healed' | 'lost', recovered: number) => void
  /** bytes a subscription may hold while its gap is read back; beyond that its listeners recover by themselves */
  readonly maxHeldBytes?: number
  /** gaps read at once (after a failover every subscription has one) */
  readonly concurrency?: number
  /** local clock, ms */
  readonly now?: () => number
}

const MAX_HELD_BYTES = 4 * 1024 * 1024
const CONCURRENCY = 16
/** Read attempts of one gap before its listeners are told to recover by themselves (a store still failing over). */
const ATTEMPTS = 8

export class Hub {
  readonly #store: Store
  readonly #log: FastifyBaseLogger
  readonly #options: HubOptions
  readonly #channels = new Map<string, Subscription>()
  readonly #queue: Array<() => void> = []
  #running = 0
  #received = 0
  readonly #onMessage = (channel: string, frame: LiveFrame): void => {
    this.#received++
    const subscription = this.#channels.get(channel)
    if (subscription === undefined) return
    if (subscription.interruptedAt === undefined && this.#missesOne(subscription, frame)) {
      // The message before this one has not come (it crossed this one on the way, or was lost): read it back first.
      this.#interrupt(subscription)
      subscription.gate.live(frame, channel)
      this.#resume(subscription)
      return
    }
    if (!subscription.gate.live(frame, channel)) {
      if (subscription.gate.heldBytes > (this.#options.maxHeldBytes ?? MAX_HELD_BYTES)) this.#lose(subscription, 'too much held while healing')
      return
    }
    noteEpoch(subscription, frame.channel, frame.epoch)
    this.#handOn(subscription, frame)
  }

  constructor (store: Store, log: FastifyBaseLogger, options: HubOptions = {}) {
    this.#store = store
    this.#log = log
    this.#options = options
  }

  /** Follows the store's reports of gaps in live delivery; returns a function that stops it. */
  watchGaps (): () => void {
    const listener: RelayGapListener = {
      interrupted: (channels) => { for (const s of this.#matching(channels)) this.#interrupt(s) },
      resumed: (channels) => { for (const s of this.#matching(channels)) this.#resume(s) }
    }
    return this.#store.onRelayGap(listener)
  }

  /** Adds a listener to a channel; resolves once live messages of that channel reach it. */
  async add (channel: string, listener: Listener): Promise<void> {
    const existing = this.#channels.get(channel)
    if (existing !== undefined) {
      existing.listeners.add(listener)
      if (existing.ready !== undefined) await existing.ready
      return
    }
    const ready = this.#store.subscribe(channel, this.#onMessage)
    const subscription: Subscription = {
      channel,
      listeners: new Set([listener]),
      ready,
      gate: new DeliveryGate(RELAY_GATE),
      epochs: undefined,
      boundaries: undefined,
      subscribedAt: this.#now(),
      interruptedAt: undefined,
      resumed: false,
      healing: false,
      again: false
    }
    this.#channels.set(channel, subscription)
    try {
      await ready
      subscription.ready = undefined
    } catch (err) {
      if (this.#channels.get(channel) === subscription) this.#channels.delete(channel)
      throw err
    }
  }

  remove (channel: string, listener: Listener): void {
    const subscription = this.#channels.get(channel)
    if (subscription === undefined || !subscription.listeners.delete(listener)) return
    if (subscription.listeners.size > 0) return
    this.#channels.delete(channel)
    this.#store.unsubscribe(channel, this.#onMessage).catch((err: unknown) => {
      this.#log.warn({ err, channel }, 'unsubscribe failed')
    })
  }

  /**
   * A listener of `via` started from `position` of `channel` (its reply's boundary): if a gap must be
   * healed before anything of `channel` went out here, it is read from the oldest such boundary.
   */
  noteBoundary (via: string, channel: string, position: Position): void {
    // A personal channel's own frames are events, never stored: it has no boundary to heal from (and every connection has one).
    if (channel.startsWith('user:')) return
    const subscription = this.#channels.get(via)
    if (subscription === undefined || subscription.gate.mark(channel) !== undefined) return
    const known = subscription.boundaries?.get(channel)
    if (known !== undefined && compareOffsets(known, position.offset) <= 0) return
    subscription.boundaries ??= new Map()
    subscription.boundaries.set(channel, position.offset)
    noteEpoch(subscription, channel, position.epoch)
  }

  /** Live frames received so far (any channel): proof the relay hears, even when probes queue behind a backlog. */
  get received (): number {
    return this.#received
  }

  /** Subscriptions holding their live frames while a gap is healed. */
  get healing (): number {
    let n = 0
    for (const s of this.#channels.values()) if (s.interruptedAt !== undefined) n++
    return n
  }

  #matching (channels: readonly string[] | undefined): Subscription[] {
    if (channels === undefined) return [...this.#channels.values()]
    const found: Subscription[] = []
    for (const channel of channels) {
      const subscription = this.#channels.get(channel)
      if (subscription !== undefined) found.push(subscription)
    }
    return found
  }

  #interrupt (subscription: Subscription): void {
    subscription.interruptedAt ??= this.#now()
    subscription.resumed = false
    subscription.gate.hold(subscription.channel)
  }

  #resume (subscription: Subscription): void {
    if (subscription.interruptedAt === undefined) return
    subscription.resumed = true
    if (subscription.healing) {
      subscription.again = true
      return
    }
    subscription.healing = true
    this.#limit(async () => { await this.#heal(subscription) }).catch((err: unknown) => {
      this.#log.warn({ err, channel: subscription.channel }, 'relay gap could not be healed')
      this.#lose(subscription, 'the gap could not be read back')
    }).finally(() => { subscription.healing = false })
  }

  /** Reads the gap back (again, while the subscription was interrupted anew meanwhile), then lets live frames through. */
  async #heal (subscription: Subscription): Promise<void> {
    let recovered = 0
    for (let attempt = 1; ; attempt++) {
      if (this.#channels.get(subscription.channel) !== subscription || subscription.interruptedAt === undefined) return
      subscription.again = false
      try {
        recovered += await readGap(this.#store, subscription, (frame) => { this.#handOn(subscription, frame) })
      } catch (err) {
        if (err instanceof Unrecoverable || attempt >= ATTEMPTS) throw err
        this.#log.debug({ err, channel: subscription.channel, attempt }, 'reading a relay gap failed; trying again')
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** attempt)).unref())
        continue
      }
      // Interrupted again while reading: the next `resumed` reads on from the marks.
      if (!subscription.resumed) return
      if (subscription.again) continue
      break
    }
    subscription.interruptedAt = undefined
    for (const frame of subscription.gate.open(subscription.channel, undefined)) {
      noteEpoch(subscription, frame.channel, frame.epoch)
      this.#handOn(subscription, frame)
    }
    this.#options.healed?.('healed', recovered)
    if (recovered > 0) this.#log.info({ channel: subscription.channel, recovered }, 'relay gap healed')
    this.#afterGap(subscription).catch((err: unknown) => { this.#log.debug({ err, channel: subscription.channel }, 'no presence after a healed gap') })
  }

  /** After a healed gap: the listeners make good the events it lost (a room's presence, read here once for all of them). */
  async #afterGap (subscription: Subscription): Promise<void> {
    const { channel, listeners } = subscription
    const online = channel.startsWith('room:') ? await this.#store.presence(channel) : undefined
    for (const listener of listeners) listener.afterGap?.(channel, online)
  }

  /** The gap cannot be read back: the listeners recover by themselves (close 1012); nothing more goes out meanwhile. */
  #lose (subscription: Subscription, reason: string): void {
    if (subscription.interruptedAt === undefined) return
    this.#log.warn({ channel: subscription.channel, listeners: subscription.listeners.size, reason }, 'relay gap lost: its listeners recover by themselves')
    subscription.interruptedAt = undefined
    subscription.gate.forgetChannel(subscription.channel)
    this.#options.healed?.('lost', 0)
    for (const listener of [...subscription.listeners]) listener.relayLost(subscription.channel)
    // Whoever listens again reads history from its own position: the subscription starts over.
    if (this.#channels.get(subscription.channel) === subscription) {
      this.#channels.delete(subscription.channel)
      this.#store.unsubscribe(subscription.channel, this.#onMessage).catch(() => {})
    }
  }

  /** Whether the message before `frame` in its channel should have come through this subscription and has not (gate.ts `ahead`). */
  #missesOne (subscription: Subscription, frame: LiveFrame): boolean {
    if (frame.prev === undefined || frame.offset === undefined) return false
    // A new epoch starts its chain over: its first message's `prev` is of no earlier epoch.
    const epoch = subscription.epochs?.get(frame.channel)
    if (epoch !== undefined && epoch !== frame.epoch) return false
    // Nothing of this channel went out here yet: what came before where its listeners started (or, for a conversation
    // of a personal channel, before the subscription began) is history; a message before this one and after that is missing.
    const floor = subscription.gate.mark(frame.channel) !== undefined
      ? undefined
      : subscription.boundaries?.get(frame.channel) ?? (frame.prev === NO_PREVIOUS ? undefined : `${Math.max(0, subscription.subscribedAt - CLOCK_MARGIN_MS)}-0`)
    return subscription.gate.ahead(frame, floor)
  }

  #handOn (subscription: Subscription, frame: LiveFrame): void {
    for (const listener of subscription.listeners) listener.deliver(subscription.channel, frame)
    this.#options.relayed?.(frame)
  }

  /** Runs `task` once fewer than `concurrency` others run. */
  async #limit (task: () => Promise<void>): Promise<void> {
    if (this.#running >= (this.#options.concurrency ?? CONCURRENCY)) await new Promise<void>((resolve) => { this.#queue.push(resolve) })
    this.#running++
    try {
      await task()
    } finally {
      this.#running--
      this.#queue.shift()?.()
    }
  }

  #now (): number {
    return (this.#options.now ?? Date.now)()
  }
}

/** The `prev` of a channel's first message. */
const NO_PREVIOUS = '0-0'

/** The relay's gates keep their marks, at most 1000 a subscription: a personal channel's conversations beyond it are healed from a time instead (heal.ts). */
const RELAY_GATE = Object.freeze({ compare: compareOffsets, forget: false, maxMarks: 1000 })
