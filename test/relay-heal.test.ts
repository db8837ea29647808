/**
 * A socket server heals a gap in its live delivery from history, without
 * closing a client: its subscriber connection goes through a proxy the test
 * cuts (its commands go to Redis directly), messages are stored meanwhile,
 * and once the proxy is restored every one of them reaches the server's
 * clients once, in order, followed by what was published during the healing
 * itself (held, on the store's seam, while the heal reads). A gap history no
 * longer holds still ends in 1012, and the client recovers by itself.
 */
import t from 'tap'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { createRedis } from '../plugins/redis/index.js'
import { RedisStore } from '../plugins/store/index.js'
import type { RelayGapListener, StoreLimits } from '../plugins/store/types.js'
import { TestClient, eventually } from './helpers/client.js'
import type { Frame } from './helpers/client.js'
import { heldStore } from './helpers/held-store.js'
import type { HeldStore } from './helpers/held-store.js'
import { cuttableProxy } from './helpers/proxy.js'
import WebSocket from 'ws'
import { createClient } from '../client/sdk/index.js'
import type { PresenceSnapshot, SwitchboardClient } from '../client/sdk/index.js'
import type { CuttableProxy } from './helpers/proxy.js'
import { sharedRedis } from './helpers/redis.js'
import { openStore, startRegistry, startSocket } from './helpers/stack.js'

interface Server {
  readonly app: FastifyInstance
  readonly proxy: CuttableProxy
  readonly held: HeldStore
  readonly gaps: string[]
}

/** Two socket servers whose subscriber connections go through proxies of their own; alice on one, bob on the other. */
async function setup (t: Test, limits: Partial<StoreLimits> = {}): Promise<{ servers: Server[], registryUrl: string, alice: TestClient, bob: TestClient, aliceOn: Server }> {
  const redis = await sharedRedis()
  const handle = await openStore(t, 'redis', limits)
  const servers: Server[] = []
  for (const id of ['s1', 's2']) {
    const proxy = await cuttableProxy(t, redis.port)
    // As switchboard-redis makes them (its options), the subscriber through the proxy.
    const client = createRedis(redis.url) as Redis
    const subscriber = createRedis(proxy.url) as Redis
    for (const connection of [client, subscriber]) connection.on('error', () => {}) // a cut is expected
    await Promise.all([client.connect(), subscriber.connect()])
    const store = new RedisStore({ client, subscriber, prefix: handle.prefix, limits })
    t.teardown(async () => {
      await store.close()
      client.disconnect()
      subscriber.disconnect()
    })
    const gaps: string[] = []
    const listener: RelayGapListener = {
      interrupted: (channels) => { gaps.push(`interrupted ${channels?.join(',') ?? 'all'}`) },
      resumed: (channels) => { gaps.push(`resumed ${channels?.join(',') ?? 'all'}`) }
    }
    store.onRelayGap(listener)
    const held = heldStore(store)
    servers.push({ app: await startSocket(t, handle, id, { store: held.store }), proxy, held, gaps })
  }
  const { url: registryUrl } = await startRegistry(t, handle)
  const alice = await TestClient.connect(registryUrl, 'alice')
  const bob = await TestClient.connect(registryUrl, 'bob')
  t.teardown(() => { alice.close(); bob.close() })
  const aliceOn = servers.find((s) => (s.app as unknown as { switchboardSocket: { serverId: string } }).switchboardSocket.serverId === alice.welcome?.server)
  if (aliceOn === undefined || alice.welcome?.server === bob.welcome?.server) throw new Error('alice and bob should be on different servers')
  return { servers, registryUrl, alice, bob, aliceOn }
}

function newSdk (registryUrl: string, user: string): SwitchboardClient {
  return createClient({ registryUrl, auth: { user }, WebSocket })
}

/** The `n` of alice's messages of a kind (room or DM), in arrival order, and whether their offsets only grow. */
function received (client: TestClient, channel: string): { ns: unknown[], ordered: boolean } {
  const frames = client.frames.filter((f) => f.type === 'message' && f.channel === channel && (f.data as { n?: number }).n !== undefined)
  const offsets = frames.map((f) => String(f.offset))
  const ordered = offsets.every((o, i) => i === 0 || compare(offsets[i - 1] ?? '', o) < 0)
  return { ns: frames.map((f) => (f.data as { n: number }).n), ordered }
}

function compare (a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number)
  const [bm = 0, bs = 0] = b.split('-').map(Number)
  return am - bm || as - bs
}

async function metric (app: FastifyInstance, name: string): Promise<number> {
  const text = (await app.inject({ url: '/metrics' })).body
  const line = text.split('\n').find((l) => l.startsWith(name))
  return Number(line?.split(' ')[1] ?? NaN)
}

t.test('a cut subscriber: what was stored meanwhile, and what came during the healing, reach the client once, in order, and it is never closed', async (t) => {
  const { bob, alice, aliceOn } = await setup(t)
  await alice.request({ type: 'join', room: 'r' })
  await bob.request({ type: 'join', room: 'r' })
  // Before the gap, one of each: the relay has a mark for both channels.
  await bob.request({ type: 'publish', channel: 'room:r', data: { n: 0 } })
  await bob.request({ type: 'send', to: 'alice', data: { n: 0 } })
  await eventually(() => received(alice, 'room:r').ns.length === 1 && received(alice, 'dm:alice:bob').ns.length === 1, 'the first two')

  aliceOn.proxy.cut()
  await eventually(() => aliceOn.gaps.includes('interrupted all'), 'the store to report the subscriber lost')
  for (let n = 1; n <= 20; n++) {
    await bob.request({ type: 'publish', channel: 'room:r', data: { n } })
    await bob.request({ type: 'send', to: 'alice', data: { n } })
  }
  // The heals read the room's position and alice's conversation list first: held there, more messages are
  // published, and arrive live meanwhile.
  const healing = [aliceOn.held.hold('position', 'room:r', 'before'), aliceOn.held.hold('conversations', 'alice', 'before')]
  aliceOn.proxy.restore()
  await Promise.all(healing.map(async (h) => { await h.reached }))
  t.ok(aliceOn.gaps.includes('resumed all'), 'the subscriber is back, and the heal under way')
  for (let n = 21; n <= 25; n++) {
    await bob.request({ type: 'publish', channel: 'room:r', data: { n } })
    await bob.request({ type: 'send', to: 'alice', data: { n } })
  }
  for (const h of healing) h.release()
  // Markers after everything: once they are in, any second copy would have come before them.
  await bob.request({ type: 'publish', channel: 'room:r', data: 'marker' })
  await bob.request({ type: 'send', to: 'alice', data: 'marker' })
  await eventually(() => alice.frames.filter((f: Frame) => f.data === 'marker').length === 2, 'both markers')

  const all = [...Array(26).keys()]
  const room = received(alice, 'room:r')
  const dm = received(alice, 'dm:alice:bob')
  t.same(room.ns, all, 'the room: every message once, in order')
  t.ok(room.ordered, 'its offsets only grow')
  t.same(dm.ns, all, 'the conversation: every message once, in order')
  t.ok(dm.ordered, 'its offsets only grow')
  t.equal(alice.ws.readyState, 1, 'alice was never closed')
  t.same(alice.frames.filter((f) => f.type === 'error'), [], 'and got no error')
  t.equal(await metric(aliceOn.app, 'switchboard_relay_gaps_total{outcome="healed"}'), 2, 'two gaps healed: her personal channel and the room')
  // At least the 40 stored while it was cut, and the 10 stored before the heals read; more if a later read (a second
  // report of the same gap, from the probe) took what had just been published too, which the gate let through once.
  const readBack = await metric(aliceOn.app, 'switchboard_relay_gap_messages_total')
  t.ok(readBack >= 50, `read back: ${readBack} messages, the 40 stored while the subscriber was cut and the 10 stored before the heals read among them`)
  t.equal(await metric(aliceOn.app, 'switchboard_relay_gaps_total{outcome="lost"}'), 0)
})

t.test('a gap history no longer holds (trimmed past what went out): 1012, and the client recovers by itself', async (t) => {
  const { bob, alice, aliceOn, registryUrl } = await setup(t, { historySize: 5 })
  const joined = await alice.request({ type: 'join', room: 'small' })
  await bob.request({ type: 'join', room: 'small' })
  aliceOn.proxy.cut()
  await eventually(() => aliceOn.gaps.includes('interrupted all'), 'the store to report the subscriber lost')
  for (let n = 1; n <= 20; n++) await bob.request({ type: 'publish', channel: 'room:small', data: { n } })
  aliceOn.proxy.restore()
  t.match(await alice.closed, { code: 1012, reason: 'relay interrupted; reconnect to recover' }, 'closed with 1012')
  t.equal(await metric(aliceOn.app, 'switchboard_relay_gaps_total{outcome="lost"}'), 1, 'one gap lost (the room)')
  // The client reconnects and asks for the room since its join: history says what it can no longer replay.
  const back = await TestClient.connect(registryUrl, 'alice')
  t.teardown(() => back.close())
  const reply = await back.request({ type: 'subscribe', channel: 'room:small', since: { offset: joined.offset, epoch: joined.epoch } })
  t.match(reply, { type: 'subscribed', recovered: false }, 'not recoverable: the client reloads its history')
})

t.test('presence events lost in a healed gap are made good: who is online in each room now, unasked', async (t) => {
  const { bob, alice, aliceOn, registryUrl } = await setup(t)
  await alice.request({ type: 'join', room: 'p' })
  await alice.request({ type: 'join', room: 'q' })
  await bob.request({ type: 'join', room: 'p' })
  // Alice with the SDK too, on her server: of two new connections on two equally loaded servers, one lands on each.
  const sdks = [newSdk(registryUrl, 'alice'), newSdk(registryUrl, 'alice')]
  t.teardown(() => { for (const c of sdks) c.close() })
  await Promise.all(sdks.map(async (c) => { await c.ready }))
  const sdk = sdks.find((c) => c.server === alice.welcome?.server)
  if (sdk === undefined) throw new Error('no SDK client of alice on her server')
  const snapshots: PresenceSnapshot[] = []
  sdk.on('presenceSnapshot', (snapshot) => { snapshots.push(snapshot) })
  const sdkGot: unknown[] = []
  sdk.on('message', (message) => { sdkGot.push(message.data) })
  // Its rooms resubscribed: a message in each reaches it.
  await bob.request({ type: 'publish', channel: 'room:p', data: 'p before' })
  await alice.request({ type: 'publish', channel: 'room:q', data: 'q before' })
  await eventually(() => sdkGot.includes('p before') && sdkGot.includes('q before'), 'the SDK client to listen to p and q')
  const dave = await TestClient.connect(registryUrl, 'dave')
  t.teardown(() => { dave.close() })

  aliceOn.proxy.cut()
  await eventually(() => aliceOn.gaps.includes('interrupted all'), 'the store to report the subscriber lost')
  // Their events are published while alice's server hears nothing: bob goes, dave comes.
  await bob.request({ type: 'leave', room: 'p' })
  await dave.request({ type: 'join', room: 'p' })
  aliceOn.proxy.restore()
  await eventually(() => alice.frames.some((f) => f.type === 'presence' && f.id === undefined && f.channel === 'room:p'), 'who is online in p, unasked')
  t.same(alice.frames.filter((f) => f.type === 'presence' && f.channel === 'room:p').map((f) => [...(f.users as string[])].sort()), [['alice', 'dave']],
    'bob, who left during the gap, is not in it; dave, who came, is')
  await eventually(() => alice.frames.some((f) => f.type === 'presence' && f.id === undefined && f.channel === 'room:q'), 'who is online in q, unasked')
  t.same(alice.frames.filter((f) => f.type === 'presence' && f.channel === 'room:q').map((f) => f.users), [['alice']], 'and in q')
  await dave.request({ type: 'publish', channel: 'room:p', data: 'marker' })
  await eventually(() => alice.frames.some((f) => f.data === 'marker'), 'the marker in p')
  // The SDK says so: the list that replaces the room's.
  await eventually(() => sdkGot.includes('marker'), 'the marker, to the SDK client')
  t.same(snapshots.filter((s) => s.channel === 'room:p').map((s) => [...s.users].sort()), [['alice', 'dave']], 'the SDK: presenceSnapshot of p')
  t.equal(alice.ws.readyState, 1, 'alice was never closed')
  t.same(alice.frames.filter((f) => f.type === 'error'), [], 'and got no error')
})
