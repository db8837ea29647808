/**
 * Requests made in the same turn of the event loop leave the Redis store as
 * one script call (appends, reservations). A batch must behave exactly like
 * the same requests made one by one: every store here gets them all at once.
 */
import t from 'tap'
import { Batcher } from '../plugins/store/batcher.js'
import { CLUSTER_BACKENDS, openStore } from './helpers/stack.js'
import { eventually } from './helpers/client.js'
import type { AppendResult, Store } from '../plugins/store/index.js'
import type { LiveFrame, StoredFrame } from '../plugins/store/types.js'
import { compareOffsets } from '../plugins/store/types.js'

const frame = (n: number, channel: string): string => `{"type":"message","channel":"${channel}","n":${n},"epoch":"`

function offsetOf (result: AppendResult): string {
  if (result.status !== 'appended' && result.status !== 'duplicate') throw new Error(`refused: ${result.status}`)
  return result.offset
}

t.test('Batcher: one run per turn, split at maxBatch, results in order, a failed run fails its own requests only', async (t) => {
  const runs: number[][] = []
  const batcher = new Batcher<number, string>(async (inputs) => {
    runs.push([...inputs])
    if (inputs.includes(13)) throw new Error('unlucky')
    return inputs.map((n) => `r${n}`)
  }, { maxBatch: 4 })
  const results = await Promise.allSettled([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13].map(async (n) => await batcher.add(n)))
  t.same(runs, [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13]], 'everything asked in one turn, in order, at most 4 per run')
  t.same(results.slice(0, 12).map((r) => r.status === 'fulfilled' ? r.value : 'x'), Array.from({ length: 12 }, (_, i) => `r${i + 1}`))
  t.match(results[12], { status: 'rejected', reason: { message: 'unlucky' } })
  t.equal(await batcher.add(20), 'r20', 'a later turn is a new run')
  t.equal(runs.length, 5)

  const weighed: number[][] = []
  const byWeight = new Batcher<number, number>(async (inputs) => { weighed.push([...inputs]); return [...inputs] }, { maxWeight: 10, weigh: (n) => n })
  t.same(await Promise.all([3, 4, 3, 12, 1, 9, 2].map(async (n) => await byWeight.add(n))), [3, 4, 3, 12, 1, 9, 2])
  t.same(weighed, [[3, 4, 3], [12], [1, 9], [2]], 'runs stay within maxWeight; one heavier than that runs alone')

  const partial = new Batcher<number, string>(async (inputs) => inputs.map((n) => n === 2 ? new Error('slot 2 failed') : `ok${n}`))
  const mixed = await Promise.allSettled([1, 2, 3].map(async (n) => await partial.add(n)))
  t.same(mixed.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'], 'an Error in a result fails that request alone')

  const short = new Batcher<number, string>(async () => ['only one'])
  const both = await Promise.allSettled([short.add(1), short.add(2)])
  t.match(both[1], { status: 'rejected', reason: { message: /1 results for 2 requests/ } }, 'a missing result is an error, not undefined')
})

for (const backend of CLUSTER_BACKENDS) {
  t.test(`${backend}: appends made at once behave like appends made one by one`, async (t) => {
    const { store } = await openStore(t, backend)
    const live = new Map<string, LiveFrame[]>()
    const listen = async (channel: string): Promise<void> => {
      live.set(channel, [])
      await store.subscribe(channel, (_c, frame) => { live.get(channel)?.push(frame) })
    }
    for (const channel of ['user:bob', 'user:alice', 'user:carol', 'room:r']) await listen(channel)
    await store.join('r', 'alice')
    const first = offsetOf(await store.append({ channel: 'room:r', framePrefix: frame(0, 'room:r'), sender: 'alice', mid: 'm0' }))
    const dm = async (n: number, mid: string, to = 'bob'): Promise<AppendResult> => {
      const channel = `dm:alice:${to}`
      return await store.append({ channel, framePrefix: frame(n, channel), sender: 'alice', mid, participants: ['alice', to] })
    }

    const results = await Promise.all([
      // direct messages in two conversations, interleaved, each delivered through both users' personal channels
      ...[1, 2, 3].map(async (n) => await dm(n, `d${n}`, n === 2 ? 'carol' : 'bob')),
      // a room: a member, a non-member, an earlier mid, and the same new mid twice in the same batch
      store.append({ channel: 'room:r', framePrefix: frame(4, 'room:r'), sender: 'alice', mid: 'm4', requireMember: true }),
      store.append({ channel: 'room:r', framePrefix: frame(5, 'room:r'), sender: 'mallory', requireMember: true }),
      store.append({ channel: 'room:r', framePrefix: frame(6, 'room:r'), sender: 'alice', mid: 'm0' }),
      store.append({ channel: 'room:r', framePrefix: frame(7, 'room:r'), sender: 'alice', mid: 'm7' }),
      store.append({ channel: 'room:r', framePrefix: frame(8, 'room:r'), sender: 'alice', mid: 'm7' })
    ])
    const [d1, d2, d3, member, outsider, repeated, fresh, again] = results
    t.match(d1, { status: 'appended' })
    t.match(d2, { status: 'appended' })
    t.match(d3, { status: 'appended' })
    t.match(member, { status: 'appended' })
    t.same(outsider, { status: 'forbidden' }, 'a non-member is refused inside the batch')
    t.same(repeated, { status: 'duplicate', offset: first }, 'a mid from an earlier call: the first offset')
    t.match(fresh, { status: 'appended' })
    t.same(again, { status: 'duplicate', offset: offsetOf(fresh as AppendResult) }, 'the same mid twice in one batch: stored once')

    // A direct message sent again with its mid (a retry), and a new one twice in one batch: stored once.
    const [retry, d9, d9again] = await Promise.all([dm(1, 'd1'), dm(9, 'd9'), dm(9, 'd9')])
    t.same(retry, { status: 'duplicate', offset: offsetOf(d1 as AppendResult) }, 'a direct message retried: the first offset')
    t.match(d9, { status: 'appended' })
    t.same(d9again, { status: 'duplicate', offset: offsetOf(d9 as AppendResult) })

    const ns = async (channel: string): Promise<number[]> => (await store.history(channel, undefined, 50)).map((m) => JSON.parse(m.text).n as number)
    t.same(await ns('dm:alice:bob'), [1, 3, 9], 'each channel in the order asked')
    t.same(await ns('dm:alice:carol'), [2])
    t.same(await ns('user:alice'), [], 'nothing is stored on the personal channels')
    t.same(await ns('room:r'), [0, 4, 7])
    t.same((await store.history('dm:alice:bob', undefined, 50)).map((m) => JSON.parse(m.text).offset), [d1, d3, d9].map((r) => offsetOf(r as AppendResult)),
      'the offsets returned are the stored ones')
    t.same((await store.history('dm:alice:bob', undefined, 50)).map((m) => m.offset), [d1, d3, d9].map((r) => offsetOf(r as AppendResult)),
      'and each stored frame is read back with its offset')
    const bobs = await store.position('dm:alice:bob')
    const newest = (await store.history('dm:alice:bob', undefined, 1))[0]
    t.same(bobs.offset, JSON.parse(newest?.text ?? '{}').offset, 'the position is the newest offset')
    t.same(bobs.offset, newest?.offset)
    t.ok((await store.history('dm:alice:bob', undefined, 50)).every((m) => JSON.parse(m.text).epoch === bobs.epoch), 'every frame carries its channel\'s epoch')

    // Live: every stored frame exactly once, one frame per handler call, in order (a batch's frames share one publish);
    // a conversation's frames reach both users' personal channels.
    await eventually(() => (live.get('room:r')?.length ?? 0) >= 3 && (live.get('user:alice')?.length ?? 0) >= 4, 'the live frames')
    const stored = async (...channels: string[]): Promise<StoredFrame[]> => (await Promise.all(channels.map(async (c) => await store.history(c, undefined, 50)))).flat()
    // A live frame as a stored one: its text byte for byte and its offset (its channel is checked apart).
    const heard = (channel: string): StoredFrame[] | undefined => live.get(channel)?.map(({ offset, text }) => ({ offset: offset ?? 'none', text }))
    // Two conversations can store a frame at the same offset (the same millisecond): ties are ordered by text, so the sort is total.
    const byOffset = (frames: StoredFrame[]): StoredFrame[] => [...frames].sort((a, b) =>
      compareOffsets(JSON.parse(a.text).offset, JSON.parse(b.text).offset) || (a.text < b.text ? -1 : a.text > b.text ? 1 : 0))
    t.same(heard('room:r'), await stored('room:r'), 'room: byte for byte, in order')
    t.same(heard('user:bob'), await stored('dm:alice:bob'), 'bob hears his conversation with alice, in order')
    t.same(heard('user:carol'), await stored('dm:alice:carol'))
    t.same(byOffset(heard('user:alice') ?? []), byOffset(await stored('dm:alice:bob', 'dm:alice:carol')), 'alice hears both of hers, once each')
    t.same((heard('user:alice') ?? []).filter((f) => JSON.parse(f.text).channel === 'dm:alice:bob'), await stored('dm:alice:bob'), '…each in its own order')
    t.same(live.get('room:r')?.map((f) => f.channel), ['room:r', 'room:r', 'room:r'], 'a room\'s frames belong to the room')
    t.same(live.get('user:bob')?.map((f) => f.channel), ['dm:alice:bob', 'dm:alice:bob', 'dm:alice:bob'], 'a direct message heard on a personal channel belongs to its conversation')
    t.same(live.get('user:alice')?.map((f) => f.channel), live.get('user:alice')?.map((f) => JSON.parse(f.text).channel), '…the one its frame names')
    t.same((await store.conversations('alice', undefined, 10)).map((c) => c.channel).filter((c) => c.startsWith('dm:')).sort(), ['dm:alice:bob', 'dm:alice:carol'],
      'both are in alice\'s list (with her room)')
    t.same((await store.conversations('carol', undefined, 10)).map((c) => c.channel), ['dm:alice:carol'], 'and each in its other user\'s')
  })

  t.test(`${backend}: a storm of reservations in one turn spreads by load and respects capacity, draining and exclude`, async (t) => {
    const { store } = await openStore(t, backend)
    const server = (id: string, capacity: number, draining = false): { id: string, url: string, capacity: number, draining: boolean, startedAt: number } =>
      ({ id, url: `ws://h/${id}`, capacity, draining, startedAt: 1 })
    await store.heartbeat(server('a', 10), 0)
    await store.heartbeat(server('b', 10), 4)
    await store.heartbeat(server('c', 3), 0)
    await store.heartbeat(server('d', 100, true), 0)
    const expiresAt = Date.now() + 30_000
    const picks = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const result = await store.reserve({ aliveWithinMs: 3000, nonce: `n${i}`, expiresAt, user: `u${i}`, ...(i === 0 ? { exclude: 'a' } : {}) })
      return result.status === 'reserved' ? result.server : null
    }))
    const count = (id: string): number => picks.filter((p) => p?.id === id).length
    t.equal(picks[0]?.id !== 'a', true, 'exclude holds inside a batch')
    t.equal(count('d'), 0, 'a draining server gets nothing')
    t.equal(count('c'), 3, 'a server fills up to its capacity, no further')
    t.equal(count('a') + count('b'), 16, 'the rest go to a and b…')
    t.equal(count('a'), 10, '…least loaded first: a takes up to b\'s load, then they alternate until a is full')
    t.equal(count('b'), 6)
    t.equal(picks.filter((p) => p === null).length, 1, 'when everything is full the request gets no server')
    const loads = new Map((await store.listServers()).map((s) => [s.id, s.load]))
    t.same([loads.get('a'), loads.get('b'), loads.get('c')], [10, 10, 3], 'every place is counted in the load at once')
    const reported = picks.filter((p) => p?.id === 'b').map((p) => p?.load)
    t.same(reported, [4, 5, 6, 7, 8, 9], 'each pick reports the load it saw, counting the batch\'s earlier picks')
    const first = picks.findIndex((p) => p?.id === 'b')
    t.equal(await store.claim('b', `n${first}`, `u${first}`), true, 'each nonce is a reservation the server can claim')
    t.equal(await store.claim('b', 'n-unknown', 'u0'), false)
  })
}

// Appends from many callers in one turn on a store that is not batched (memory) must give the same answers too.
t.test('memory: the same storm of appends', async (t) => {
  const { store } = await openStore(t, 'memory')
  await store.join('r', 'alice')
  const results = await Promise.all([1, 2, 3].map(async (n) => await store.append({ channel: 'room:r', framePrefix: frame(n, 'room:r'), sender: 'alice', mid: 'same' })))
  t.same(results.map((r) => r.status), ['appended', 'duplicate', 'duplicate'])
  t.same(await storedNs(store, 'room:r'), [1])
})

async function storedNs (store: Store, channel: string): Promise<number[]> {
  return (await store.history(channel, undefined, 50)).map((m) => JSON.parse(m.text).n as number)
}
