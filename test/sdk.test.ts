/**
 * The client SDK in Node: the whole flow through it, and what it does when
 * the server under it goes away (in-process on both stores, and a real
 * `kill -9` of a socket server process over Redis).
 */
import t from 'tap'
import WebSocket from 'ws'
import { TestClient, eventually, sleep } from './helpers/client.js'
import { settled } from './helpers/clock.js'
import { startProcessCluster } from './helpers/processes.js'
import { restartableRedis, sharedRedis, uniquePrefix } from './helpers/redis.js'
import { sdkClient } from './helpers/sdk.js'
import { BACKENDS, startStack } from './helpers/stack.js'
import { SwitchboardError, compareOffsets, createClient, dmChannel } from '../client/sdk/index.js'
import type { FetchLike, PresenceEvent, SubscribeFailure, WebSocketConstructor } from '../client/sdk/index.js'

for (const backend of BACKENDS) {
  t.test(`${backend}: direct messages, rooms, history and presence through the SDK`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const alice = await sdkClient(t, stack.registryUrl, 'alice')
    const bob = await sdkClient(t, stack.registryUrl, 'bob')
    t.equal(alice.client.user, 'alice')
    t.equal(alice.client.state, 'connected')
    t.same([alice.client.server, bob.client.server].sort(), ['s1', 's2'], 'server names the socket server of the welcome')

    const ack = await alice.client.send('bob', { text: 'hi bob' })
    t.equal(ack.channel, 'dm:alice:bob')
    t.equal(dmChannel('bob', 'alice'), ack.channel, 'dmChannel names the pair\'s conversation')
    await eventually(() => bob.messages.length === 1, 'bob gets the DM')
    t.match(bob.messages[0], { channel: 'dm:alice:bob', from: 'alice', to: 'bob', data: { text: 'hi bob' }, offset: ack.offset })
    await eventually(() => alice.messages.length === 1, 'alice gets it too')
    t.same(alice.messages[0], bob.messages[0])
    t.match(await bob.client.conversations(), [{ channel: 'dm:alice:bob', with: 'alice', offset: ack.offset }], 'bob\'s conversation list')
    t.match(await alice.client.history('dm:alice:bob'), [{ from: 'alice', data: { text: 'hi bob' } }])

    const events: PresenceEvent[] = []
    alice.client.on('presence', (e) => { events.push(e) })
    await alice.client.join('general')
    await bob.client.join('general')
    await eventually(() => events.some((e) => e.type === 'join' && e.user === 'bob'), 'presence event')
    t.same(await alice.client.presence('room:general'), ['alice', 'bob'])
    await bob.client.publish('general', 'hello room')
    await eventually(() => alice.messages.some((m) => m.channel === 'room:general'), 'room message')
    const history = await alice.client.history('room:general')
    t.match(history, [{ from: 'bob', data: 'hello room' }])
    t.same(alice.client.rooms, ['general'])

    await t.rejects(alice.client.publish('elsewhere', 'x'), { code: 'FORBIDDEN' }, 'errors reject with their code')
    await t.rejects(alice.client.history('user:bob'), SwitchboardError)
  })

  t.test(`${backend}: the SDK reconnects to another server and misses nothing`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const bob = await sdkClient(t, stack.registryUrl, 'bob')
    const bobServer = stack.sockets.find((s) => s.switchboardSocket.connections === 1)
    t.ok(bobServer, "found bob's server")
    await bob.client.join('team')
    const alice = await sdkClient(t, stack.registryUrl, 'alice')
    await alice.client.join('team')

    // Bob's server goes away; alice keeps talking meanwhile.
    const closing = bobServer?.close()
    const sent: Array<Promise<unknown>> = []
    for (let n = 0; n < 30; n++) {
      sent.push(alice.client.send('bob', { n }))
      sent.push(alice.client.publish('team', { n }))
    }
    await closing
    await Promise.all(sent)
    await eventually(() => bob.messages.length >= 60, () => `bob got ${bob.messages.length}/60`)
    // A marker after everything: once bob has it, any duplicate would have come before it.
    await alice.client.publish('team', 'marker')
    await eventually(() => bob.messages.some((m) => m.data === 'marker'), 'the marker')
    const dms = bob.messages.filter((m) => m.channel === 'dm:alice:bob').map((m) => (m.data as { n: number }).n)
    const room = bob.messages.filter((m) => m.channel === 'room:team' && m.data !== 'marker').map((m) => (m.data as { n: number }).n)
    t.same(dms, [...Array(30).keys()], 'every direct message once, in order')
    t.same(room, [...Array(30).keys()], 'every room message once, in order')
    t.ok(bob.states.includes('reconnecting'), 'bob went through reconnecting')
    t.equal(bob.client.state, 'connected')
  })
}

for (const backend of BACKENDS) {
  t.test(`${backend}: a connection lost without a close frame: the next allocation avoids that server while another has room`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const asked: string[] = []
    const recording: FetchLike = async (url, init) => {
      asked.push(url)
      return await fetch(url, init)
    }
    const alice = await sdkClient(t, stack.registryUrl, 'alice', { fetch: recording })
    const bob = await sdkClient(t, stack.registryUrl, 'bob')
    t.same([alice.client.server, bob.client.server], ['s1', 's2'])
    t.notMatch(asked[0], /avoid/, 'the first allocation avoids nothing')
    // s1 drops alice's TCP connection (1006 at the client): s1 is alive and now the least loaded, so only the hint keeps her off it.
    for (const socket of stack.sockets[0]?.websocketServer.clients ?? []) socket.terminate()
    await eventually(() => asked.length === 2 && alice.client.state === 'connected', 'alice back')
    t.match(asked[1], /[?&]avoid=s1(&|$)/, 'the lost server is named')
    t.equal(alice.client.server, 's2', 'and she is on the other one')
    // A clean close by the server (1001, shutting down) is no reason to avoid it.
    await stack.sockets[1]?.close()
    await eventually(() => asked.length >= 3 && alice.client.state === 'connected', 'alice back again')
    t.notMatch(asked.slice(2).join(' '), /avoid/, 'a server that said goodbye is not avoided')
    t.equal(alice.client.server, 's1')
  })
}

t.test('compareOffsets orders offsets as numbers', async (t) => {
  t.ok(compareOffsets('9-0', '10-0') < 0, 'not as strings')
  t.ok(compareOffsets('10-2', '10-10') < 0)
  t.equal(compareOffsets('5-1', '5-1'), 0)
  t.ok(compareOffsets('0-1', '0-0') > 0)
})

t.test('close() before the first welcome rejects ready and connects nothing', async (t) => {
  const stack = await startStack(t, 'memory', { sockets: 1 })
  // The SDK's allocation is answered only after close(): what it does with it then is the point.
  const allocation: unknown = await (await fetch(`${stack.registryUrl}/allocate?user=shy`)).json()
  let answer: () => void = () => {}
  const answered = new Promise<void>((resolve) => { answer = resolve })
  let read = false
  const fetchAfterClose: FetchLike = async () => {
    await answered
    return { status: 200, headers: { get: () => null }, json: async () => { read = true; return allocation } }
  }
  let opened = 0
  class CountedWebSocket extends WebSocket {
    constructor (url: string) {
      super(url)
      opened++
    }
  }
  const client = createClient({ registryUrl: stack.registryUrl, auth: { user: 'shy' }, WebSocket: CountedWebSocket as unknown as WebSocketConstructor, fetch: fetchAfterClose })
  client.close()
  await t.rejects(client.ready, { code: 'CLOSED' })
  answer()
  await eventually(() => read, 'the SDK to read its allocation')
  await settled() // what the SDK does with it runs in the promise callbacks after json(), before this turn ends
  t.equal(opened, 0, 'no connection was opened')
  t.equal(stack.sockets[0]?.switchboardSocket.connections, 0, 'none is open on the server')
  t.equal(client.state, 'closed')
})

t.test('a refused join does not become a room the SDK resubscribes', async (t) => {
  const stack = await startStack(t, 'memory', { sockets: 1, socket: { authorizeJoin: (_user, room) => room !== 'vip' } })
  const { client } = await sdkClient(t, stack.registryUrl, 'guest')
  await t.rejects(client.join('vip'), { code: 'FORBIDDEN' })
  await client.join('lobby')
  t.same(client.rooms, ['lobby'])
})

t.test('joining and leaving a room on one device: the other device\'s client follows and says so (across servers)', async (t) => {
  const stack = await startStack(t, 'redis', { sockets: 2 })
  const phone = await sdkClient(t, stack.registryUrl, 'bob')
  const laptop = await sdkClient(t, stack.registryUrl, 'bob')
  t.not(phone.client.server, laptop.client.server, 'the two devices are on different servers')
  const joined = new Promise<string>((resolve) => laptop.client.on('joined', resolve))
  let phoneJoinedEvents = 0
  phone.client.on('joined', () => { phoneJoinedEvents++ })
  await phone.client.join('crew')
  t.equal(await joined, 'crew', 'joining on the phone: the laptop is told')
  await eventually(() => laptop.client.rooms.includes('crew'), 'the laptop to listen to the room')
  await phone.client.publish('crew', { text: 'from the phone' })
  await eventually(() => laptop.messages.some((m) => m.channel === 'room:crew'), 'the laptop to get the room\'s messages')
  t.equal(phoneJoinedEvents, 0, 'the phone that joined gets its promise, not an event')
  const left = new Promise<string>((resolve) => laptop.client.on('left', resolve))
  let phoneEvents = 0
  phone.client.on('left', () => { phoneEvents++ })
  await phone.client.leave('crew')
  t.equal(await left, 'crew', 'the laptop is told')
  t.same(laptop.client.rooms, [], 'and no longer resubscribes the room')
  // The leave reached the laptop on bob's personal channel, so it was published there; a direct message from bob,
  // on the same channel after it, reaches the phone after the leave did.
  await phone.client.send('carol', 'marker')
  await eventually(() => phone.messages.some((m) => m.data === 'marker'), 'the phone to get its own message back')
  t.equal(phoneEvents, 0, 'the device that left gets its promise, not an event')
})

t.test('refused authentication rejects ready and stops', async (t) => {
  const stack = await startStack(t, 'memory', { sockets: 1 })
  const client = createClient({ registryUrl: stack.registryUrl, auth: { user: 'not valid!' }, WebSocket: (await import('ws')).default as never })
  t.teardown(() => client.close())
  await t.rejects(client.ready, { code: 'UNAUTHORIZED' })
  t.equal(client.state, 'closed')
})

t.test('kill -9 of a socket server process: the SDK recovers, resends, and presence forgets the dead', async (t) => {
  const redis = await sharedRedis()
  const { registryUrl, sockets } = await startProcessCluster(t, {
    // Evicted after 3 s of silence: long enough that a busy machine's pauses evict no live server.
    redisUrl: redis.url, prefix: uniquePrefix(), idPrefix: 'k', env: { HEARTBEAT_TIMEOUT_MS: '3000', LOG_LEVEL: 'warn' }
  })

  // k1: alice and dave; k2: bob (least loaded, ties by id).
  const alice = await sdkClient(t, registryUrl, 'alice')
  const bob = await sdkClient(t, registryUrl, 'bob')
  const dave = await TestClient.connect(registryUrl, 'dave')
  t.teardown(() => dave.close())
  t.equal(dave.welcome?.server, 'k1')
  await alice.client.join('ops')
  await bob.client.join('ops')
  await dave.request({ type: 'join', room: 'ops' })
  t.same(await bob.client.presence('room:ops'), ['alice', 'bob', 'dave'])

  // Alice sends a stream of messages; k1, her server, is killed in the middle of it.
  const sent: Array<Promise<unknown>> = []
  for (let n = 0; n < 40; n++) {
    sent.push(alice.client.send('bob', { n }))
    if (n === 15) sockets[0]?.child.kill('SIGKILL')
    await sleep(5) // pacing: some of the messages are sent while the SDK finds out and reconnects
  }
  await Promise.all(sent)
  await eventually(() => bob.messages.filter((m) => m.channel === 'dm:alice:bob').length >= 40, () => `bob got ${bob.messages.length}/40`)
  await alice.client.send('bob', 'marker')
  await eventually(() => bob.messages.some((m) => m.data === 'marker'), 'the marker')
  const got = bob.messages.filter((m) => m.channel === 'dm:alice:bob' && m.data !== 'marker').map((m) => (m.data as { n: number }).n)
  t.same(got, [...Array(40).keys()], 'every message exactly once, in order, despite the kill')
  t.ok(alice.states.includes('reconnecting'), 'alice reconnected')
  t.equal(alice.client.server, 'k2', 'alice is on the surviving server now')

  // Dave was on the killed server and never came back: presence forgets him once his server is past the heartbeat timeout.
  await eventually(async () => !(await bob.client.presence('room:ops')).includes('dave'), 'dave gone from presence')
  t.same(await bob.client.presence('room:ops'), ['alice', 'bob'])
})

t.test('a Redis master restarted empty: the SDK reports each room it could not resubscribe (subscribeFailed), with the code', async (t) => {
  const redis = await restartableRedis(t)
  const stack = await startStack(t, 'redis', { sockets: 1, redisUrl: redis.url })
  const alice = await sdkClient(t, stack.registryUrl, 'alice')
  await alice.client.join('kept')
  await alice.client.join('also')
  const failures: SubscribeFailure[] = []
  const lefts: string[] = []
  alice.client.on('subscribeFailed', (failure) => { failures.push(failure) })
  alice.client.on('left', (room) => { lefts.push(room) })
  const resets: string[] = []
  alice.client.on('reset', (channel) => { resets.push(channel) })

  await redis.restartEmpty()
  // The socket server's subscriber reconnects (a relay gap): its clients are closed and come back to an empty store.
  await eventually(() => failures.length === 2, 20_000, () => `both rooms reported (${JSON.stringify(failures)})`)
  t.same(failures.map((f) => [f.channel, f.room, f.code]).sort(), [['room:also', 'also', 'FORBIDDEN'], ['room:kept', 'kept', 'FORBIDDEN']], 'each room, with FORBIDDEN: its membership is gone')
  t.match(failures[0]?.message, /not a member/)
  t.same(alice.client.rooms, [], 'and no longer resubscribed')
  t.same(lefts, [], 'not reported as left on another device')
  t.same(resets, [], 'no reset: her personal channel never had a history to lose (reading it creates none)')
  await alice.client.join('kept')
  t.same(alice.client.rooms, ['kept'], 'joining again works')
})

for (const backend of BACKENDS) {
  t.test(`${backend}: a membership lost while connected (a failover took the join): the first refused publish reports the room, and the server stops sending it`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 1 })
    const alice = await sdkClient(t, stack.registryUrl, 'alice')
    const bob = await sdkClient(t, stack.registryUrl, 'bob')
    await alice.client.join('lost')
    await bob.client.join('lost')
    const failures: SubscribeFailure[] = []
    alice.client.on('subscribeFailed', (failure) => { failures.push(failure) })
    // What a failover can do to a join that was never replicated: the store forgets it, and nobody is told.
    await stack.handle.store.leave('lost', 'alice')

    const refused = await alice.client.publish('lost', 'still here?').then(() => undefined, (err: unknown) => err)
    t.match(refused, { code: 'FORBIDDEN', message: /alice is not a member of room:lost/ }, 'the publish is refused')
    t.same(failures.map((f) => [f.channel, f.room, f.code]), [['room:lost', 'lost', 'FORBIDDEN']], 'and the room reported, with its code')
    t.same(alice.client.rooms, [], 'no longer held (nor resubscribed after a reconnect)')
    await eventually(async () => !(await bob.client.presence('room:lost')).includes('alice'), 'the server to stop counting her in the room')

    // The room's messages no longer reach her: a direct message sent after one in the room is her marker.
    await bob.client.publish('lost', 'not for alice')
    await bob.client.send('alice', 'marker')
    await eventually(() => alice.messages.some((m) => m.data === 'marker'), 'the marker')
    t.notOk(alice.messages.some((m) => m.data === 'not for alice'), 'nothing of the room after it')
    await alice.client.join('lost')
    t.ok(await alice.client.publish('lost', 'back'), 'joining again works')
  })
}
