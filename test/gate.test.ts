/**
 * The delivery gate's properties (plugins/socket/gate.ts), for any
 * interleaving of live frames, replays, second copies and gaps: each offset
 * reaches the client exactly once, in order. Channels hold offsets 1..N
 * ("<n>-0"); the scenarios are built from random schedules by fast-check.
 */
import t from 'tap'
import fc from 'fast-check'
import { DeliveryGate } from '../plugins/socket/gate.js'
import type { Delivery } from '../plugins/socket/gate.js'
import { compareOffsets } from '../plugins/store/types.js'

const RUNS = 3000

const frame = (channel: string, n: number): Delivery => ({ channel, offset: `${n}-0`, text: `${channel}#${n}` })
const numbers = (frames: readonly Delivery[]): number[] => frames.map((f) => Number(f.offset?.split('-')[0]))
const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i)

/** A random merge of several sequences, each kept in its own order: `picks` chooses which goes next. */
function merge<T> (sequences: T[][], picks: number[]): T[] {
  const queues = sequences.map((s) => [...s])
  const out: T[] = []
  let p = 0
  while (queues.some((q) => q.length > 0)) {
    const open = queues.filter((q) => q.length > 0)
    const queue = open[(picks[p++] ?? 0) % open.length] as T[]
    out.push(queue.shift() as T)
  }
  return out
}

type Step =
  | { readonly kind: 'live', readonly frame: Delivery, readonly via?: string }
  | { readonly kind: 'replay', readonly frame: Delivery }
  | { readonly kind: 'open', readonly channel: string, readonly boundary: string | undefined }

/** Runs steps through a gate and returns what went out, in order. */
function run (gate: DeliveryGate, steps: readonly Step[]): Delivery[] {
  const out: Delivery[] = []
  for (const step of steps) {
    if (step.kind === 'live') {
      if (gate.live(step.frame, step.via)) out.push(step.frame)
    } else if (step.kind === 'replay') {
      if (gate.replayed(step.frame)) out.push(step.frame)
    } else {
      out.push(...gate.open(step.channel, step.boundary))
    }
  }
  return out
}

t.test('a connection attaching: whatever the interleaving, every message after the boundary once, in order', async (t) => {
  const scenario = fc.record({
    n: fc.integer({ min: 0, max: 25 }),
    subscribedAt: fc.nat(),
    readAt: fc.nat(),
    since: fc.option(fc.nat(), { nil: undefined }),
    forget: fc.boolean(),
    picks: fc.array(fc.nat(), { maxLength: 80 })
  })
  fc.assert(fc.property(scenario, ({ n, subscribedAt, readAt, since, forget, picks }) => {
    // Subscribed at s, history read at r (s ≤ r ≤ n): live copies of s+1..n arrive, in order, at any time.
    const s = subscribedAt % (n + 1)
    const r = s + readAt % (n - s + 1)
    const k = since === undefined ? undefined : since % (r + 1)
    const gate = new DeliveryGate({ compare: compareOffsets, forget })
    gate.hold('room:a')
    const live: Step[] = range(s + 1, n).map((i) => ({ kind: 'live', frame: frame('room:a', i) }))
    // With a position, the reply's offset is the boundary; with a recovery since k, k..r is replayed first.
    const attach: Step[] = [
      ...(k === undefined ? [] : range(k + 1, r).map((i): Step => ({ kind: 'replay', frame: frame('room:a', i) }))),
      { kind: 'open', channel: 'room:a', boundary: `${r}-0` }
    ]
    const out = run(gate, merge([live, attach], picks))
    const expected = range((k ?? r) + 1, n)
    return JSON.stringify(numbers(out)) === JSON.stringify(expected) && gate.heldBytes === 0 && gate.holding === 0
  }), { numRuns: RUNS })
  t.pass(`${RUNS} runs`)
})

t.test('a direct conversation recovered while its frames come through the personal channel, itself attaching', async (t) => {
  const scenario = fc.record({
    n: fc.integer({ min: 0, max: 20 }),
    holdAt: fc.nat(),
    readAt: fc.nat(),
    since: fc.nat(),
    personalOpenAt: fc.nat(),
    picks: fc.array(fc.nat(), { maxLength: 80 })
  })
  fc.assert(fc.property(scenario, ({ n, holdAt, readAt, since, personalOpenAt, picks }) => {
    const gate = new DeliveryGate({ compare: compareOffsets, forget: true, maxMarks: 256 })
    // The personal channel attaches first (its reply has no offset of the conversation's).
    gate.hold('user:x')
    const h = holdAt % (n + 1) // live frames 1..h come before the conversation is held
    const r = h + readAt % (n - h + 1)
    const k = since % (r + 1)
    const liveFrames = range(1, n).map((i): Step => ({ kind: 'live', frame: frame('dm:x:y', i), via: 'user:x' }))
    const before = liveFrames.slice(0, h)
    const after = liveFrames.slice(h)
    const personal: Step = { kind: 'open', channel: 'user:x', boundary: undefined }
    // Before the hold: the personal channel opens somewhere among the first frames.
    const first = merge([before, [personal]], [personalOpenAt, ...picks])
    let out = run(gate, first)
    gate.hold('dm:x:y')
    const recovery: Step[] = [
      ...range(k + 1, r).map((i): Step => ({ kind: 'replay', frame: frame('dm:x:y', i) })),
      { kind: 'open', channel: 'dm:x:y', boundary: `${r}-0` }
    ]
    const sentBefore = out.length
    out = [...out, ...run(gate, merge([after, recovery], picks))]
    // What came before the hold is the client's to drop (protocol §2.5); from the hold on: k+1..n, once, in order.
    return JSON.stringify(numbers(out.slice(sentBefore))) === JSON.stringify(range(k + 1, n)) &&
      JSON.stringify(numbers(out.slice(0, sentBefore))) === JSON.stringify(range(1, h)) && gate.heldBytes === 0
  }), { numRuns: RUNS })
  t.pass(`${RUNS} runs`)
})

t.test('a server healing a relay gap: frames lost in the gap are replayed from its mark, then live again, each once, in order', async (t) => {
  const scenario = fc.record({
    n: fc.integer({ min: 0, max: 30 }),
    gapStart: fc.nat(),
    gapEnd: fc.nat(),
    readAt: fc.nat(),
    copies: fc.array(fc.nat(), { maxLength: 5 }),
    picks: fc.array(fc.nat(), { maxLength: 80 })
  })
  fc.assert(fc.property(scenario, ({ n, gapStart, gapEnd, readAt, copies, picks }) => {
    // Live frames 1..g1 arrived; g1+1..g2 were published while the subscription was down and never arrive;
    // after the resubscribe, g2+1..n arrive. The heal holds first, reads up to r (g2 ≤ r ≤ n) from its mark.
    const g1 = gapStart % (n + 1)
    const g2 = g1 + gapEnd % (n - g1 + 1)
    const r = g2 + readAt % (n - g2 + 1)
    const relay = new DeliveryGate({ compare: compareOffsets, forget: false })
    const out = run(relay, range(1, g1).map((i) => ({ kind: 'live', frame: frame('room:a', i) })))
    relay.hold('room:a')
    const mark = Number(relay.mark('room:a')?.split('-')[0] ?? 0)
    // A read may include a message whose live copy also comes (it was published just before the resubscribe took).
    const again = copies.map((c) => g2 + 1 + (c % Math.max(1, n - g2))).filter((i) => i <= n).sort((a, b) => a - b)
    const live = [...new Set([...range(g2 + 1, n), ...again])].sort((a, b) => a - b).map((i): Step => ({ kind: 'live', frame: frame('room:a', i) }))
    const heal: Step[] = [
      ...range(mark + 1, r).map((i): Step => ({ kind: 'replay', frame: frame('room:a', i) })),
      { kind: 'open', channel: 'room:a', boundary: `${r}-0` }
    ]
    out.push(...run(relay, merge([live, heal], picks)))
    return JSON.stringify(numbers(out)) === JSON.stringify(range(1, n)) && relay.mark('room:a') === `${n}-0`
  }), { numRuns: RUNS })
  t.pass(`${RUNS} runs`)
})

t.test('the relay\'s output through a connection\'s gate: a healed gap reaches the client once, in order', async (t) => {
  const scenario = fc.record({
    n: fc.integer({ min: 1, max: 25 }),
    gapStart: fc.nat(),
    gapEnd: fc.nat(),
    attachedAt: fc.nat(),
    picks: fc.array(fc.nat(), { maxLength: 80 })
  })
  fc.assert(fc.property(scenario, ({ n, gapStart, gapEnd, attachedAt, picks }) => {
    const g1 = gapStart % (n + 1)
    const g2 = g1 + gapEnd % (n - g1 + 1)
    const a = attachedAt % (g1 + 1) // the connection attached at offset a, before the gap
    const relay = new DeliveryGate({ compare: compareOffsets, forget: false })
    const connection = new DeliveryGate({ compare: compareOffsets, forget: true })
    connection.hold('room:a')
    const got: Delivery[] = []
    const toClient = (frames: Delivery[]): void => { for (const f of frames) if (connection.live(f)) got.push(f) }
    // The connection's reply said a; frames up to a also reach it live (in flight when it attached).
    const early = range(1, g1).map((i): Step => ({ kind: 'live', frame: frame('room:a', i) }))
    for (const step of merge([early, [{ kind: 'open', channel: 'room:a', boundary: `${a}-0` }]], picks)) {
      if (step.kind === 'open') got.push(...connection.open('room:a', step.boundary))
      else toClient(run(relay, [step]))
    }
    relay.hold('room:a')
    const mark = Number(relay.mark('room:a')?.split('-')[0] ?? 0)
    const heal: Step[] = [...range(mark + 1, n).map((i): Step => ({ kind: 'replay', frame: frame('room:a', i) })), { kind: 'open', channel: 'room:a', boundary: `${n}-0` }]
    const live = range(g2 + 1, n).map((i): Step => ({ kind: 'live', frame: frame('room:a', i) }))
    for (const step of merge([live, heal], picks)) toClient(run(relay, [step]))
    return JSON.stringify(numbers(got)) === JSON.stringify(range(a + 1, n))
  }), { numRuns: RUNS })
  t.pass(`${RUNS} runs`)
})

t.test('events (no offset) are never dropped, and wait while their channel holds', async (t) => {
  const gate = new DeliveryGate({ compare: compareOffsets, forget: true })
  const event: Delivery = { channel: 'room:a', offset: undefined, text: '{"type":"join"}' }
  t.equal(gate.live(event), true, 'open: out at once')
  gate.hold('room:a')
  t.equal(gate.live(event), false, 'holding: it waits')
  t.equal(gate.heldBytes, event.text.length, 'and counts')
  t.same(gate.open('room:a', '5-0'), [event], 'released, though it has no offset to compare')
  t.equal(gate.live(frame('room:a', 5)), false, 'a second copy of the boundary is dropped')
  t.equal(gate.live(frame('room:a', 6)), true)
  t.equal(gate.mark('room:a'), undefined, 'with forget, no mark once a newer frame went out')
  gate.hold('room:b')
  gate.live(frame('room:b', 1))
  t.same(gate.abandon('room:b'), [frame('room:b', 1)], 'an abandoned hold hands its frames back')
  gate.hold('room:c')
  gate.live(frame('room:c', 1))
  gate.forgetChannel('room:c')
  t.equal(gate.heldBytes, 0, 'forgetting a channel drops what it held')
  const few = new DeliveryGate({ compare: compareOffsets, forget: true, maxMarks: 2 })
  for (const c of ['dm:a:b', 'dm:a:c', 'dm:a:d']) few.open(c, '1-0')
  t.same(['dm:a:b', 'dm:a:c', 'dm:a:d'].map((c) => few.mark(c)), [undefined, '1-0', '1-0'], 'at most maxMarks marks, the first marked go')
})

t.test('compareOffsets (allocation-free, on the relay path) orders offsets as the pair of numbers they are', async (t) => {
  const part = fc.oneof(fc.nat({ max: 20 }), fc.nat(), fc.bigInt({ min: 0n, max: 999_999_999_999_999n }))
  const offset = fc.tuple(part, part).map(([ms, seq]) => ({ text: `${ms}-${seq}`, ms: BigInt(ms), seq: BigInt(seq) }))
  fc.assert(fc.property(offset, offset, (a, b) => {
    const expected = a.ms !== b.ms ? (a.ms < b.ms ? -1 : 1) : a.seq !== b.seq ? (a.seq < b.seq ? -1 : 1) : 0
    return Math.sign(compareOffsets(a.text, b.text)) === expected
  }), { numRuns: 20_000 })
  t.equal(Math.sign(compareOffsets('9-0', '10-0')), -1, '"9-0" is before "10-0"')
  t.equal(compareOffsets('0-0', '0-0'), 0)
})

t.test('message frames as the store writes and reads them: offset, prev and epoch found from the end, whatever the data holds', async (t) => {
  const { finishFrame, liveFrame, splitLive } = await import('../plugins/store/message-frame.js')
  const { messagePrefix } = await import('../plugins/socket/frames.js')
  const data = fc.jsonValue().map((v) => JSON.stringify(v))
  fc.assert(fc.property(data, fc.nat(), fc.nat(), fc.string({ minLength: 1, maxLength: 9, unit: fc.constantFrom(...'abcXYZ019_-') }), (json, p, o, epoch) => {
    const text = finishFrame(messagePrefix('dm:a:b', 'a', 'b', json, 1, 'm1'), epoch, `${p}-0`, `${p + o + 1}-0`)
    const frame = liveFrame('user:b', text)
    const [split] = splitLive('user:b', text)
    return frame.offset === `${p + o + 1}-0` && frame.prev === `${p}-0` && frame.epoch === epoch && frame.channel === 'dm:a:b' &&
      JSON.stringify(split) === JSON.stringify(frame) && (JSON.parse(text) as { data: unknown }).data !== undefined
  }), { numRuns: 2000 })
  const old = liveFrame('room:r', '{"type":"message","channel":"room:r","from":"a","data":1,"ts":1,"epoch":"E","offset":"5-0"}')
  t.same([old.offset, old.prev, old.epoch], ['5-0', undefined, 'E'], 'a frame stored before prev existed')
  t.same(liveFrame('room:r', '{"type":"join","channel":"room:r","user":"bob"}'), { channel: 'room:r', offset: undefined, epoch: undefined, text: '{"type":"join","channel":"room:r","user":"bob"}' }, 'an event')
})

t.test('a relay whose messages cross on the way or get lost: each one names its predecessor, and what is missing is read back first', async (t) => {
  // The store holds 1..n, each naming the one before (prev). Any of them reaches the relay live, in any order, or not at all;
  // a message that is `ahead` (its predecessor has not gone out) makes the relay hold, read from its mark, then open (hub.ts).
  const scenario = fc.integer({ min: 1, max: 25 }).chain((n) => fc.record({
    n: fc.constant(n),
    arrivals: fc.shuffledSubarray(range(1, n), { minLength: 0, maxLength: n }),
    floor: fc.nat({ max: n })
  }))
  fc.assert(fc.property(scenario, ({ n, arrivals, floor }) => {
    const relay = new DeliveryGate({ compare: compareOffsets, forget: false })
    const chained = (i: number): Delivery => ({ ...frame('dm:a:b', i), prev: `${i - 1}-0` })
    const out: Delivery[] = []
    // The relay's listeners started at `floor`: before it is history, never sent; from it on, all of it once, in order.
    for (const i of arrivals) {
      const message = chained(i)
      if (relay.ahead(message, `${floor}-0`)) {
        relay.hold('user:a')
        relay.live(message, 'user:a')
        const mark = Number((relay.mark('dm:a:b') ?? `${floor}-0`).split('-')[0])
        for (let j = mark + 1; j <= n; j++) if (relay.replayed(chained(j))) out.push(chained(j))
        out.push(...relay.open('user:a', undefined))
      } else if (i > floor && relay.live(message, 'user:a')) {
        out.push(message)
      }
    }
    const got = numbers(out)
    const top = got[got.length - 1] ?? floor
    return JSON.stringify(got) === JSON.stringify(range(floor + 1, top))
  }), { numRuns: RUNS })
  t.pass(`${RUNS} runs`)
})
