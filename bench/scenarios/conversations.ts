/**
 * `conversations` and `read` (issue 18): what the conversation list and a
 * `read` cost the servers, against what a `send` of the same user costs.
 * Switchboard only (Socket.IO has no such feature): its own `send` is the peer.
 *
 * Each round starts a fresh Switchboard (a registry, 2 socket servers, Redis)
 * per operation, sets up the same users (bench/lib/inbox-world.ts: `subjects`
 * users each in 150 direct conversations and 50 rooms, every one with a few
 * unread messages), warms the operation up, and measures it: every subject
 * keeps `inFlight` requests out at once until it has made its share.
 *   send:          a direct message to one of its peers (with a `mid`, as the SDK
 *                  sends), acknowledged; delivered to the peer and to the sender.
 *   conversations: the first page of its list, `limit` 50.
 *   read:          its position in one conversation moved to its next unread
 *                  message (oldest first, conversation after conversation): every
 *                  read moves, is told to the subject's connection and gives the
 *                  other members a receipt (the peer; a room's listeners).
 * The window ends when every reply, delivery and event has arrived. Headline:
 * operations per CPU-second of the socket servers, the registry and Redis
 * (Redis also apart); ratio = the operation's over `send`'s, target 1.
 */
import { performance } from 'node:perf_hooks'
import type { ScenarioReport } from '../index.js'
import { cpuMs } from '../lib/proc.js'
import { medians, round } from '../lib/stats.js'
import { startSwitchboard } from '../lib/systems.js'
import { listAll, peerName, populate, settle, until } from '../lib/inbox-world.js'
import type { Conversation, World, WorldOptions } from '../lib/inbox-world.js'
import type { Frame, ProtocolClient } from '../lib/protocol-client.js'

export type ListOperation = 'conversations' | 'read'
type Operation = 'send' | ListOperation

export interface InboxOptions extends WorldOptions {
  /** measured requests per subject */
  readonly requests: Readonly<Record<Operation, number>>
  /** requests per subject before measuring (JIT, script loading) */
  readonly warmup: Readonly<Record<Operation, number>>
  /** requests each subject keeps out at once */
  readonly inFlight: number
  readonly timeoutMs: number
}

/** The first page, as a client asks for it. */
const LIMIT = 50

export const INBOX: Record<'tiny' | 'full', InboxOptions> = {
  full: {
    subjects: 10,
    dms: 150,
    rooms: 50,
    messages: 4,
    requests: { send: 1500, conversations: 150, read: 600 },
    warmup: { send: 100, conversations: 10, read: 50 },
    inFlight: 8,
    timeoutMs: 120_000
  },
  // Still 200 conversations: the harness test checks the whole list.
  tiny: {
    subjects: 2,
    dms: 150,
    rooms: 50,
    messages: 2,
    requests: { send: 20, conversations: 4, read: 20 },
    warmup: { send: 4, conversations: 2, read: 4 },
    inFlight: 4,
    timeoutMs: 60_000
  }
}

/** Names of an operation's figures. */
const NAMES: Record<Operation, { count: string, perCpuSecond: string, perSecond: string, cpuUs: string, redisCpuUs: string }> = {
  send: { count: 'sends', perCpuSecond: 'sendsPerCpuSecond', perSecond: 'sendsPerSecond', cpuUs: 'sendCpuUs', redisCpuUs: 'sendRedisCpuUs' },
  conversations: {
    count: 'conversations',
    perCpuSecond: 'conversationsPerCpuSecond',
    perSecond: 'conversationsPerSecond',
    cpuUs: 'conversationsCpuUs',
    redisCpuUs: 'conversationsRedisCpuUs'
  },
  read: { count: 'reads', perCpuSecond: 'readsPerCpuSecond', perSecond: 'readsPerSecond', cpuUs: 'readCpuUs', redisCpuUs: 'readRedisCpuUs' }
}

/** What one window counted. */
interface Counts {
  /** the measured window (not the warm-up) */
  readonly measured: boolean
  answered: number
  errors: Map<string, number>
  /** conversations: entries, parts and bytes of the replies, rooms among the entries */
  entries: number
  parts: number
  rooms: number
  bytes: number
  /** read: replies whose position is the one asked for (it moved), those in rooms, and the receipts they give */
  moved: number
  roomReads: number
  receiptsExpected: number
}

const newCounts = (measured: boolean): Counts => ({ measured, answered: 0, errors: new Map(), entries: 0, parts: 0, rooms: 0, bytes: 0, moved: 0, roomReads: 0, receiptsExpected: 0 })

/**
 * Each subject's reads, one queue per lane: a lane owns its conversations, so no two reads of one conversation are
 * out at once. Each queue goes through its conversations' first messages, then their second ones, …; rooms spread
 * evenly among the direct conversations (with 150 and 50, every fourth is a room), so a run of any length reads both.
 */
function readQueues (conversations: readonly Conversation[], lanes: number): Array<Array<{ conversation: Conversation, offset: string }>> {
  const queues: Array<Array<{ conversation: Conversation, offset: string }>> = Array.from({ length: lanes }, () => [])
  const rooms = conversations.filter((c) => c.room)
  const dms = conversations.filter((c) => !c.room)
  const place = (i: number, of: number): number => (i + 0.5) / of
  const order = [...dms.map((c, i) => ({ c, at: place(i, dms.length) })), ...rooms.map((c, i) => ({ c, at: place(i, rooms.length) }))]
    .sort((a, b) => a.at - b.at).map(({ c }) => c)
  const depth = Math.max(...conversations.map((c) => c.offsets.length))
  for (let m = 0; m < depth; m++) {
    order.forEach((conversation, c) => {
      const offset = conversation.offsets[m]
      if (offset !== undefined) queues[c % lanes]?.push({ conversation, offset })
    })
  }
  return queues
}

/** One request of `op` by subject `s` on lane `lane`; false when the lane has nothing left to do. */
type Step = (s: number, lane: number, counts: Counts) => Promise<boolean>

function stepOf (op: Operation, world: World, options: InboxOptions): Step {
  const request = async (client: ProtocolClient, frame: Record<string, unknown>, counts: Counts): Promise<Frame[] | undefined> => {
    try {
      const reply = await client.request(frame)
      counts.answered++
      return reply
    } catch (err) {
      const key = (err as Error).message.slice(0, 80)
      counts.errors.set(key, (counts.errors.get(key) ?? 0) + 1)
      return undefined
    }
  }
  if (op === 'send') {
    const sent = world.subjects.map(() => 0)
    return async (s, _lane, counts) => {
      const n = sent[s] = (sent[s] ?? 0) + 1
      const subject = world.subjects[s] as ProtocolClient
      // Measured sends carry `w: 1`: the tally counts their deliveries (to the peer, and the sender's own copy).
      const data = { text: `message ${n}`, w: counts.measured ? 1 : 0, s, n }
      await request(subject, { type: 'send', to: peerName((n + s) % options.dms), data, mid: `${subject.user}-${n}` }, counts)
      return true
    }
  }
  if (op === 'conversations') {
    return async (s, _lane, counts) => {
      const reply = await request(world.subjects[s] as ProtocolClient, { type: 'conversations', limit: LIMIT }, counts)
      for (const part of reply ?? []) {
        const entries = part.conversations as Array<{ channel: string }>
        counts.parts++
        // The size of the frame as sent: the server writes compact JSON too.
        counts.bytes += JSON.stringify(part).length
        counts.entries += entries.length
        counts.rooms += entries.filter((e) => e.channel.startsWith('room:')).length
      }
      return true
    }
  }
  const queues = world.conversations.map((conversations) => readQueues(conversations, options.inFlight))
  return async (s, lane, counts) => {
    const item = queues[s]?.[lane]?.shift()
    if (item === undefined) return false
    const reply = await request(world.subjects[s] as ProtocolClient, { type: 'read', channel: item.conversation.channel, offset: item.offset }, counts)
    if (reply?.[0]?.offset === item.offset) {
      counts.moved++
      if (item.conversation.room) counts.roomReads++
      counts.receiptsExpected += item.conversation.room ? world.roomListeners : 1
    }
    return true
  }
}

/** Every subject makes `perSubject` requests, `inFlight` at a time. */
async function drive (world: World, step: Step, perSubject: number, inFlight: number, counts: Counts): Promise<void> {
  await Promise.all(world.subjects.map(async (_, s) => {
    let left = perSubject
    await Promise.all(Array.from({ length: inFlight }, async (_, lane) => {
      while (left > 0) {
        left--
        if (!(await step(s, lane, counts))) return
      }
    }))
  }))
}

/** One measured window of `op` on a fresh Switchboard with the world set up. */
async function measure (op: Operation, options: InboxOptions, progress: (line: string) => void): Promise<Record<string, number>> {
  const system = await startSwitchboard(2)
  try {
    const world = await populate(system.registryUrl, options, progress)
    try {
      const step = stepOf(op, world, options)
      const warm = newCounts(false)
      await drive(world, step, options.warmup[op], options.inFlight, warm)
      await settle(world.tally)
      const before = op === 'send' ? undefined : await listAll(world.subjects, LIMIT)
      await settle(world.tally)

      const counts = newCounts(true)
      const { tally } = world
      const events = { readEvents: tally.readEvents, receipts: tally.receipts }
      // Every process whose CPU counts: the registry (servers[0]), the socket servers, Redis (the last).
      const pids = [system.servers[0]?.pid ?? 0, ...system.pids]
      const redisPid = system.pids[system.pids.length - 1] ?? 0
      const cpu = (): number => pids.reduce((sum, pid) => sum + cpuMs(pid), 0)
      const cpuBefore = cpu()
      const redisBefore = cpuMs(redisPid)
      const started = performance.now()
      const ticker = setInterval(() => progress(`    ${op}: ${counts.answered}/${options.subjects * options.requests[op]} answered`), 2000)
      const requested = options.subjects * options.requests[op]
      // Everything the window set moving: replies, and the deliveries or events they cause.
      const arrived = (): boolean => counts.answered + sum(counts.errors) >= requested && (op === 'send'
        ? tally.delivered.size >= 2 * counts.answered
        : op === 'read' ? tally.readEvents - events.readEvents >= counts.moved && tally.receipts - events.receipts >= counts.receiptsExpected : true)
      try {
        await Promise.race([
          (async () => {
            await drive(world, step, options.requests[op], options.inFlight, counts)
            await until(arrived, options.timeoutMs)
          })(),
          new Promise((resolve) => setTimeout(resolve, options.timeoutMs).unref())
        ])
      } finally {
        clearInterval(ticker)
      }
      const wallMs = performance.now() - started
      const serverCpuMs = cpu() - cpuBefore
      const redisCpuMs = cpuMs(redisPid) - redisBefore
      for (const [message, n] of counts.errors) progress(`    ${op}: ${n} failed: ${message}`)

      const names = NAMES[op]
      const done = counts.answered
      const figures: Record<string, number> = {
        [names.perCpuSecond]: round(done / Math.max(serverCpuMs / 1000, 0.001)),
        [names.cpuUs]: round(serverCpuMs * 1000 / Math.max(done, 1)),
        [names.redisCpuUs]: round(redisCpuMs * 1000 / Math.max(done, 1)),
        [names.perSecond]: round(done / (wallMs / 1000)),
        [`${op}CpuMs`]: round(serverCpuMs),
        [`${op}RedisCpuMs`]: round(redisCpuMs),
        [names.count]: requested,
        [`${names.count}Answered`]: done
      }
      if (op === 'send') {
        return { ...figures, expected: 2 * requested, delivered: tally.delivered.size, duplicates: tally.duplicates }
      }
      const after = await listAll(world.subjects, LIMIT)
      const list = { listed: after.listed, listedExpected: options.dms + options.rooms }
      if (op === 'conversations') {
        return {
          ...figures,
          ...list,
          entries: counts.entries,
          entriesExpected: requested * Math.min(LIMIT, options.dms + options.rooms),
          parts: counts.parts,
          roomsPerPage: round(counts.rooms / Math.max(done, 1), 1),
          bytesPerReply: round(counts.bytes / Math.max(done, 1))
        }
      }
      return {
        ...figures,
        ...list,
        moved: counts.moved,
        movedExpected: requested,
        roomReads: counts.roomReads,
        readEvents: tally.readEvents - events.readEvents,
        readEventsExpected: counts.moved,
        receipts: tally.receipts - events.receipts,
        receiptsExpected: counts.receiptsExpected,
        // Every read moves its position by one message of someone else's: the list's unread counts drop by as much.
        unreadCleared: (before?.unread ?? 0) - after.unread,
        unreadClearedExpected: counts.moved
      }
    } finally {
      world.close()
    }
  } finally {
    await system.stop()
  }
}

const sum = (counts: Map<string, number>): number => [...counts.values()].reduce((a, b) => a + b, 0)

/** Whether a window's counts came out right: every request answered, and every figure with an `…Expected` at it. */
export function countsRight (figures: Record<string, number>): boolean {
  return Object.entries(figures).every(([key, value]) => {
    if (key.endsWith('Expected')) return figures[key.slice(0, -'Expected'.length)] === value
    if (key.endsWith('Answered')) return figures[key.slice(0, -'Answered'.length)] === value
    if (key === 'delivered') return value === figures.expected && figures.duplicates === 0
    return true
  })
}

export async function runInbox (scenario: ListOperation, size: 'tiny' | 'full', rounds: number, progress: (line: string) => void): Promise<ScenarioReport> {
  const options = INBOX[size]
  const sends: Array<Record<string, number>> = []
  const ops: Array<Record<string, number>> = []
  for (let r = 1; r <= rounds; r++) {
    // A B A B …: each operation on its own fresh system and world.
    progress(`  round ${r}/${rounds}: send`)
    sends.push(await measure('send', options, progress))
    progress(`  round ${r}/${rounds}: ${scenario}`)
    ops.push(await measure(scenario, options, progress))
  }
  const switchboard: Record<string, number> = {
    subjects: options.subjects,
    conversationsOfUser: options.dms + options.rooms,
    inFlight: options.subjects * options.inFlight,
    ...medians(sends),
    ...medians(ops)
  }
  const ratio = (switchboard[NAMES[scenario].perCpuSecond] ?? 0) / Math.max(switchboard.sendsPerCpuSecond ?? 1, 1)
  const right = [...sends, ...ops].every(countsRight)
  return { scenario, switchboard, ratio: round(ratio, 2), target: 1, met: right && ratio >= 1, rounds }
}
