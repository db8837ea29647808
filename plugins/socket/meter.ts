/**
 * What the socket server records into switchboard-metrics, as a few cheap
 * calls on the hot path: counters bound once, no labels built per frame, and
 * no parsing beyond the milliseconds of a relayed frame's offset. switchboard-metrics
 * is a dependency of the socket plugin, so there is always somewhere to record.
 */
import type { SwitchboardMetrics } from '../metrics/index.js'
import type { LiveFrame } from '../store/types.js'
import type { ClientFrame } from './protocol.js'

type FrameType = ClientFrame['type']

export interface SocketMeter {
  opened (): void
  closed (): void
  /** a valid client frame within the rate limit */
  frameIn (type: FrameType): void
  /** a frame written to a client socket */
  frameOut (): void
  /** a live frame received from the relay, after it went to the local listeners */
  relayed (frame: LiveFrame): void
  /** a relay gap healed (with the messages read back) or lost */
  relayGap (outcome: 'healed' | 'lost', recovered: number): void
  slowConsumer (): void
  rateLimited (): void
  drainStarted (): void
}

/** Every client frame type: the record makes the compiler list each one. */
const FRAME_TYPES = Object.keys({
  send: 0, publish: 0, join: 0, leave: 0, subscribe: 0, unsubscribe: 0, history: 0, presence: 0, conversations: 0, typing: 0, read: 0, receipts: 0, edit: 0, delete: 0, block: 0, unblock: 0, blocks: 0, moderate: 0, room: 0, members: 0
} satisfies Record<FrameType, 0>) as FrameType[]

/**
 * When a message was appended: the milliseconds of its offset (a stream id
 * `<ms>-<seq>`). Undefined for frames without one (presence events).
 */
export function appendedAt (offset: string | undefined): number | undefined {
  const dash = offset?.indexOf('-') ?? -1
  if (offset === undefined || dash < 0) return undefined
  const ms = Number(offset.slice(0, dash))
  return Number.isFinite(ms) && ms > 0 ? ms : undefined
}

export function socketMeter (metrics: SwitchboardMetrics): SocketMeter {
  const { connections, messagesIn, messagesOut, relayLatency, slowConsumerCloses, rateLimited, drains, draining, relayGaps, relayGapMessages } = metrics
  const gaps = { healed: relayGaps.labels('healed'), lost: relayGaps.labels('lost') }
  const byType = new Map(FRAME_TYPES.map((type) => [type, messagesIn.labels(type)]))
  for (const child of byType.values()) child.inc(0)
  const frames = rateLimited.labels('frame')
  return {
    opened: () => { connections.inc() },
    closed: () => { connections.dec() },
    frameIn: (type) => { byType.get(type)?.inc() },
    frameOut: () => { messagesOut.inc() },
    relayed: (frame) => {
      const appended = appendedAt(frame.offset)
      // Clocks of different machines can disagree by a little: never a negative latency.
      if (appended !== undefined) relayLatency.record(Math.max(0, Date.now() - appended) / 1000)
    },
    relayGap: (outcome, recovered) => {
      gaps[outcome].inc()
      if (recovered > 0) relayGapMessages.inc(recovered)
    },
    slowConsumer: () => { slowConsumerCloses.inc() },
    rateLimited: () => { frames.inc() },
    drainStarted: () => {
      drains.inc()
      draining.set(1)
    }
  }
}
