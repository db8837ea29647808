/**
 * The Store contract, run against both implementations.
 */
import t from 'tap'
import { BACKENDS, openStore } from './helpers/stack.js'
import { eventually } from './helpers/client.js'

const server = (id: string, extra: Partial<{ capacity: number, draining: boolean, url: string }> = {}) =>
  ({ id, url: `ws://h/${id}`, capacity: 10, draining: false, startedAt: 1700000000000, ...extra })

for (const backend of BACKENDS) {
  t.test(`${backend}: fleet bookkeeping`, async (t) => {
    const { store } = await openStore(t, backend)
    await store.ping()
    t.same(await store.listServers(), [])
    t.equal(await store.pickServer(5000), null)

    await store.heartbeat(server('a'), 3)
    await store.heartbeat(server('b'), 1)
    await store.heartbeat(server('a'), 0) // a refresh does not reset the count
    const listed = await store.listServers()
    t.match(listed, [{ id: 'b', load: 1, url: 'ws://h/b', capacity: 10, draining: false, startedAt: 1700000000000 }, { id: 'a', load: 3 }])
    t.ok(listed.every((s) => typeof s.lastHeartbeat === 'number' && Math.abs((s.lastHeartbeat ?? 0) - Date.now()) < 5000), 'heartbeat times are recent')
    t.match(await store.pickServer(5000), { id: 'b', load: 1, url: 'ws://h/b' })

    await store.adjustLoad('b', 5)
    t.match(await store.pickServer(5000), { id: 'a', load: 3 })
    await store.adjustLoad('a', -1)
    t.equal((await store.listServers()).find((s) => s.id === 'a')?.load, 2)

    await store.heartbeat(server('a', { draining: true }), 0)
    t.match(await store.pickServer(5000), { id: 'b' }, 'draining is skipped')
    await store.heartbeat(server('b', { capacity: 6 }), 0)
    t.equal(await store.pickServer(5000), null, 'at capacity is skipped')

    await store.deregister('a')
    await store.deregister('b')
    t.same(await store.listServers(), [])
    await store.adjustLoad('a', -1)
    t.same(await store.listServers(), [], 'a late decrement does not resurrect a deregistered server')
  })

  t.test(`${backend}: append publishes to subscribers and returns increasing offsets`, async (t) => {
    const { store } = await openStore(t, backend)
    const seen: Array<[string, string]> = []
    const handler = (channel: string, payload: string): void => { seen.push([channel, payload]) }
    await store.subscribe('user:bob', handler)
    await store.subscribe('user:bob', handler) // idempotent per handler

    const first = await store.append({ channel: 'user:bob', framePrefix: '{"n":1,"offset":"', sender: 'alice' })
    const second = await store.append({ channel: 'user:bob', framePrefix: '{"n":2,"offset":"', sender: 'alice' })
    await store.append({ channel: 'user:carol', framePrefix: '{"n":3,"offset":"', sender: 'alice' })
    t.match(first.offset, /^\d+-\d+$/)
    t.notOk(first.duplicate)
    t.ok(compareOffsets(first.offset, second.offset) < 0, 'offsets increase')

    await eventually(() => seen.length >= 2, 2000, 'two deliveries')
    t.same(seen, [
      ['user:bob', `{"n":1,"offset":"${first.offset}"}`],
      ['user:bob', `{"n":2,"offset":"${second.offset}"}`]
    ], 'frames are completed with their offset; other channels are not received')
    for (const [, payload] of seen) t.doesNotThrow(() => JSON.parse(payload))

    await store.unsubscribe('user:bob', handler)
    await store.append({ channel: 'user:bob', framePrefix: '{"n":4,"offset":"', sender: 'alice' })
    await new Promise((resolve) => setTimeout(resolve, 100))
    t.equal(seen.length, 2, 'nothing after unsubscribe')
  })

  t.test(`${backend}: a repeated (sender, mid) is acknowledged with the first offset and not published again`, async (t) => {
    const { store } = await openStore(t, backend)
    const seen: string[] = []
    await store.subscribe('user:bob', (_c, p) => { seen.push(p) })
    const first = await store.append({ channel: 'user:bob', framePrefix: '{"offset":"', sender: 'alice', mid: 'm-1' })
    const again = await store.append({ channel: 'user:bob', framePrefix: '{"offset":"', sender: 'alice', mid: 'm-1' })
    const otherSender = await store.append({ channel: 'user:bob', framePrefix: '{"offset":"', sender: 'carol', mid: 'm-1' })
    t.same(again, { offset: first.offset, duplicate: true })
    t.not(otherSender.offset, first.offset, 'the same mid from another sender is another message')
    await eventually(() => seen.length >= 2, 2000, 'deliveries')
    await new Promise((resolve) => setTimeout(resolve, 100))
    t.equal(seen.length, 2)
  })

  t.test(`${backend}: two handlers on one channel both receive; one leaving keeps the other`, async (t) => {
    const { store } = await openStore(t, backend)
    const a: string[] = []
    const b: string[] = []
    const ha = (_c: string, p: string): void => { a.push(p) }
    const hb = (_c: string, p: string): void => { b.push(p) }
    await Promise.all([store.subscribe('room:x', ha), store.subscribe('room:x', hb)])
    await store.append({ channel: 'room:x', framePrefix: '{"offset":"', sender: 's' })
    await eventually(() => a.length === 1 && b.length === 1, 2000, 'both')
    await store.unsubscribe('room:x', ha)
    await store.append({ channel: 'room:x', framePrefix: '{"offset":"', sender: 's' })
    await eventually(() => b.length === 2, 2000, 'the remaining handler')
    t.equal(a.length, 1)
  })
}

function compareOffsets (x: string, y: string): number {
  const [xm = 0, xs = 0] = x.split('-').map(Number)
  const [ym = 0, ys = 0] = y.split('-').map(Number)
  return xm - ym || xs - ys
}
