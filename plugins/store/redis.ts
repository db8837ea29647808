/**
 * The Redis store: fleet state in sorted sets and hashes, channel history in
 * streams, live delivery over per-channel pub/sub. It uses two connections
 * handed to it (commands, and a subscriber, since a subscribed connection
 * cannot run commands) and never closes them: their owner does.
 */
import type { Cluster, Redis, Result } from 'ioredis'
import { batchCall, entryResult, quotaArguments, quotasOn, splitReply } from './append-batch.js'
import { amendmentMid, finishFrame, finishStored, senderHead, splitLive, storedFrames } from './message-frame.js'
import { AMEND } from './amend-script.js'
import { ENTER, MEMBERS, MODERATE, ROOM_KEYS } from './room-scripts.js'
import { moderationArguments, pageOfMembers, roomInfoOf } from './rooms.js'
import type { BatchNames } from './append-batch.js'
import { Batcher } from './batcher.js'
import { BulkScript } from './bulk-script.js'
import { ChannelListeners } from './channel-listeners.js'
import { newEpoch } from './epoch.js'
import { RedisReads } from './redis-reads.js'
import { ShardedRelay } from './sharded-relay.js'
import { SubscriptionBatch } from './subscriptions.js'
import {
  ANNOUNCE, APPEND_BATCH, CLAIM, COMPONENTS, DELIVER_TO_USER, DEREGISTER, DROP_PRESENCE, EVICT, HEARTBEAT, HISTORY_SPAN, POSITION, PRESENCE,
  PRESENCE_ADD, PRESENCE_REMOVE, QUOTA_BATCH, RATE, READ_PAGE, RECOVER, RELEASE, REQUEST_DRAIN, RESERVE_BATCH, RETIRE, SET_BLOCK
} from './scripts.js'
import { HOLDS_TTL_MS, RESERVATION_GRACE_MS, WHOLE_PAGE, compareOffsets, holdOf, resolveStoreLimits } from './types.js'
import type {
  AmendInput, AmendResult, AppendInput, AppendResult, ComponentRecord, ComponentRole, ComponentStatus, ConversationCursor, ConversationEntry, HeartbeatReply, HistorySpan, ListOptions, MessageHandler,
  JoinOutcome, Moderation, ModerationOutcome, PageLimits, Position, RateCount, ReadMark, ReadRange, Receipt, Recovery, RelayGapListener, RoomInfo, RoomMember, RoomRole, ReserveRequest, ReserveResult, ServerRecord, ServerStatus, Store, StoreLimits, StoredFrame
} from './types.js'
import { DEFAULT_KEY_PREFIX, keys as makeKeys, readCreatesHistory, userChannel } from '../names.js'
import { slotOf } from './slot.js'
import { within } from '../deadline.js'
import type { Keys } from '../names.js'

type Str = string | number
/** classic pub/sub on one Redis (and Sentinel), sharded pub/sub on Redis Cluster */
type PublishCommand = 'PUBLISH' | 'SPUBLISH'
declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbPosition (stream: string, meta: string, epoch: string, ttlMs: number, create: number): Result<[string, string], Context>
    sbRecover (stream: string, meta: string, epoch: string, ttlMs: number, since: string, sinceEpoch: string, limit: number,
      maxBytes: number, create: number): Result<Array<string | number>, Context>
    sbReadPage (stream: string, meta: string, after: string, upTo: string, limit: number, maxBytes: number, epoch: string): Result<Array<string | number>, Context>
    sbHistorySpan (stream: string, before: string, limit: number, maxBytes: number): Result<Array<string | number>, Context>
    sbDeliverToUser (list: string, live: string, frames: string, channel: string, at: number, max: number, ttlMs: number): Result<null, Context>
    sbSetBlock (blocks: string, other: string, blocked: number, max: number): Result<string, Context>
    sbEnter (members: string, room: string, roles: string, bans: string, mutes: string, invites: string, user: string, rules: number): Result<string, Context>
    sbModerate (members: string, room: string, roles: string, bans: string, mutes: string, invites: string, by: string, action: string, user: string,
      role: string, title: string, topic: string): Result<string, Context>
    sbMembers (members: string, room: string, roles: string, bans: string, mutes: string, invites: string): Result<Array<string | number>, Context>
    sbAmend (stream: string, meta: string, dedup: string, members: string, mutes: string, epoch: string, ttlMs: number, target: string, kind: string, dataJson: string,
      at: number, prefix: string, head: string, sender: string, hasMid: number, memberOnly: number, dedupTtlMs: number, historySize: number, publish: string,
      ...lives: string[]): Result<Array<string | number>, Context>
    sbPresenceAdd (presence: string, alive: string, index: string, user: string, server: string, windowMs: number, live: string, event: string,
      channel: string): Result<number, Context>
    sbPresenceRemove (presence: string, alive: string, user: string, server: string, windowMs: number, live: string, event: string): Result<number, Context>
    sbPresence (presence: string, alive: string, windowMs: Str): Result<string[], Context>
    sbHeartbeat (load: string, alive: string, server: string, reservations: string, id: string, url: string, capacity: number, draining: number,
      startedAt: number, connections: number, graceMs: number, rate: Str): Result<[number, number], Context>
    sbRequestDrain (server: string): Result<number, Context>
    sbDeregister (load: string, alive: string, server: string, reservations: string, id: string): Result<null, Context>
    sbClaim (reservations: string, holds: string, nonce: string, hold: string, ttlMs: number): Result<number, Context>
    sbRelease (load: string, holds: string, id: string, hold: string): Result<null, Context>
    sbRate (counter: string, windowMs: number): Result<[number, number], Context>
    sbRetire (components: string, component: string, id: string): Result<null, Context>
    sbAnnounce (components: string, component: string, id: string, startedAt: number, details: string, ttlMs: number): Result<null, Context>
    sbComponents (components: string, componentPrefix: string): Result<string[], Context>
    sbEvict (load: string, alive: string, timeoutMs: number, serverPrefix: string, reservationsPrefix: string): Result<string[], Context>
    sbDropPresence (index: string, alive: string, server: string, windowMs: number, presencePrefix: string): Result<Array<string | number>, Context>
  }
}

export interface RedisStoreOptions {
  /** commands: one Redis, or a Redis Cluster */
  readonly client: Redis | Cluster
  /** pub/sub: a second connection, or on Redis Cluster a second Cluster client (its slot map places sharded subscriptions) */
  readonly subscriber: Redis | Cluster
  /** key prefix, default `sb:` */
  readonly prefix?: string
  readonly limits?: Partial<StoreLimits>
  /** Redis Cluster: a per-shard subscription connection reported an error, or was lost and is being replaced */
  readonly onShardConnection?: (event: 'error' | 'lost', node: string, err?: Error) => void
}

export class RedisStore implements Store {
  readonly kind = 'redis'
  readonly #client: Redis | Cluster
  readonly #subscriber: Redis | Cluster
  /** SUBSCRIBE / UNSUBSCRIBE on the subscriber (one Redis), gathered per turn of the event loop */
  readonly #subscriptions = new SubscriptionBatch(async (op, names) => {
    await untilReady(this.#subscriber as Redis)
    return await this.#subscriber[op](...names)
  })

  /** Redis Cluster: sharded pub/sub, one connection per shard where this process listens */
  readonly #relay: ShardedRelay | undefined
  readonly #publish: PublishCommand
  readonly #keys: Keys
  /** the key names a batch call uses, a room's members set found from its channel */
  readonly #batchNames: BatchNames
  readonly #serverPrefix: string
  readonly #limits: StoreLimits
  /** read positions, receipts and the conversation list */
  readonly #reads: RedisReads
  readonly #listeners = new ChannelListeners()
  readonly #pending = new Map<string, Promise<unknown>>()
  /** appends leave in batches: one script call per event-loop turn (per slot on Redis Cluster) */
  readonly #appends: Batcher<AppendInput, AppendResult>
  /** `/allocate` storms: a registry's reservations of one event-loop turn are one script call */
  readonly #reservations = new Batcher<ReserveRequest, ReserveResult>(async (requests) => await this.#reserveBatch(requests))
  readonly #gapListeners = new Set<RelayGapListener>()
  /** per connection written through, how many times it has closed (#confirm) */
  readonly #closes = new WeakMap<Redis, number>()
  #subscriberLost = false
  #closing = false
  readonly #onSubscriberClose = (): void => {
    if (this.#subscriberLost) return
    this.#subscriberLost = true
    this.#interrupted(undefined)
  }

  readonly #onSubscriberReady = (): void => {
    if (!this.#subscriberLost) return
    this.#subscriberLost = false
    this.#resumeAll()
  }

  /**
   * ioredis sends its own SUBSCRIBE for every channel when it reconnects, but does not wait for the
   * replies: a read from history made before they are confirmed could miss what is published in
   * between. So every channel is subscribed again here and the gap reported once Redis confirmed it
   * (SUBSCRIBE replies come in order on the connection); a failure is retried until it succeeds or the
   * connection is lost again (then its next 'ready' does it).
   */
  #resumeAll (): void {
    this.#resubscribeAll().catch(() => {
      if (this.#subscriberLost || this.#closing) return
      setTimeout(() => { if (!this.#subscriberLost && !this.#closing) this.#resumeAll() }, 200).unref()
    })
  }

  /**
   * After a failover the two connections find the new master each on its own, and not always the right one: a
   * Sentinel that has not heard of the switch yet names the old master, which, back from a pause, still calls itself
   * master for a moment and then turns into a replica of the new one, replacing its data. A gap read there would
   * miss what the new master took meanwhile, and once that node replicates, the messages after the gap would arrive
   * live and hide it for good. So the gap is reported once both connections reach the same node (compared by the
   * address each socket is connected to), that node says it is a master (ROLE), and, with `waitReplicas`, has that
   * many replicas attached (a master left behind has none). After RESUME_WAIT_MS it is reported anyway.
   */
  async #readyToHeal (): Promise<void> {
    const deadline = Date.now() + RESUME_WAIT_MS
    while (Date.now() < deadline && !this.#closing && !this.#subscriberLost) {
      const client = this.#client as Redis
      const command = peerOf(client)
      if (command !== undefined && command === peerOf(this.#subscriber as Redis)) {
        const role = await client.call('ROLE').catch(() => undefined) as [string, number, unknown[]] | undefined
        if (role?.[0] === 'master' && (role[2]?.length ?? 0) >= this.#limits.waitReplicas) return
      }
      await new Promise((resolve) => setTimeout(resolve, 50).unref())
    }
  }

  #interrupted (channels: readonly string[] | undefined): void {
    for (const listener of this.#gapListeners) listener.interrupted(channels)
  }

  #resumed (channels: readonly string[] | undefined): void {
    for (const listener of this.#gapListeners) listener.resumed(channels)
  }

  /** Redis Cluster: live names (the relay's) to the channels subscribed with them. */
  #channelsOf (names: readonly string[]): string[] {
    const channels: string[] = []
    for (const name of names) {
      const channel = this.#keys.channelOfLive(name)
      if (channel !== undefined) channels.push(channel)
    }
    return channels
  }

  readonly #onMessage = (liveChannel: string, payload: string): void => {
    const channel = this.#keys.channelOfLive(liveChannel)
    if (channel === undefined) return
    // A batch publishes each channel's new frames as one payload (message-frame.ts).
    for (const frame of splitLive(channel, payload)) this.#listeners.dispatch(channel, frame)
  }

  constructor (options: RedisStoreOptions) {
    const prefix = options.prefix ?? DEFAULT_KEY_PREFIX
    this.#client = options.client
    this.#subscriber = options.subscriber
    this.#keys = makeKeys(prefix)
    const k = this.#keys
    this.#batchNames = { ...k, members: (channel) => k.members(channel.slice('room:'.length)), mutes: (channel) => k.mutes(channel.slice('room:'.length)), personal: userChannel }
    this.#serverPrefix = this.#keys.server('')
    this.#limits = resolveStoreLimits(options.limits)
    defineScripts(this.#client)
    this.#reads = new RedisReads(this.#client, this.#keys, this.#limits)
    // At most 256 messages or ~1 MB of frames per batch: a script call must not hold Redis up for long.
    this.#appends = new Batcher(async (inputs) => await this.#appendBatch(inputs),
      { maxWeight: 1 << 20, weigh: (input) => input.framePrefix.length })
    if (isCluster(this.#subscriber)) {
      this.#publish = 'SPUBLISH'
      this.#relay = new ShardedRelay({
        cluster: this.#subscriber,
        onMessage: this.#onMessage,
        probePrefix: `${prefix}{relay-probe:${newEpoch()}:`,
        onInterrupted: (names) => { this.#interrupted(this.#channelsOf(names)) },
        onGap: (names) => { this.#resumed(this.#channelsOf(names)) },
        onConnectionError: (node, err) => options.onShardConnection?.('error', node, err),
        onConnectionLost: (node) => options.onShardConnection?.('lost', node)
      })
      return
    }
    this.#publish = 'PUBLISH'
    this.#relay = undefined
    this.#subscriber.on('message', this.#onMessage)
    // ioredis resubscribes by itself after a reconnect, but what was published in between is gone.
    this.#subscriber.on('close', this.#onSubscriberClose)
    this.#subscriber.on('ready', this.#onSubscriberReady)
  }

  /** Redis Cluster only: the nodes (`host:port`) this store holds sharded subscriptions on. */
  shards (): string[] {
    return this.#relay?.shards() ?? []
  }

  async heartbeat (server: ServerRecord, connections: number): Promise<HeartbeatReply> {
    const k = this.#keys
    const [readmitted, drain] = await this.#client.sbHeartbeat(k.load, k.alive, k.server(server.id), k.reservations(server.id), server.id, server.url,
      server.capacity, server.draining ? 1 : 0, server.startedAt, connections, RESERVATION_GRACE_MS, server.messagesPerSecond ?? '')
    return { readmitted: readmitted === 1, drainRequested: drain === 1 }
  }

  async requestDrain (id: string): Promise<boolean> {
    return (await this.#client.sbRequestDrain(this.#keys.server(id))) === 1
  }

  async deregister (id: string): Promise<void> {
    const k = this.#keys
    // A script, not MULTI: Redis at maxmemory refuses to queue even deletions in a transaction, and a server must be able to leave.
    await this.#client.sbDeregister(k.load, k.alive, k.server(id), k.reservations(id), id)
  }

  async adjustLoad (id: string, delta: number): Promise<void> {
    // XX: never re-create the entry of a server that was deregistered or evicted.
    await this.#client.zadd(this.#keys.load, 'XX', 'INCR', delta, id)
  }

  async reserve (request: ReserveRequest): Promise<ReserveResult> {
    return await this.#reservations.add(request)
  }

  async #reserveBatch (requests: readonly ReserveRequest[]): Promise<ReserveResult[]> {
    const k = this.#keys
    // KEYS: load, alive, then per request its user's holds and rate counter. ARGV: server hash prefix, reservations prefix, N, grace ms,
    // holds ttl ms, then per request: alive window ms, nonce, expiresAt, excluded id, max holds, max requests, window ms, avoided id (see RESERVE_BATCH).
    const args = [String(2 + 2 * requests.length), k.load, k.alive]
    for (const r of requests) args.push(k.holds(r.user), k.rate(`allocate:user:${r.user}`))
    args.push(this.#serverPrefix, k.reservations(''), String(requests.length), String(RESERVATION_GRACE_MS), String(HOLDS_TTL_MS))
    for (const r of requests) {
      const budget = r.budget
      args.push(String(r.aliveWithinMs), r.nonce, String(r.expiresAt), r.exclude ?? '',
        String(budget?.maxHolds ?? 0), String(budget?.rateMax ?? 0), String(budget?.rateWindowMs ?? 0), r.avoid ?? '')
    }
    const reply = await RESERVE_SCRIPT.run<Array<string | number>>(this.#client, args)
    // Each chosen server once, then each request's row (or refusal) and the load it saw (or how long to wait).
    const rows = Number(reply[0])
    const chosen: Array<Omit<ServerStatus, 'load'>> = []
    for (let r = 0; r < rows; r++) {
      const [id, url, capacity, lastHeartbeat, startedAt] = reply.slice(1 + r * 5, 6 + r * 5)
      chosen.push({ id: String(id), url: String(url), capacity: Number(capacity), draining: false, lastHeartbeat: Number(lastHeartbeat), startedAt: Number(startedAt) })
    }
    const picks = 1 + rows * 5
    return requests.map((_, i): ReserveResult => {
      const pick = Number(reply[picks + 2 * i])
      const second = Number(reply[picks + 2 * i + 1])
      if (pick === -1) return { status: 'over_cap', retryAfterMs: second }
      if (pick === -2) return { status: 'rate_limited', retryAfterMs: second }
      const row = chosen[pick - 1]
      if (row === undefined) return NO_CAPACITY
      // Spelled out: an object spread per request shows in the profile of an /allocate storm.
      const { id, url, capacity, draining, lastHeartbeat, startedAt } = row
      return { status: 'reserved', server: { id, url, load: second, capacity, draining, lastHeartbeat, startedAt } }
    })
  }

  async claim (serverId: string, nonce: string, user: string): Promise<boolean> {
    const k = this.#keys
    return (await this.#client.sbClaim(k.reservations(serverId), k.holds(user), nonce, holdOf(serverId, nonce), HOLDS_TTL_MS)) === 1
  }

  async release (serverId: string, nonce: string, user: string): Promise<void> {
    const k = this.#keys
    await this.#client.sbRelease(k.load, k.holds(user), serverId, holdOf(serverId, nonce))
  }

  async rateHit (bucket: string, windowMs: number): Promise<RateCount> {
    const [count, resetInMs] = await this.#client.sbRate(this.#keys.rate(bucket), windowMs)
    return { count, resetInMs }
  }

  async evictStale (timeoutMs: number): Promise<string[]> {
    const k = this.#keys
    return await this.#client.sbEvict(k.load, k.alive, timeoutMs, this.#serverPrefix, k.reservations(''))
  }

  async dropPresence (serverId: string): Promise<Array<{ channel: string, user: string, gone: boolean }>> {
    const k = this.#keys
    const flat = await this.#client.sbDropPresence(k.presenceIndex(serverId), k.alive, serverId, this.#limits.aliveWithinMs, k.presence(''))
    const dropped: Array<{ channel: string, user: string, gone: boolean }> = []
    for (let i = 0; i + 2 < flat.length; i += 3) dropped.push({ channel: String(flat[i]), user: String(flat[i + 1]), gone: Number(flat[i + 2]) === 1 })
    return dropped
  }

  async listServers (): Promise<ServerStatus[]> {
    const [load, alive] = await Promise.all([
      this.#client.zrange(this.#keys.load, 0, -1, 'WITHSCORES'),
      this.#client.zrange(this.#keys.alive, 0, -1, 'WITHSCORES')
    ])
    const loads = pairs(load)
    const beats = pairs(alive)
    const ids = [...new Set([...loads.keys(), ...beats.keys()])]
    const records = await Promise.all(ids.map(async (id) => await this.#client.hgetall(this.#keys.server(id))))
    return ids.map((id, i): ServerStatus => {
      const record = records[i] ?? {}
      return {
        id,
        url: record.url ?? '',
        capacity: Number(record.capacity ?? 0),
        draining: record.draining === '1',
        startedAt: Number(record.startedAt ?? 0),
        load: loads.get(id) ?? 0,
        lastHeartbeat: beats.get(id) ?? null,
        ...(record.connections !== undefined ? { connections: Number(record.connections) } : {}),
        ...(record.rate !== undefined ? { messagesPerSecond: Number(record.rate) } : {}),
        drainRequested: record.drainRequestedAt !== undefined
      }
    }).sort((a, b) => a.load - b.load || (a.id < b.id ? -1 : 1))
  }

  // Not async: the hot path; a function that returns its promise spares a promise and a turn of the microtask queue.
  append (input: AppendInput): Promise<AppendResult> {
    return this.#appends.add(input)
  }

  /**
   * One APPEND_BATCH call on one Redis. On Redis Cluster a script touches one slot, so: the senders'
   * quotas are charged first (QUOTA_BATCH, per sender slot), then one APPEND_BATCH per channel slot, sent
   * together, and a direct conversation's frames then reach each of its users in their own slot
   * (DELIVER_TO_USER). A failed slot fails only its own messages, and a retry with the same mid heals a
   * half-done one (its conversation lists are touched again). With `waitReplicas`, confirmed by the
   * replicas before anyone is acknowledged.
   */
  async #appendBatch (inputs: readonly AppendInput[]): Promise<Array<AppendResult | Error>> {
    if (!isCluster(this.#client)) {
      const watched = this.#watch(() => [this.#client as Redis])
      const { results } = splitReply(await this.#runBatch(inputs, true), inputs.length)
      await this.#confirm(watched)
      return results.map(entryResult)
    }
    const results: Array<AppendResult | Error | undefined> = await this.#checkSenders(inputs)
    const bySlot = new Map<number, number[]>()
    inputs.forEach((input, i) => {
      if (results[i] !== undefined) return
      const slot = slotOf(this.#keys.history(input.channel))
      const group = bySlot.get(slot)
      if (group === undefined) bySlot.set(slot, [i])
      else group.push(i)
    })
    const groups = [...bySlot.values()]
    const watched = this.#watch(() => groups.map((group) => this.#nodeFor(this.#keys.history(inputs[group[0] ?? 0]?.channel ?? ''))))
    // A slot that fails (a failover, a slot on the move) fails only the messages with an entry in it.
    const settled = await Promise.allSettled(groups.map(async (group) => {
      const batch = group.map((i) => inputs[i] as AppendInput)
      const reply = splitReply(await this.#runBatch(batch, false), batch.length)
      await this.#deliverConversations(batch, reply.results, reply.epochs, reply.starts)
      return reply.results
    }))
    await this.#confirm(watched, groups.flatMap((_, g) => settled[g]?.status === 'fulfilled' ? [g] : []))
    groups.forEach((group, g) => {
      const outcome = settled[g]
      group.forEach((i, j) => {
        results[i] = outcome?.status === 'fulfilled' ? entryResult(outcome.value[j] ?? '') : outcome?.reason as Error
      })
    })
    return results.map((r) => r ?? new Error('no result for a message of the batch'))
  }

  async #runBatch (inputs: readonly AppendInput[], anySlot: boolean): Promise<string[]> {
    return await APPEND_SCRIPT.run<string[]>(this.#client, batchCall(inputs, this.#batchNames, {
      epoch: newEpoch(), limits: this.#limits, publish: this.#publish, anySlot
    }))
  }

  /**
   * Redis Cluster (and edits and deletes anywhere): each input's refusal in its sender's slot (blocked, over a quota), or
   * undefined once let through (QUOTA_BATCH, one call per sender slot).
   */
  async #checkSenders (inputs: ReadonlyArray<AppendInput | AmendInput>): Promise<Array<AppendResult | Error | undefined>> {
    const results: Array<AppendResult | Error | undefined> = inputs.map(() => undefined)
    const quotas = quotasOn(this.#limits)
    if (!quotas && !inputs.some((input) => input.recipient !== undefined)) return results
    const bySlot = new Map<number, { keys: string[], args: string[], entries: number[] }>()
    inputs.forEach((input, i) => {
      const key = this.#keys.quota(input.sender)
      const slot = slotOf(key)
      let group = bySlot.get(slot)
      if (group === undefined) bySlot.set(slot, group = { keys: [], args: [], entries: [] })
      let s = group.keys.indexOf(key)
      if (s < 0) s = (group.keys.push(key, this.#keys.blocks(input.sender), this.#keys.blockedBy(input.sender)) / 3) - 1
      else s = s / 3
      group.args.push(String(s + 1), String(input.framePrefix.length), this.#keys.history(input.channel), input.recipient ?? '')
      group.entries.push(i)
    })
    await Promise.all([...bySlot.values()].map(async ({ keys, args, entries }) => {
      try {
        const replies = await QUOTA_SCRIPT.run<string[]>(this.#client,
          [String(keys.length), ...keys, ...quotaArguments(this.#limits), quotas ? '1' : '0', String(entries.length), ...args])
        entries.forEach((i, j) => { if (replies[j] !== '' && replies[j] !== undefined) results[i] = entryResult(replies[j]) })
      } catch (err) {
        for (const i of entries) results[i] = err as Error
      }
    }))
    // Charged before the dedup check (another slot): a refused retry of a message already stored is still its duplicate.
    await Promise.all(inputs.map(async ({ channel, sender, mid }, i) => {
      const status = (results[i] as AppendResult | undefined)?.status
      if (mid === undefined || (status !== 'quota' && status !== 'blocked')) return
      const offset = await this.#client.get(this.#keys.dedup(channel, sender, mid)).catch(() => null)
      if (offset !== null) results[i] = { status: 'duplicate', offset }
    }))
    return results
  }

  /**
   * Redis Cluster: the frames one APPEND_BATCH stored in direct conversations, to each of their users (their
   * personal live channel and conversation list are in their own slots). A duplicate is not published again,
   * but its lists are touched, so a retry heals one whose delivery failed.
   */
  async #deliverConversations (inputs: readonly AppendInput[], replies: readonly string[], epochs: readonly string[], starts: readonly string[]): Promise<void> {
    const byChannel = new Map<string, { participants: readonly string[], frames: string[], top: string, prev: string }>()
    const channelIndex = new Map<string, number>()
    inputs.forEach((input, i) => {
      if (!channelIndex.has(input.channel)) channelIndex.set(input.channel, channelIndex.size)
      if (input.participants === undefined) return
      const result = entryResult(replies[i] ?? '')
      if (result.status !== 'appended' && result.status !== 'duplicate') return
      const c = channelIndex.get(input.channel) ?? -1
      let entry = byChannel.get(input.channel)
      if (entry === undefined) byChannel.set(input.channel, entry = { participants: input.participants, frames: [], top: result.offset, prev: starts[c] ?? '0-0' })
      if (compareOffsets(result.offset, entry.top) > 0) entry.top = result.offset
      if (result.status === 'appended') {
        // The same frame the script stored: its `prev` is the channel's message before it (message-frame.ts).
        entry.frames.push(finishFrame(input.framePrefix, epochs[c] ?? '', entry.prev, result.offset))
        entry.prev = result.offset
      }
    })
    const { maxConversations, historyTtlMs } = this.#limits
    await Promise.all([...byChannel].flatMap(([channel, { participants, frames, top }]) => participants.map(async (user) => {
      await this.#client.sbDeliverToUser(this.#keys.conversations(user), frames.length === 0 ? '' : this.#keys.live(userChannel(user)), frames.join('\n'),
        channel, offsetMs(top), maxConversations, historyTtlMs)
    })))
  }

  /**
   * With `waitReplicas`, what the WAIT after a write must go to, noted before the write: the connections it is
   * written through, and how many times each has been closed so far (see #confirm).
   */
  #watch (targets: () => Redis[]): Watched | undefined {
    if (this.#limits.waitReplicas === 0) return undefined
    const nodes = targets()
    return { nodes, closes: nodes.map((node) => this.#closesOf(node)) }
  }

  /**
   * With `waitReplicas`: acknowledge only what a failover cannot lose. WAIT covers every earlier write of its
   * connection, on the node that connection is on. A connection that was closed and opened again meanwhile (a
   * failover: ioredis reconnects to the new master and resends what was unanswered) may have had the write answered
   * by the old master and the WAIT by the new one, which confirms nothing about that write: so any close between
   * the write and the WAIT's answer refuses it (the client resends with its mid, and the new master either has it
   * or takes it). `which`: the watched connections to confirm (default all).
   */
  async #confirm (watched: Watched | undefined, which?: readonly number[]): Promise<void> {
    if (watched === undefined) return
    const { waitReplicas, waitTimeoutMs } = this.#limits
    for (const at of which ?? watched.nodes.keys()) {
      const target = watched.nodes[at]
      if (target === undefined) continue
      const replicas = await target.wait(waitReplicas, waitTimeoutMs)
      if (replicas < waitReplicas) throw new Error(`only ${replicas} of ${waitReplicas} replicas confirmed the write within ${waitTimeoutMs} ms`)
      if (this.#closesOf(target) !== watched.closes[at]) throw new Error('the connection to Redis was replaced before the write was confirmed (a failover?)')
    }
  }

  /** How many times a connection has closed (counted from the first time it is asked about). */
  #closesOf (node: Redis): number {
    const count = this.#closes.get(node)
    if (count !== undefined) return count
    this.#closes.set(node, 0)
    node.on('close', () => { this.#closes.set(node, (this.#closes.get(node) ?? 0) + 1) })
    return 0
  }

  /** Redis Cluster: the connection to the primary that owns `key` (the one the write went through). */
  #nodeFor (key: string): Redis {
    const cluster = this.#client as Cluster
    const owner = this.#relay?.ownerOf(key) ?? cluster.slots[slotOf(key)]?.[0]
    const node = cluster.nodes('master').find((n) => `${n.options.host ?? ''}:${n.options.port ?? ''}` === owner)
    if (node === undefined) throw new Error(`no primary known for ${key}`)
    return node
  }

  /**
   * An edit or delete (amend-script.ts): quotas charged first (QUOTA_BATCH, in the sender's slot), then one AMEND
   * call in the channel's slot; on Redis Cluster a direct conversation's amendment then reaches each of its users
   * in their own slot, as a message does.
   */
  async amend (input: AmendInput): Promise<AmendResult> {
    const [charged] = await this.#checkSenders([input])
    if (charged instanceof Error) throw charged
    if (charged !== undefined) return charged
    const k = this.#keys
    const { channel, participants, mid } = input
    const cluster = isCluster(this.#client)
    const stream = k.history(channel)
    const lives = participants === undefined ? [k.live(channel)] : cluster ? [] : participants.map((u) => k.live(userChannel(u)))
    const watched = this.#watch(() => [cluster ? this.#nodeFor(stream) : this.#client as Redis])
    const [status, offset = '', , , frame = ''] = (await this.#client.sbAmend(stream, k.meta(channel), mid === undefined ? stream : k.dedup(channel, input.sender, amendmentMid(mid)),
      input.requireMember === true ? k.members(channel.slice('room:'.length)) : stream, input.requireMember === true ? k.mutes(channel.slice('room:'.length)) : stream, newEpoch(), this.#limits.historyTtlMs, input.target, input.kind,
      input.dataJson ?? 'null', input.at, input.framePrefix, input.anyone === true ? '' : senderHead(channel, input.sender), input.sender,
      mid === undefined ? 0 : 1, input.requireMember === true ? 1 : 0, this.#limits.dedupWindowMs, this.#limits.historySize, this.#publish, ...lives)).map(String)
    if (status === 'forbidden') return { status: 'forbidden' }
    if (status === 'muted') return { status: 'muted' }
    if (status === 'missing') return { status: 'missing' }
    if (status === 'author') return { status: 'not_author' }
    if (status === 'old') return { status: 'too_old' }
    if (status === 'dup') return { status: 'duplicate', offset }
    if (cluster && participants !== undefined) {
      const { maxConversations, historyTtlMs } = this.#limits
      await Promise.all(participants.map(async (user) => {
        // At 0: an amendment is not news in the conversation list (the list only moves up, ZADD GT).
        await this.#client.sbDeliverToUser(k.conversations(user), k.live(userChannel(user)), frame, channel, 0, maxConversations, historyTtlMs)
      }))
    }
    await this.#confirm(watched)
    return { status: 'appended', offset }
  }

  async publishEvent (channel: string, frame: string): Promise<void> {
    if (this.#publish === 'SPUBLISH') await this.#client.spublish(this.#keys.live(channel), frame)
    else await this.#client.publish(this.#keys.live(channel), frame)
  }

  async position (channel: string): Promise<Position> {
    const [epoch, offset] = await this.#client.sbPosition(this.#keys.history(channel), this.#keys.meta(channel), newEpoch(), this.#limits.historyTtlMs,
      creates(channel))
    return { epoch, offset }
  }

  async recover (channel: string, since: Position, page: PageLimits = WHOLE_PAGE): Promise<Recovery> {
    const reply = await this.#client.sbRecover(
      this.#keys.history(channel), this.#keys.meta(channel), newEpoch(), this.#limits.historyTtlMs, since.offset, since.epoch, page.limit, page.maxBytes,
      creates(channel))
    const [recovered, epoch, offset] = reply
    return { recovered: recovered === 1, epoch: String(epoch), offset: String(offset), messages: storedFrames(reply.map(String), 3) }
  }

  async read (channel: string, range: ReadRange, page: PageLimits): Promise<StoredFrame[] | null> {
    const reply = await this.#client.sbReadPage(
      this.#keys.history(channel), this.#keys.meta(channel), range.after, range.upTo, page.limit, page.maxBytes, range.epoch ?? '')
    return reply[0] === 1 ? storedFrames(reply.map(String), 1) : null
  }

  async historySpan (channel: string, before: string | undefined, limit: number, page: PageLimits): Promise<HistorySpan | undefined> {
    const reply = await this.#client.sbHistorySpan(this.#keys.history(channel), before ?? '', limit, page.maxBytes)
    if (reply.length < 3) return undefined
    const flat = reply.map(String)
    const [after, upTo, fits] = flat
    return { after: after ?? '0-0', upTo: upTo ?? '0-0', ...(fits === '1' ? { messages: storedFrames(flat, 3) } : {}) }
  }

  async conversations (user: string, cursor: ConversationCursor | undefined, limit: number, options: ListOptions = {}): Promise<ConversationEntry[]> {
    return await this.#reads.conversations(user, cursor, limit, (await this.clock()) - this.#limits.historyTtlMs, options.rooms ?? true)
  }

  async markRead (user: string, channel: string, offset: string, initial = false): Promise<ReadMark | undefined> {
    return await this.#reads.markRead(user, channel, offset, initial)
  }

  async receipts (channel: string): Promise<Receipt[]> {
    return await this.#reads.receipts(channel)
  }

  async history (channel: string, before: string | undefined, limit: number): Promise<StoredFrame[]> {
    // Nothing is older than the first offset (and XREVRANGE refuses the interval "(0-0").
    if (before === '0-0') return []
    const entries = await this.#client.xrevrange(this.#keys.history(channel), before === undefined ? '+' : `(${before}`, '-', 'COUNT', limit)
    const frames: StoredFrame[] = []
    for (let i = entries.length - 1; i >= 0; i--) {
      const [id, fields] = entries[i] as [string, string[]]
      frames.push({ offset: id, text: finishStored(fields[1] ?? '', id) })
    }
    return frames
  }

  async subscribe (channel: string, handler: MessageHandler): Promise<void> {
    if (!this.#listeners.add(channel, handler)) {
      // Another handler subscribed first: wait until its SUBSCRIBE is confirmed too.
      await this.#pending.get(channel)
      return
    }
    const pending = this.#relay !== undefined ? this.#relay.add(this.#keys.live(channel)) : this.#subscriptions.add('subscribe', this.#keys.live(channel))
    this.#pending.set(channel, pending)
    try {
      await pending
    } catch (err) {
      this.#listeners.remove(channel, handler)
      throw err
    } finally {
      if (this.#pending.get(channel) === pending) this.#pending.delete(channel)
    }
  }

  onRelayGap (listener: RelayGapListener): () => void {
    this.#gapListeners.add(listener)
    return () => { this.#gapListeners.delete(listener) }
  }

  /** The relay was found deaf: every channel subscribed again, reported as a gap (interrupted now, resumed once Redis confirmed). */
  async resubscribe (): Promise<void> {
    if (this.#relay !== undefined) return await this.#relay.resubscribe()
    this.#interrupted(undefined)
    await this.#resubscribeAll()
  }

  /** Every channel subscribed again; the gap reported resumed once it can be read (#readyToHeal), unless the subscriber was lost meanwhile. */
  async #resubscribeAll (): Promise<void> {
    await this.#subscribeAll()
    await this.#readyToHeal()
    if (!this.#subscriberLost) this.#resumed(undefined)
  }

  async #subscribeAll (): Promise<void> {
    const live = [...this.#listeners.channels()].map((channel) => this.#keys.live(channel))
    if (live.length > 0) await this.#subscriber.subscribe(...live)
  }

  async unsubscribe (channel: string, handler: MessageHandler): Promise<void> {
    if (!this.#listeners.remove(channel, handler)) return
    if (this.#relay !== undefined) await this.#relay.remove(this.#keys.live(channel))
    else await this.#subscriptions.add('unsubscribe', this.#keys.live(channel))
  }

  async setBlock (user: string, other: string, blocked: boolean): Promise<'changed' | 'unchanged' | 'limit'> {
    const k = this.#keys
    // The mirror (in the other's slot, where their sends are checked) is written first when blocking and removed last
    // when unblocking: a failure between the two leaves the block in force, never half of it lifted. A retry writes
    // both again whatever the first outcome.
    if (blocked) await this.#client.sadd(k.blockedBy(other), user)
    const outcome = await this.#client.sbSetBlock(k.blocks(user), other, blocked ? 1 : 0, this.#limits.maxBlocks)
    if (outcome === 'limit') {
      if ((await this.#client.sismember(k.blocks(user), other)) === 0) await this.#client.srem(k.blockedBy(other), user)
      return 'limit'
    }
    if (!blocked) await this.#client.srem(k.blockedBy(other), user)
    return outcome === 'changed' ? 'changed' : 'unchanged'
  }

  async blocks (user: string): Promise<{ blocked: string[], blockedBy: string[] }> {
    const [blocked, blockedBy] = await Promise.all([this.#client.smembers(this.#keys.blocks(user)), this.#client.smembers(this.#keys.blockedBy(user))])
    return { blocked: blocked.sort(), blockedBy: blockedBy.sort() }
  }

  async blockedBetween (a: string, b: string): Promise<boolean> {
    const [one, other] = await Promise.all([this.#client.sismember(this.#keys.blocks(a), b), this.#client.sismember(this.#keys.blockedBy(a), b)])
    return one === 1 || other === 1
  }

  async join (room: string, user: string): Promise<boolean> {
    return (await this.#enter(room, user, false)) === 'joined'
  }

  async enter (room: string, user: string): Promise<JoinOutcome> {
    return await this.#enter(room, user, true)
  }

  async #enter (room: string, user: string, rules: boolean): Promise<JoinOutcome> {
    const rooms = this.#keys.rooms(user)
    // Checked before, not with, the join: two joins of one user at the same instant may both pass (at most a few over).
    const [already, count] = await Promise.all([this.#client.sismember(rooms, room), this.#client.scard(rooms)])
    if (already === 0 && count >= this.#limits.maxRoomsPerUser) return 'limit'
    const watched = this.#watch(() => this.#membershipNodes(room, user))
    // The room's slot first (its rules, and the members set the append checks), then the user's list of rooms.
    const outcome = await this.#client.sbEnter(...this.#roomKeys(room), user, rules ? 1 : 0) as JoinOutcome
    if (outcome !== 'joined') return outcome
    await this.#client.sadd(rooms, room)
    // A join is acknowledged like a message: one lost to a failover would leave the user refused in a room they were told they are in.
    await this.#confirm(watched)
    return 'joined'
  }

  #roomKeys (room: string): [string, string, string, string, string, string] {
    const k = this.#keys
    return [k.members(room), k.room(room), k.roles(room), k.bans(room), k.mutes(room), k.invites(room)]
  }

  async roomInfo (room: string): Promise<RoomInfo> {
    const info = await this.#client.hgetall(this.#keys.room(room))
    return roomInfoOf(info)
  }

  async roleOf (room: string, user: string): Promise<RoomRole | undefined> {
    const [member, role] = await Promise.all([this.#client.sismember(this.#keys.members(room), user), this.#client.hget(this.#keys.roles(room), user)])
    return member === 0 ? undefined : role === 'owner' || role === 'moderator' ? role : 'member'
  }

  async moderate (room: string, by: string, change: Moderation): Promise<ModerationOutcome> {
    const [, role, title, topic] = moderationArguments(change)
    const outcome = await this.#client.sbModerate(...this.#roomKeys(room), by, change.action, 'user' in change ? change.user : '', role, title, topic) as ModerationOutcome
    // A member removed: out of their list of rooms too (their slot).
    if (outcome === 'ok' && 'user' in change && (change.action === 'kick' || change.action === 'ban')) await this.#client.srem(this.#keys.rooms(change.user), room)
    return outcome
  }

  async memberPage (room: string, after: string | undefined, limit: number): Promise<{ members: RoomMember[], more: boolean }> {
    const flat = (await this.#client.sbMembers(...this.#roomKeys(room))).map(String)
    return pageOfMembers(flat, after, limit)
  }

  async leave (room: string, user: string): Promise<void> {
    const watched = this.#watch(() => this.#membershipNodes(room, user))
    if (isCluster(this.#client)) {
      await this.#client.srem(this.#keys.members(room), user)
      await this.#client.srem(this.#keys.rooms(user), room)
    } else {
      await this.#client.multi().srem(this.#keys.members(room), user).srem(this.#keys.rooms(user), room).exec()
    }
    await this.#confirm(watched)
  }

  /** The connections a membership change was written through (WAIT covers each connection's earlier writes). */
  #membershipNodes (room: string, user: string): Redis[] {
    if (!isCluster(this.#client)) return [this.#client]
    return [...new Set([this.#nodeFor(this.#keys.members(room)), this.#nodeFor(this.#keys.rooms(user))])]
  }

  async isMember (room: string, user: string): Promise<boolean> {
    return (await this.#client.sismember(this.#keys.members(room), user)) === 1
  }

  async roomsOf (user: string): Promise<string[]> {
    return (await this.#client.smembers(this.#keys.rooms(user))).sort()
  }

  async members (room: string): Promise<string[]> {
    return (await this.#client.smembers(this.#keys.members(room))).sort()
  }

  // Presence lives in the fleet's slot; on Redis Cluster the channel's live name is in another, so the
  // script only decides and the event is published (SPUBLISH) right after it.
  async presenceAdd (channel: string, user: string, server: string, event: string): Promise<boolean> {
    const k = this.#keys
    const live = this.#relay !== undefined ? '' : k.live(channel)
    const sent = (await this.#client.sbPresenceAdd(k.presence(channel), k.alive, k.presenceIndex(server), user, server, this.#limits.aliveWithinMs,
      live, event, channel)) === 1
    if (sent && live === '') await this.publishEvent(channel, event)
    return sent
  }

  async presenceRemove (channel: string, user: string, server: string, event: string): Promise<boolean> {
    const k = this.#keys
    const live = this.#relay !== undefined ? '' : k.live(channel)
    const sent = (await this.#client.sbPresenceRemove(k.presence(channel), k.alive, user, server, this.#limits.aliveWithinMs, live, event)) === 1
    if (sent && live === '') await this.publishEvent(channel, event)
    return sent
  }

  async presence (channel: string): Promise<string[]> {
    return (await this.#client.sbPresence(this.#keys.presence(channel), this.#keys.alive, this.#limits.aliveWithinMs)).sort()
  }

  async announce (component: ComponentRecord, ttlMs: number): Promise<void> {
    const k = this.#keys
    await this.#client.sbAnnounce(k.components(component.role), k.component(component.role, component.id), component.id, component.startedAt,
      JSON.stringify(component.details), ttlMs)
  }

  async components (role: ComponentRole): Promise<ComponentStatus[]> {
    const k = this.#keys
    const flat = await this.#client.sbComponents(k.components(role), k.component(role, ''))
    const list: ComponentStatus[] = []
    for (let i = 0; i + 3 < flat.length; i += 4) {
      list.push({ role, id: flat[i] as string, lastSeen: Number(flat[i + 1]), startedAt: Number(flat[i + 2]), details: parseDetails(flat[i + 3] as string) })
    }
    return list.sort((a, b) => a.id < b.id ? -1 : 1)
  }

  async retire (role: ComponentRole, id: string): Promise<void> {
    const k = this.#keys
    await this.#client.sbRetire(k.components(role), k.component(role, id), id)
  }

  async clock (): Promise<number> {
    // Heartbeats are scored with the clock of the fleet's primary: on Redis Cluster, ask that one, not any node.
    const [seconds, micros] = await (isCluster(this.#client) ? this.#nodeFor(this.#keys.alive) : this.#client).time()
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  }

  async ping (): Promise<void> {
    await this.#client.ping()
  }

  async close (): Promise<void> {
    this.#closing = true
    if (this.#relay !== undefined) return await this.#relay.close()
    this.#subscriber.off('message', this.#onMessage)
    this.#subscriber.off('close', this.#onSubscriberClose)
    this.#subscriber.off('ready', this.#onSubscriberReady)
    const live = [...this.#listeners.channels()].map((channel) => this.#keys.live(channel))
    // Leaves a connection it was handed as it found it; a Redis that does not answer is not waited for.
    if (live.length > 0 && this.#subscriber.status === 'ready') await within(this.#subscriber.unsubscribe(...live), UNSUBSCRIBE_WITHIN_MS).catch(() => {})
  }
}

const NO_CAPACITY: ReserveResult = { status: 'no_capacity' }
/** How long closing waits for Redis to confirm the unsubscriptions, ms. */
const UNSUBSCRIBE_WITHIN_MS = 2000

/** A write's connections and their close counts, noted before it (RedisStore #watch). */
interface Watched {
  readonly nodes: readonly Redis[]
  readonly closes: readonly number[]
}

/** How long a relay gap waits for a node it can be read from (see #readyToHeal). */
const RESUME_WAIT_MS = 10_000

/** `address:port` of the Redis node a connection is connected to, if it is. */
function peerOf (redis: Redis): string | undefined {
  const stream = (redis as { stream?: { remoteAddress?: string, remotePort?: number } }).stream
  if (redis.status !== 'ready' || stream?.remoteAddress === undefined) return undefined
  return `${stream.remoteAddress}:${stream.remotePort ?? ''}`
}

/** 1 where reading a channel gives it an epoch (names.ts, readCreatesHistory). */
function creates (channel: string): number {
  return readCreatesHistory(channel) ? 1 : 0
}

/** The milliseconds of an offset (`<ms>-<seq>`). */
function offsetMs (offset: string): number {
  return Number(offset.slice(0, offset.indexOf('-')))
}

function isCluster (client: Redis | Cluster): client is Cluster {
  return client.isCluster
}

/** The batch scripts: hundreds of arguments a call, sent as they are (never auto-pipelined: a batch is one command per turn already). */
const APPEND_SCRIPT = new BulkScript(APPEND_BATCH)
const QUOTA_SCRIPT = new BulkScript(QUOTA_BATCH)
const RESERVE_SCRIPT = new BulkScript(RESERVE_BATCH)

function defineScripts (client: Redis | Cluster): void {
  // defineCommand is idempotent per name; a client shared by several stores gets them once.
  if (typeof client.sbPosition === 'function') return
  client.defineCommand('sbPosition', { numberOfKeys: 2, lua: POSITION })
  client.defineCommand('sbRecover', { numberOfKeys: 2, lua: RECOVER })
  client.defineCommand('sbDeliverToUser', { numberOfKeys: 1, lua: DELIVER_TO_USER })
  client.defineCommand('sbAmend', { numberOfKeys: 5, lua: AMEND })
  client.defineCommand('sbSetBlock', { numberOfKeys: 1, lua: SET_BLOCK })
  client.defineCommand('sbEnter', { numberOfKeys: ROOM_KEYS, lua: ENTER })
  client.defineCommand('sbModerate', { numberOfKeys: ROOM_KEYS, lua: MODERATE })
  client.defineCommand('sbMembers', { numberOfKeys: ROOM_KEYS, lua: MEMBERS })
  client.defineCommand('sbReadPage', { numberOfKeys: 2, lua: READ_PAGE })
  client.defineCommand('sbHistorySpan', { numberOfKeys: 1, lua: HISTORY_SPAN })
  client.defineCommand('sbPresenceAdd', { numberOfKeys: 3, lua: PRESENCE_ADD })
  client.defineCommand('sbPresenceRemove', { numberOfKeys: 2, lua: PRESENCE_REMOVE })
  client.defineCommand('sbPresence', { numberOfKeys: 2, lua: PRESENCE })
  client.defineCommand('sbHeartbeat', { numberOfKeys: 4, lua: HEARTBEAT })
  client.defineCommand('sbRequestDrain', { numberOfKeys: 1, lua: REQUEST_DRAIN })
  client.defineCommand('sbDeregister', { numberOfKeys: 4, lua: DEREGISTER })
  client.defineCommand('sbClaim', { numberOfKeys: 2, lua: CLAIM })
  client.defineCommand('sbRelease', { numberOfKeys: 2, lua: RELEASE })
  client.defineCommand('sbRate', { numberOfKeys: 1, lua: RATE })
  client.defineCommand('sbRetire', { numberOfKeys: 2, lua: RETIRE })
  client.defineCommand('sbAnnounce', { numberOfKeys: 2, lua: ANNOUNCE })
  client.defineCommand('sbComponents', { numberOfKeys: 1, lua: COMPONENTS })
  client.defineCommand('sbEvict', { numberOfKeys: 2, lua: EVICT })
  client.defineCommand('sbDropPresence', { numberOfKeys: 2, lua: DROP_PRESENCE })
}

/** A component's details as announced; anything unreadable shows as none. */
function parseDetails (json: string): Record<string, string | number | null> {
  try {
    const value: unknown = JSON.parse(json)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, string | number | null> : {}
  } catch {
    return {}
  }
}

function pairs (flat: string[]): Map<string, number> {
  const map = new Map<string, number>()
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(flat[i] as string, Number(flat[i + 1]))
  return map
}

/**
 * Until `connection` is ready, or no longer trying to be. ioredis (5.11) writes a SUBSCRIBE at once on a
 * connection whose socket is up but whose ready check (INFO) has not been sent yet (a command Redis runs while
 * loading may go first), and the ready check then fails in subscriber mode: the connection is dropped, and the
 * channel is subscribed again only after the reconnect. The SUBSCRIBE's own reply has arrived meanwhile, so its
 * caller would believe a channel live that is not (test/subscriptions.test.ts). redis/ioredis#2037, since 5.8.2;
 * ioredis 6's handshake gate orders them, and this wait can go with that upgrade. The caller resumes in a
 * microtask after 'ready', so after ioredis has sent its offline queue and resubscriptions: order is kept.
 */
async function untilReady (connection: Redis): Promise<void> {
  if (connection.status !== 'connect') return
  await new Promise<void>((resolve) => {
    const done = (): void => {
      connection.off('ready', done).off('close', done)
      resolve()
    }
    connection.on('ready', done).on('close', done)
  })
}
