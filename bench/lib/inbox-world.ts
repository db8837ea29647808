/**
 * The users of the `conversations` and `read` scenarios, set up on a running
 * Switchboard: `subjects` users, each in `dms` direct conversations (one with
 * each of the peers `peer0`, `peer1`, …) and in `rooms` rooms (the same rooms for
 * every subject, with a `poster` who writes in them); every conversation holds
 * `messages` messages from the other side, none read yet. Everyone stays
 * connected, so a delivery or a receipt reaches a live connection, and every
 * frame that answers no request is counted (`Tally`). `listAll` reads every
 * subject's whole list, page after page.
 */
import { dmChannel, roomChannel } from '../../plugins/names.js'
import { ProtocolClient } from './protocol-client.js'
import type { Frame } from './protocol-client.js'

export interface WorldOptions {
  readonly subjects: number
  readonly dms: number
  readonly rooms: number
  /** messages in each conversation, from the other side */
  readonly messages: number
}

/** One conversation of a subject, with the offsets of its messages, oldest first. */
export interface Conversation {
  readonly channel: string
  readonly room: boolean
  readonly offsets: readonly string[]
}

/** Counts of the frames that answer no request, on every client of the world. */
export class Tally {
  frames = 0
  readEvents = 0
  receipts = 0
  /** measured sends delivered (`data.w`), by receiver, subject and number; a second one is a duplicate */
  readonly delivered = new Set<string>()
  duplicates = 0

  count (receiver: string, frame: Frame): void {
    this.frames++
    if (frame.type === 'read') this.readEvents++
    else if (frame.type === 'receipt') this.receipts++
    else if (frame.type === 'message') {
      const data = frame.data as { w?: number, s?: number, n?: number } | null
      if (data?.w !== 1) return
      const key = `${receiver}/${data.s ?? ''}/${data.n ?? ''}`
      if (this.delivered.has(key)) this.duplicates++
      else this.delivered.add(key)
    }
  }
}

export interface World {
  readonly subjects: readonly ProtocolClient[]
  readonly peers: readonly ProtocolClient[]
  readonly poster: ProtocolClient
  /** per subject, its direct conversations (peer order) then its rooms */
  readonly conversations: ReadonlyArray<readonly Conversation[]>
  /** who hears a room's receipt: every subject and the poster */
  readonly roomListeners: number
  readonly tally: Tally
  close (): void
}

export const subjectName = (i: number): string => `reader${i}`
export const peerName = (j: number): string => `peer${j}`
const roomName = (k: number): string => `r${k}`

/** Runs `task(0)` … `task(count - 1)`, at most `limit` at a time. */
export async function pool (count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) await task(next++)
  }))
}

/** Resolves once `done()` holds, polling every 10 ms; false if it still does not after `timeoutMs`. */
export async function until (done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!done()) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return true
}

/** Waits until no frame has come for `quietMs` (what was set moving has arrived), at most `timeoutMs`. */
export async function settle (tally: Tally, quietMs = 300, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let seen = -1
  while (seen !== tally.frames && Date.now() < deadline) {
    seen = tally.frames
    await new Promise((resolve) => setTimeout(resolve, quietMs))
  }
}

/** A user's whole list, `limit` at a time, page after page: its distinct conversations and their unread messages. */
async function walk (client: ProtocolClient, limit: number): Promise<{ listed: number, unread: number }> {
  const seen = new Set<string>()
  let unread = 0
  let after: { at: number, channel: string } | undefined
  for (let page = 0; page < 100; page++) {
    const parts = await client.request({ type: 'conversations', limit, ...(after === undefined ? {} : { after }) })
    const entries = parts.flatMap((p) => p.conversations as Array<{ channel: string, at: number, unread: number }>)
    for (const entry of entries) {
      seen.add(entry.channel)
      unread += entry.unread
    }
    const last = entries[entries.length - 1]
    if (last === undefined) break
    after = { at: last.at, channel: last.channel }
  }
  return { listed: seen.size, unread }
}

/** Every subject's whole list: the fewest conversations one lists, and the unread messages of all. */
export async function listAll (subjects: readonly ProtocolClient[], limit: number): Promise<{ listed: number, unread: number }> {
  const walks = await Promise.all(subjects.map(async (client) => await walk(client, limit)))
  return { listed: Math.min(...walks.map((w) => w.listed)), unread: walks.reduce((sum, w) => sum + w.unread, 0) }
}

const ackOffset = (reply: Frame[]): string => String(reply[0]?.offset ?? '')

export async function populate (registryUrl: string, options: WorldOptions, progress: (line: string) => void): Promise<World> {
  const tally = new Tally()
  const clients: ProtocolClient[] = []
  const connect = async (user: string): Promise<ProtocolClient> => {
    const client = await ProtocolClient.connect(registryUrl, user)
    client.onEvent((frame) => { tally.count(user, frame) })
    clients.push(client)
    return client
  }
  const close = (): void => { for (const c of clients) c.close() }
  try {
    const subjects: ProtocolClient[] = []
    const peers: ProtocolClient[] = []
    for (let i = 0; i < options.subjects; i++) subjects.push(await connect(subjectName(i)))
    const poster = await connect('poster')
    await pool(options.dms, 20, async (j) => { peers[j] = await connect(peerName(j)) })
    progress(`    ${clients.length} users connected`)

    // Members first, so that what the poster writes is unread to every subject.
    const rooms = Array.from({ length: options.rooms }, (_, k) => roomName(k))
    await Promise.all([poster, ...subjects].map(async (client) => {
      await Promise.all(rooms.map(async (room) => await client.request({ type: 'join', room })))
    }))
    const roomOffsets: string[][] = rooms.map(() => [])
    const dmOffsets: string[][][] = subjects.map(() => peers.map(() => []))
    // Message m of every conversation, then message m + 1, …, the rooms' spread evenly among the direct conversations:
    // every list then mixes the two (its first page holds about as many rooms as the whole list does).
    const writes = [
      ...Array.from({ length: options.subjects * options.dms }, (_, t) => ({ at: (t + 0.5) / (options.subjects * options.dms), room: -1, task: t })),
      ...rooms.map((_, k) => ({ at: (k + 0.5) / options.rooms, room: k, task: -1 }))
    ].sort((a, b) => a.at - b.at)
    for (let m = 0; m < options.messages; m++) {
      await pool(writes.length, 50, async (w) => {
        const { room: k, task } = writes[w] ?? { room: -1, task: -1 }
        if (k >= 0) {
          const reply = await poster.request({ type: 'publish', channel: roomChannel(rooms[k] ?? ''), data: { text: `news ${m} in ${rooms[k] ?? ''}` } })
          roomOffsets[k]?.push(ackOffset(reply))
          return
        }
        // Peer after peer, so that each subject's conversations are spread over the step too.
        const i = task % options.subjects
        const j = Math.floor(task / options.subjects)
        const reply = await peers[j]?.request({ type: 'send', to: subjectName(i), data: { text: `hello ${m} from ${peerName(j)}` }, mid: `seed-${i}-${m}` })
        dmOffsets[i]?.[j]?.push(ackOffset(reply ?? []))
      })
    }
    await settle(tally)
    progress(`    ${options.subjects} users, each in ${options.dms} direct conversations and ${options.rooms} rooms of ${options.messages} messages`)

    const conversations = subjects.map((_, i) => [
      ...peers.map((_, j): Conversation => ({ channel: dmChannel(peerName(j), subjectName(i)), room: false, offsets: dmOffsets[i]?.[j] ?? [] })),
      ...rooms.map((room, k): Conversation => ({ channel: roomChannel(room), room: true, offsets: roomOffsets[k] ?? [] }))
    ])
    return { subjects, peers, poster, conversations, roomListeners: options.subjects + 1, tally, close }
  } catch (err) {
    close()
    throw err
  }
}
