/**
 * The Store contract, run against both implementations.
 */
import t from 'tap'
import { CLUSTER_BACKENDS, openStore } from './helpers/stack.js'
import { eventually } from './helpers/client.js'
import { storeTimePasses } from './helpers/store-time.js'
import type { AppendResult, ServerStatus, Store } from '../plugins/store/index.js'
import type { LiveFrame, ReserveResult, StoredFrame } from '../plugins/store/types.js'
import { compareOffsets } from '../plugins/store/types.js'

function offsetOf (result: AppendResult): string {
  if (result.status !== 'appended' && result.status !== 'duplicate') throw new Error(`append was refused: ${result.status}`)
  return result.offset
}

async function put (store: Store, channel: string, n: number): Promise<string> {
  return offsetOf(await store.append({ channel, framePrefix: `{"n":${n},"epoch":"`, sender: 'alice' }))
}

/** One reservation for user u (no budget): the server it got, or null. */
async function reserve (store: Store, aliveWithinMs: number, nonce: string, expiresAt: number, exclude?: string): Promise<ServerStatus | null> {
  const result = await store.reserve({ aliveWithinMs, nonce, expiresAt, user: 'u', ...(exclude !== undefined ? { exclude } : {}) })
  return result.status === 'reserved' ? result.server : null
}

const server = (id: string, extra: Partial<{ capacity: number, draining: boolean, url: string }> = {}) =>
  ({ id, url: `ws://h/${id}`, capacity: 10, draining: false, startedAt: 1700000000000, ...extra })

for (const backend of CLUSTER_BACKENDS) {
  t.test(`${backend}: position, recovery and history`, async (t) => {
    const { store } = await openStore(t, backend)
    const empty = await store.position('room:a')
    t.equal(empty.offset, '0-0', 'a new channel starts at 0-0')
    t.match(empty.epoch, /^[A-Za-z0-9_-]{4,32}$/)
    t.same(await store.position('room:a'), empty, 'the epoch is stable')

    const offsets: string[] = []
    for (let n = 1; n <= 5; n++) offsets.push(await put(store, 'room:a', n))
    const top = await store.position('room:a')
    t.same(top, { epoch: empty.epoch, offset: offsets[4] }, 'same epoch, newest offset')

    const fromStart = await store.recover('room:a', empty)
    t.equal(fromStart.recovered, true)
    t.same(fromStart.messages.map((m) => JSON.parse(m.text).n), [1, 2, 3, 4, 5])
    t.same(fromStart.messages.map((m) => JSON.parse(m.text).offset), offsets, 'replayed frames carry their offsets')
    t.same(fromStart.messages.map((m) => m.offset), offsets, 'and are read back with them')
    const fromThird = await store.recover('room:a', { epoch: empty.epoch, offset: offsets[2] ?? '' })
    t.same(fromThird.messages.map((m) => JSON.parse(m.text).n), [4, 5], 'strictly after since')
    t.same((await store.recover('room:a', top)).messages, [], 'nothing after the newest')
    t.equal((await store.recover('room:a', { epoch: 'other', offset: offsets[2] ?? '' })).recovered, false, 'another epoch')
    t.equal((await store.recover('room:a', { epoch: empty.epoch, offset: '99999999999999-0' })).recovered, false, 'an offset from the future')

    t.same((await store.history('room:a', undefined, 2)).map((m) => JSON.parse(m.text).n), [4, 5], 'newest page')
    t.same((await store.history('room:a', offsets[3], 2)).map((m) => JSON.parse(m.text).n), [2, 3], 'before is exclusive')
    t.same((await store.history('room:a', offsets[0], 10)), [], 'nothing before the first')
    t.same(await store.history('room:none', undefined, 10), [])
  })

  t.test(`${backend}: trimming keeps the newest and makes older offsets unrecoverable`, async (t) => {
    const { store } = await openStore(t, backend, { historySize: 10 })
    const start = await store.position('room:t')
    const offsets: string[] = []
    for (let n = 1; n <= 12; n++) offsets.push(await put(store, 'room:t', n))
    // 10 + 10% slack = 11 kept before a trim; the 12th append trims to 10.
    const all = await store.history('room:t', undefined, 100)
    t.same(all.map((m) => JSON.parse(m.text).n), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    t.equal((await store.recover('room:t', start)).recovered, false, 'from before the trim: not recoverable')
    t.equal((await store.recover('room:t', { epoch: start.epoch, offset: offsets[0] ?? '' })).recovered, false, 'from a trimmed offset')
    const fromKept = await store.recover('room:t', { epoch: start.epoch, offset: offsets[1] ?? '' })
    t.equal(fromKept.recovered, true, 'from the newest trimmed offset everything after is still here')
    t.same(fromKept.messages.map((m) => JSON.parse(m.text).n), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
  })

  t.test(`${backend}: reads in pages: recovery's first page, the rest with read; history spans; a gap is reported`, async (t) => {
    const { store } = await openStore(t, backend, { historySize: 10 })
    const start = await store.position('room:p')
    const offsets: string[] = []
    for (let n = 1; n <= 8; n++) offsets.push(await put(store, 'room:p', n))
    const n = (frames: StoredFrame[] | null | undefined): number[] => (frames ?? []).map((m) => JSON.parse(m.text).n)
    // The longest of the two a read after the first returns (the first's `prev` is shorter: "0-0").
    const frameBytes = Math.max(...(await store.history('room:p', offsets[3], 2)).map((m) => m.text.length))
    const page = { limit: 3, maxBytes: 100_000 }
    const recovery = await store.recover('room:p', start, page)
    t.same([recovery.recovered, recovery.offset, n(recovery.messages)], [true, offsets[7], [1, 2, 3]], 'recover returns its first page and the newest offset')
    t.same(n(await store.read('room:p', { after: offsets[2] ?? '', upTo: recovery.offset, epoch: start.epoch }, page)), [4, 5, 6], 'the next page')
    t.same(n(await store.read('room:p', { after: offsets[5] ?? '', upTo: offsets[6] ?? '', epoch: start.epoch }, page)), [7], 'up to upTo only')
    t.same(n(await store.read('room:p', { after: offsets[0] ?? '', upTo: recovery.offset }, { limit: 100, maxBytes: 2 * frameBytes + 1 })), [2, 3], 'no more than maxBytes')
    t.same(n(await store.read('room:p', { after: offsets[0] ?? '', upTo: recovery.offset }, { limit: 100, maxBytes: 1 })), [2], 'but at least one')
    t.equal(await store.read('room:p', { after: offsets[0] ?? '', upTo: recovery.offset, epoch: 'another' }, page), null, 'another epoch: a gap')

    t.same(await store.historySpan('room:p', undefined, 3, page), { after: offsets[4], upTo: offsets[7], messages: await store.history('room:p', undefined, 3) },
      'a span that fits: its bounds and its messages')
    t.same(await store.historySpan('room:p', offsets[3], 10, page), { after: '0-0', upTo: offsets[2], messages: await store.history('room:p', offsets[3], 10) }, 'fewer than asked: from the start')
    t.same(await store.historySpan('room:p', undefined, 8, { limit: 100, maxBytes: 3 * frameBytes }), { after: '0-0', upTo: offsets[7] }, 'too big for one page: only the bounds')
    t.equal(await store.historySpan('room:p', '0-0', 10, page), undefined, 'nothing before "0-0"')
    t.equal(await store.historySpan('room:nothing', undefined, 10, page), undefined, 'nothing at all')
    t.same(await store.history('room:p', '0-0', 10), [], 'history before "0-0" is empty too')

    for (let m = 9; m <= 12; m++) await put(store, 'room:p', m) // trims to the newest 10: 3..12
    t.equal(await store.read('room:p', { after: offsets[0] ?? '', upTo: offsets[7] ?? '', epoch: start.epoch }, page), null, 'trimmed past `after`: a gap')
    t.same(n(await store.read('room:p', { after: offsets[1] ?? '', upTo: offsets[7] ?? '', epoch: start.epoch }, page)), [3, 4, 5], 'from the newest trimmed offset: no gap')
  })

  t.test(`${backend}: history that expires comes back with a new epoch`, async (t) => {
    const { store } = await openStore(t, backend, { historyTtlMs: 1000 })
    const offset = await put(store, 'room:e', 1)
    const before = await store.position('room:e')
    t.equal(before.offset, offset)
    await storeTimePasses(store, 1000)
    const after = await store.position('room:e')
    t.not(after.epoch, before.epoch, 'epoch changed')
    t.equal(after.offset, '0-0')
    t.equal((await store.recover('room:e', before)).recovered, false)
    t.same(await store.history('room:e', undefined, 10), [])
  })

  t.test(`${backend}: rooms and membership`, async (t) => {
    const { store } = await openStore(t, backend)
    await store.join('general', 'alice')
    await store.join('general', 'bob')
    await store.join('random', 'alice')
    t.same(await store.members('general'), ['alice', 'bob'])
    t.same(await store.roomsOf('alice'), ['general', 'random'])
    t.ok(await store.isMember('general', 'bob'))
    t.notOk(await store.isMember('random', 'bob'))
    const refused = await store.append({ channel: 'room:random', framePrefix: '{"epoch":"', sender: 'bob', requireMember: true })
    t.same(refused, { status: 'forbidden' })
    t.equal((await store.append({ channel: 'room:random', framePrefix: '{"epoch":"', sender: 'alice', requireMember: true })).status, 'appended')
    await store.leave('general', 'bob')
    t.same(await store.members('general'), ['alice'])
    t.same(await store.roomsOf('bob'), [])
  })

  t.test(`${backend}: presence across servers, with events on first and last`, async (t) => {
    // A window generous enough that a heartbeat is still recent a few calls later on a busy machine; staleness is
    // waited for on the store's own clock.
    const { store } = await openStore(t, backend, { aliveWithinMs: 1000 })
    const events: LiveFrame[] = []
    await store.subscribe('room:p', (_c, p) => { events.push(p) })
    const beat = async (id: string): Promise<void> => { await store.heartbeat({ id, url: 'ws://x', capacity: 9, draining: false, startedAt: 0 }, 0) }
    await beat('s1')
    await beat('s2')
    t.equal(await store.presenceAdd('room:p', 'alice', 's1', 'alice-in'), true, 'first connection anywhere: event')
    t.equal(await store.presenceAdd('room:p', 'alice', 's2', 'alice-in'), false, 'second server: no event')
    t.equal(await store.presenceAdd('room:p', 'bob', 's2', 'bob-in'), true)
    t.same(await store.presence('room:p'), ['alice', 'bob'])
    t.equal(await store.presenceRemove('room:p', 'alice', 's1', 'alice-out'), false, 'still on s2: no event')
    t.same(await store.presence('room:p'), ['alice', 'bob'])
    t.equal(await store.presenceRemove('room:p', 'alice', 's2', 'alice-out'), true, 'last one: event')
    t.equal(await store.presenceRemove('room:p', 'alice', 's2', 'alice-out'), false, 'removing twice is harmless')
    t.same(await store.presence('room:p'), ['bob'])
    t.equal(await store.presenceAdd('room:p', 'carol', 's1', ''), false, 'an empty event publishes nothing')
    await eventually(() => events.length >= 3, 'events')
    t.same(events.map((e) => e.text), ['alice-in', 'bob-in', 'alice-out'])
    t.same(events.map((e) => [e.channel, e.offset]), [['room:p', undefined], ['room:p', undefined], ['room:p', undefined]], 'events belong to their channel and have no offset')

    // s2 stops heartbeating: its users vanish from presence once the window has passed.
    await storeTimePasses(store, 1000)
    await beat('s1')
    t.same(await store.presence('room:p'), ['carol'], 'bob, on the silent s2, is gone')
    await store.deregister('s2')
    t.same(await store.presence('room:p'), ['carol'])
  })

  t.test(`${backend}: fleet bookkeeping`, async (t) => {
    const { store } = await openStore(t, backend)
    await store.ping()
    t.same(await store.listServers(), [])
    t.equal(await reserve(store, 5000, 'n0', Date.now() + 30_000), null)

    t.same(await store.heartbeat(server('a'), 3), { readmitted: true, drainRequested: false }, 'the first heartbeat admits')
    t.equal((await store.heartbeat(server('b'), 1)).readmitted, true)
    t.equal((await store.heartbeat(server('a'), 3)).readmitted, false, 'later ones refresh')
    const listed = await store.listServers()
    t.match(listed, [{ id: 'b', load: 1, url: 'ws://h/b', capacity: 10, draining: false, startedAt: 1700000000000 }, { id: 'a', load: 3 }])
    t.ok(listed.every((s) => typeof s.lastHeartbeat === 'number' && Math.abs((s.lastHeartbeat ?? 0) - Date.now()) < 5000), 'heartbeat times are recent')

    // Reservations count at once, so back-to-back allocations spread out.
    const expires = Date.now() + 30_000
    t.match(await reserve(store, 5000, 'n1', expires), { id: 'b', load: 1, url: 'ws://h/b' })
    t.match(await reserve(store, 5000, 'n2', expires), { id: 'b', load: 2 })
    t.match(await reserve(store, 5000, 'n3', expires), { id: 'a', load: 3 }, 'a and b tie at 3: the first by id')
    t.match(await reserve(store, 5000, 'n4', expires, 'b'), { id: 'a', load: 4 }, 'exclude is never picked')
    t.match(await store.listServers(), [{ id: 'b', load: 3 }, { id: 'a', load: 5 }])
    const avoiding = async (nonce: string, avoid: string, exclude?: string): Promise<ReserveResult> =>
      await store.reserve({ aliveWithinMs: 5000, nonce, expiresAt: expires, user: 'u', avoid, ...(exclude !== undefined ? { exclude } : {}) })
    t.match(await avoiding('n4a', 'b'), { status: 'reserved', server: { id: 'a', load: 5 } }, 'an avoided server is passed over for a busier one')
    t.match(await avoiding('n4b', 'a', 'b'), { status: 'reserved', server: { id: 'a', load: 6 } }, 'and taken when no other is eligible')
    t.match(await store.listServers(), [{ id: 'b', load: 3 }, { id: 'a', load: 7 }], 'both counted')

    t.equal(await store.claim('b', 'n1', 'u'), true, 'a reservation is claimed once')
    t.equal(await store.claim('b', 'n1', 'u'), false, 'and only once')
    t.equal(await store.claim('b', 'n3', 'u'), false, 'a reservation of another server is not claimable here')
    // b: 1 connection + the claimed one connected (2) + one reservation left (n2).
    await store.heartbeat(server('b'), 2)
    t.equal((await store.listServers()).find((s) => s.id === 'b')?.load, 3, 'reconciled: connections plus open reservations')
    await store.adjustLoad('b', 10)
    await store.heartbeat(server('b'), 2)
    t.equal((await store.listServers()).find((s) => s.id === 'b')?.load, 3, 'drift is healed by the next heartbeat')

    await store.heartbeat(server('a', { draining: true }), 0)
    t.match(await reserve(store, 5000, 'n5', expires), { id: 'b' }, 'draining is skipped')
    await store.heartbeat(server('b', { capacity: 4 }), 2)
    t.equal(await reserve(store, 5000, 'n6', expires), null, 'at capacity is skipped')

    await store.deregister('a')
    await store.deregister('b')
    t.same(await store.listServers(), [])
    await store.adjustLoad('a', -1)
    t.same(await store.listServers(), [], 'a late decrement does not resurrect a deregistered server')
  })

  t.test(`${backend}: what the admin dashboard reads: connections, message rate, drain requests`, async (t) => {
    const { store } = await openStore(t, backend)
    t.equal(await store.requestDrain('a'), false, 'an unknown server cannot be asked to drain')
    await store.heartbeat({ ...server('a'), messagesPerSecond: 12.5 }, 4)
    await reserve(store, 5000, 'n1', Date.now() + 30_000)
    t.match(await store.listServers(), [{ id: 'a', load: 5, connections: 4, messagesPerSecond: 12.5, drainRequested: false }],
      'connections as reported; the load also counts the reservation')
    await store.heartbeat(server('a'), 4)
    t.match(await store.listServers(), [{ id: 'a', messagesPerSecond: 12.5 }], 'a heartbeat without a rate keeps the last one')

    t.equal(await store.requestDrain('a'), true)
    t.equal(await store.requestDrain('a'), true, 'asking twice is harmless')
    t.match(await store.listServers(), [{ id: 'a', drainRequested: true }])
    t.same(await store.heartbeat(server('a'), 4), { readmitted: false, drainRequested: true }, 'the next heartbeat hears it')
    t.equal((await store.heartbeat(server('a', { draining: true }), 4)).drainRequested, true, 'and every one after, while draining')
    await store.deregister('a')
    t.same(await store.heartbeat(server('a'), 0), { readmitted: true, drainRequested: false }, 'a server that comes back starts afresh')
  })

  t.test(`${backend}: registries and health checkers announce themselves`, async (t) => {
    const { store } = await openStore(t, backend)
    const clock = await store.clock()
    t.ok(Math.abs(clock - Date.now()) < 5000, 'the store clock is close to ours')
    t.same(await store.components('registry'), [])
    await store.announce({ role: 'registry', id: 'r2', startedAt: 5, details: { address: '10.0.0.2:3000' } }, 10_000)
    await store.announce({ role: 'registry', id: 'r1', startedAt: 7, details: { address: '10.0.0.1:3000', pid: 42 } }, 300)
    await store.announce({ role: 'health', id: 'h1', startedAt: 9, details: { evictions: 3, lastSweepAt: null } }, 10_000)
    const registries = await store.components('registry')
    t.match(registries, [
      { role: 'registry', id: 'r1', startedAt: 7, details: { address: '10.0.0.1:3000', pid: 42 } },
      { role: 'registry', id: 'r2', startedAt: 5, details: { address: '10.0.0.2:3000' } }
    ], 'by id, with their details')
    t.ok(registries.every((r) => Math.abs(r.lastSeen - clock) < 5000), 'last seen on the store clock')
    t.same((await store.components('health')).map((h) => h.details), [{ evictions: 3, lastSweepAt: null }], 'roles are apart')

    await storeTimePasses(store, 300)
    t.same((await store.components('registry')).map((r) => r.id), ['r2'], 'one that stopped announcing is forgotten after its ttl')
    await store.retire('registry', 'r2')
    t.same(await store.components('registry'), [], 'a retired one at once')
  })

  t.test(`${backend}: expired reservations stop counting`, async (t) => {
    const { store } = await openStore(t, backend)
    await store.heartbeat(server('a'), 0)
    await reserve(store, 5000, 'old', Date.now() - 10_000) // expired long ago (past the grace)
    await reserve(store, 5000, 'new', Date.now() + 30_000)
    await store.heartbeat(server('a'), 0)
    t.equal((await store.listServers())[0]?.load, 1, 'only the live reservation counts')
    t.equal(await store.claim('a', 'old', 'u'), false, 'an expired reservation cannot be claimed')
  })

  t.test(`${backend}: what one user holds is capped across the fleet: connections plus unused reservations`, async (t) => {
    const { store } = await openStore(t, backend)
    await store.heartbeat(server('a'), 0)
    await store.heartbeat(server('b'), 0)
    const budget = { maxHolds: 3, rateMax: 0, rateWindowMs: 60_000 }
    const expiresAt = Date.now() + 30_000
    const ask = async (user: string, nonce: string, withBudget = true, expires = expiresAt): Promise<ReserveResult> =>
      await store.reserve({ aliveWithinMs: 5000, nonce, expiresAt: expires, user, ...(withBudget ? { budget } : {}) })
    const placed = [await ask('alice', 'a1'), await ask('alice', 'a2'), await ask('alice', 'a3')]
    t.same(placed.map((r) => r.status), ['reserved', 'reserved', 'reserved'])
    t.same(new Set(placed.map((r) => r.status === 'reserved' ? r.server.id : '')), new Set(['a', 'b']), 'on both servers')
    const over = await ask('alice', 'a4')
    t.equal(over.status, 'over_cap', 'a fourth is refused, whichever server has room')
    t.ok(over.status === 'over_cap' && over.retryAfterMs > 25_000 && over.retryAfterMs <= 35_000 + 1000,
      `until the oldest reservation stops counting (${over.status === 'over_cap' ? over.retryAfterMs : ''} ms)`)
    t.equal((await ask('bob', 'b1')).status, 'reserved', 'another user is not affected')
    t.equal((await store.listServers()).reduce((sum, s) => sum + s.load, 0), 4, 'the refusal reserved nothing')

    const on = (r: ReserveResult | undefined): string => r?.status === 'reserved' ? r.server.id : ''
    t.equal(await store.claim(on(placed[0]), 'a1', 'alice'), true)
    t.equal((await ask('alice', 'a5')).status, 'over_cap', 'a connection counts as much as the reservation it used')
    await store.release(on(placed[0]), 'a1', 'alice')
    t.equal((await ask('alice', 'a6')).status, 'reserved', 'its close frees the place')
    t.equal((await ask('alice', 'moved', false)).status, 'reserved', 'without a budget (a drain moving a client) the cap does not refuse')

    await store.heartbeat(server('c'), 0)
    const carol = await Promise.all([1, 2, 3, 4, 5].map(async (n) => await store.reserve({ aliveWithinMs: 5000, nonce: `c${n}`, expiresAt, user: 'carol', budget: { ...budget, maxHolds: 2 } })))
    t.same(carol.map((r) => r.status), ['reserved', 'reserved', 'over_cap', 'over_cap', 'over_cap'], 'in one batch too')
    const cOn = on(carol[0])
    t.equal(await store.claim(cOn, 'c1', 'carol'), true)
    await store.deregister(cOn)
    await store.deregister(on(carol[1]))
    t.equal((await store.reserve({ aliveWithinMs: 5000, nonce: 'c6', expiresAt, user: 'carol', budget })).status, 'reserved',
      'the connections and reservations of servers that left the fleet no longer count')

    t.equal((await ask('dave', 'old', true, Date.now() - 10_000)).status, 'reserved')
    for (const n of [1, 2, 3]) t.equal((await ask('dave', `d${n}`)).status, 'reserved', `dave ${n}: an expired reservation does not count`)
  })

  t.test(`${backend}: allocations per user per window, and rate counters`, async (t) => {
    const { store } = await openStore(t, backend)
    await store.heartbeat(server('a', { capacity: 100 }), 0)
    const budget = { maxHolds: 0, rateMax: 2, rateWindowMs: 60_000 }
    const ask = async (user: string, nonce: string): Promise<ReserveResult> =>
      await store.reserve({ aliveWithinMs: 5000, nonce, expiresAt: Date.now() + 30_000, user, budget })
    t.same([(await ask('eve', 'e1')).status, (await ask('eve', 'e2')).status], ['reserved', 'reserved'])
    const refused = await ask('eve', 'e3')
    t.equal(refused.status, 'rate_limited')
    t.ok(refused.status === 'rate_limited' && refused.retryAfterMs > 0 && refused.retryAfterMs <= 60_000, 'with the rest of the window')
    t.equal((await ask('frank', 'f1')).status, 'reserved', 'per user')

    const first = await store.rateHit('x:2', 1000)
    t.equal(first.count, 1, 'a rate counter starts at 1')
    t.ok(first.resetInMs > 0 && first.resetInMs <= 1000, 'and says when its window ends')
    t.equal((await store.rateHit('x:2', 1000)).count, 2, 'the same bucket counts on')
    t.equal((await store.rateHit('x:3', 1000)).count, 1, 'another bucket apart')
    await storeTimePasses(store, 1000)
    t.equal((await store.rateHit('x:2', 1000)).count, 1, 'a new window starts from 1')
  })

  t.test(`${backend}: stale servers are evicted, idempotently, with their presence`, async (t) => {
    const { store } = await openStore(t, backend, { aliveWithinMs: 1000 })
    await store.heartbeat(server('quiet'), 2)
    await store.heartbeat(server('busy'), 1)
    await store.presenceAdd('room:x', 'alice', 'quiet', '')
    await store.presenceAdd('room:x', 'bob', 'quiet', '')
    await store.presenceAdd('room:x', 'bob', 'busy', '')
    await store.presenceAdd('user:alice', 'alice', 'quiet', '')
    await storeTimePasses(store, 1000)
    await store.heartbeat(server('busy'), 1)
    const [evicted, again] = await Promise.all([store.evictStale(1000), store.evictStale(1000)])
    t.same([...evicted, ...again], ['quiet'], 'evicted once, by one of two concurrent checkers')
    t.same((await store.listServers()).map((s) => s.id), ['busy'])
    const dropped = await store.dropPresence('quiet')
    t.same(dropped.sort((a, b) => `${a.channel}${a.user}` < `${b.channel}${b.user}` ? -1 : 1), [
      { channel: 'room:x', user: 'alice', gone: true },
      { channel: 'room:x', user: 'bob', gone: false },
      { channel: 'user:alice', user: 'alice', gone: true }
    ])
    t.same(await store.dropPresence('quiet'), [], 'dropping twice finds nothing')
    t.same(await store.presence('room:x'), ['bob'])
    t.equal((await store.heartbeat(server('quiet'), 2)).readmitted, true, 'a server that comes back is re-admitted')
    t.match((await store.listServers()).find((s) => s.id === 'quiet'), { load: 2 }, 'with its true count')
  })

  t.test(`${backend}: append publishes to subscribers and returns increasing offsets`, async (t) => {
    const { store } = await openStore(t, backend)
    const seen: Array<[string, LiveFrame]> = []
    const handler = (channel: string, frame: LiveFrame): void => { seen.push([channel, frame]) }
    await store.subscribe('user:bob', handler)
    await store.subscribe('user:bob', handler) // idempotent per handler

    const first = { offset: await put(store, 'user:bob', 1) }
    const second = { offset: await put(store, 'user:bob', 2) }
    await put(store, 'user:carol', 3)
    t.match(first.offset, /^\d+-\d+$/)
    t.ok(compareOffsets(first.offset, second.offset) < 0, 'offsets increase')

    await eventually(() => seen.length >= 2, 'two deliveries')
    const { epoch } = await store.position('user:bob')
    t.same(seen.map(([channel, { channel: belongsTo, offset, text }]) => [channel, { channel: belongsTo, offset, text }]), [
      ['user:bob', { channel: 'user:bob', offset: first.offset, text: `{"n":1,"epoch":"${epoch}","prev":"0-0","offset":"${first.offset}"}` }],
      ['user:bob', { channel: 'user:bob', offset: second.offset, text: `{"n":2,"epoch":"${epoch}","prev":"${first.offset}","offset":"${second.offset}"}` }]
    ], 'frames are completed with their epoch, the offset before them and their own; other channels are not received')
    for (const [, frame] of seen) t.doesNotThrow(() => JSON.parse(frame.text))

    await store.unsubscribe('user:bob', handler)
    // A marker on another channel of the same subscriber, published after: once it is in, bob's frame would have been too.
    const markers: string[] = []
    await store.subscribe('user:marker', (_channel, frame) => { markers.push(frame.text) })
    await store.append({ channel: 'user:bob', framePrefix: '{"n":4,"epoch":"', sender: 'alice' })
    await store.append({ channel: 'user:marker', framePrefix: '{"n":5,"epoch":"', sender: 'alice' })
    await eventually(() => markers.length === 1, 'the marker')
    t.equal(seen.length, 2, 'nothing after unsubscribe')
  })

  t.test(`${backend}: a repeated (sender, mid) is acknowledged with the first offset and not published again`, async (t) => {
    const { store } = await openStore(t, backend)
    const seen: string[] = []
    await store.subscribe('user:bob', (_c, p) => { seen.push(p.text) })
    const first = await store.append({ channel: 'user:bob', framePrefix: '{"epoch":"', sender: 'alice', mid: 'm-1' })
    const again = await store.append({ channel: 'user:bob', framePrefix: '{"epoch":"', sender: 'alice', mid: 'm-1' })
    const otherSender = await store.append({ channel: 'user:bob', framePrefix: '{"epoch":"', sender: 'carol', mid: 'm-1' })
    t.same(again, { status: 'duplicate', offset: offsetOf(first) })
    t.equal(first.status, 'appended')
    t.not(offsetOf(otherSender), offsetOf(first), 'the same mid from another sender is another message')
    // A marker after them on the same channel: once it is in, a second copy of the first would have come before it.
    const marker = await store.append({ channel: 'user:bob', framePrefix: '{"marker":true,"epoch":"', sender: 'alice', mid: 'm-2' })
    await eventually(() => seen.some((text) => text.includes(offsetOf(marker))), 'the marker')
    t.equal(seen.length, 3, 'the first, the other sender\'s, the marker: the repeat was not published')
  })

  t.test(`${backend}: two handlers on one channel both receive; one leaving keeps the other`, async (t) => {
    const { store } = await openStore(t, backend)
    const a: string[] = []
    const b: string[] = []
    const ha = (_c: string, p: LiveFrame): void => { a.push(p.text) }
    const hb = (_c: string, p: LiveFrame): void => { b.push(p.text) }
    await Promise.all([store.subscribe('room:x', ha), store.subscribe('room:x', hb)])
    await store.append({ channel: 'room:x', framePrefix: '{"epoch":"', sender: 's' })
    await eventually(() => a.length === 1 && b.length === 1, 'both')
    await store.unsubscribe('room:x', ha)
    await store.append({ channel: 'room:x', framePrefix: '{"epoch":"', sender: 's' })
    await eventually(() => b.length === 2, 'the remaining handler')
    t.equal(a.length, 1)
  })
}
