/**
 * Blocking, on each store and across two socket servers: once one of two users
 * blocks the other, direct messages between them are refused both ways and
 * not stored; neither sees the other's typing (in their conversation or in a
 * room) or read receipts; the blocker's devices are told, the blocked user is
 * not; unblocking restores it all.
 */
import t from 'tap'
import { TestClient, eventually } from './helpers/client.js'
import type { Frame } from './helpers/client.js'
import { sdkClient } from './helpers/sdk.js'
import { BACKENDS, CLUSTER_BACKENDS, openStore, startStack } from './helpers/stack.js'

for (const backend of CLUSTER_BACKENDS) {
  t.test(`${backend}: the store refuses direct messages between users of whom one blocked the other, and stores none`, async (t) => {
    const { store } = await openStore(t, backend, { maxBlocks: 2 })
    const dm = (from: string, to: string, n: number): Parameters<typeof store.append>[0] => {
      const channel = from <= to ? `dm:${from}:${to}` : `dm:${to}:${from}`
      return { channel, framePrefix: `{"type":"message","channel":"${channel}","from":"${from}","data":${n},"ts":1,"epoch":"`, sender: from, participants: [from, to].sort(), recipient: to }
    }
    t.match(await store.append(dm('troll', 'alice', 1)), { status: 'appended' })
    t.equal(await store.setBlock('alice', 'troll', true), 'changed')
    t.equal(await store.setBlock('alice', 'troll', true), 'unchanged')
    t.same(await store.append(dm('troll', 'alice', 2)), { status: 'blocked' }, 'the blocked user\'s messages are refused')
    t.same(await store.append(dm('alice', 'troll', 3)), { status: 'blocked' }, 'and the blocker\'s to them')
    t.match(await store.append(dm('bob', 'alice', 4)), { status: 'appended' }, 'others are not affected')
    t.same((await store.history('dm:alice:troll', undefined, 10)).map((f) => JSON.parse(f.text).data), [1], 'nothing refused was stored')
    t.same(await store.blocks('alice'), { blocked: ['troll'], blockedBy: [] })
    t.same(await store.blocks('troll'), { blocked: [], blockedBy: ['alice'] })
    t.equal(await store.blockedBetween('troll', 'alice'), true)
    t.equal(await store.blockedBetween('alice', 'troll'), true)
    t.equal(await store.blockedBetween('alice', 'bob'), false)
    t.equal(await store.setBlock('alice', 'b2', true), 'changed')
    t.equal(await store.setBlock('alice', 'b3', true), 'limit', 'at most maxBlocks')
    t.equal(await store.setBlock('alice', 'troll', false), 'changed')
    t.match(await store.append(dm('troll', 'alice', 5)), { status: 'appended' }, 'unblocked: messages flow again')
    t.same(await store.blocks('troll'), { blocked: [], blockedBy: [] })
  })

  t.test(`${backend}: a block across servers: DMs refused, typing and receipts hidden both ways, the blocker's devices told`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const alice = await TestClient.connect(stack.registryUrl, 'alice')
    const troll = await TestClient.connect(stack.registryUrl, 'troll')
    const laptop = await TestClient.connect(stack.registryUrl, 'alice')
    const bob = await TestClient.connect(stack.registryUrl, 'bob')
    t.teardown(() => { alice.close(); troll.close(); laptop.close(); bob.close() })
    t.not(alice.welcome?.server, troll.welcome?.server, 'alice and troll are on different servers')
    for (const client of [alice, troll, bob]) await client.request({ type: 'join', room: 'r' })
    const hello = await troll.request({ type: 'send', to: 'alice', data: 'hello' })
    await alice.next((f) => f.type === 'message' && f.offset === hello.offset)

    t.match(await alice.request({ type: 'block', user: 'troll' }), { type: 'blocked', user: 'troll', blocked: true })
    t.match(await laptop.next((f) => f.type === 'blocked' && f.id === undefined), { user: 'troll', blocked: true }, 'alice\'s other device is told')
    t.match(await troll.request({ type: 'send', to: 'alice', data: 'hey' }), { type: 'error', code: 'FORBIDDEN', reason: 'BLOCKED' })
    t.match(await alice.request({ type: 'send', to: 'troll', data: 'go away' }), { type: 'error', code: 'FORBIDDEN', reason: 'BLOCKED' }, 'both ways')
    t.match(await troll.request({ type: 'edit', channel: 'dm:alice:troll', offset: hello.offset, data: 'edited' }), { type: 'error', code: 'FORBIDDEN', reason: 'BLOCKED' },
      'an edit is a message too')
    t.same(((await alice.request({ type: 'history', channel: 'dm:alice:troll' })).messages as Frame[]).map((m) => m.data), ['hello'], 'nothing more is stored')
    t.same((await alice.request({ type: 'blocks' })).users, ['troll'])

    // Typing and receipts: in the room and the conversation, neither way. A marker from bob after them says when all has arrived.
    await troll.request({ type: 'typing', channel: 'room:r' })
    await troll.request({ type: 'typing', channel: 'dm:alice:troll' })
    await alice.request({ type: 'typing', channel: 'room:r' })
    await alice.request({ type: 'read', channel: 'dm:alice:troll', offset: hello.offset })
    await bob.next((f) => f.type === 'typing' && f.user === 'troll')
    await bob.next((f) => f.type === 'typing' && f.user === 'alice')
    const marker = await bob.request({ type: 'publish', channel: 'room:r', data: 'marker' })
    await alice.next((f) => f.offset === marker.offset)
    await troll.next((f) => f.offset === marker.offset)
    t.same(alice.frames.filter((f) => f.type === 'typing' && f.user === 'troll'), [], 'alice sees none of troll\'s typing')
    t.same(troll.frames.filter((f) => (f.type === 'typing' || f.type === 'receipt') && f.user === 'alice'), [], 'troll sees none of alice\'s typing or reading')
    t.same(troll.pending('blocked'), [], 'troll is not told he was blocked')

    t.match(await alice.request({ type: 'unblock', user: 'troll' }), { type: 'blocked', user: 'troll', blocked: false })
    t.match(await troll.request({ type: 'send', to: 'alice', data: 'sorry' }), { type: 'ack' }, 'unblocked, messages flow again')
    await troll.request({ type: 'typing', channel: 'room:r', active: false })
    await troll.request({ type: 'publish', channel: 'room:r', data: 'x' })
    await troll.request({ type: 'typing', channel: 'room:r' })
    t.match(await alice.next((f) => f.type === 'typing' && f.user === 'troll' && f.active === true), { channel: 'room:r' }, 'and typing is seen again')
    t.match(await alice.request({ type: 'block', user: 'alice' }), { type: 'error', code: 'FORBIDDEN' }, 'not oneself')
    t.match(await alice.request({ type: 'block', user: 'not a name' }), { type: 'error', code: 'INVALID_FRAME' })
  })
}

for (const backend of BACKENDS) {
  t.test(`${backend}: the SDK blocks and unblocks, and tells the user's other devices`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const phone = await sdkClient(t, stack.registryUrl, 'alice')
    const laptop = await sdkClient(t, stack.registryUrl, 'alice')
    const troll = await sdkClient(t, stack.registryUrl, 'troll')
    const changes: Array<{ user: string, blocked: boolean }> = []
    laptop.client.on('blocked', (change) => { changes.push(change) })
    await phone.client.block('troll')
    await eventually(() => changes.length === 1, 'the laptop hears of it')
    t.same(changes[0], { user: 'troll', blocked: true })
    t.same(await laptop.client.blocks(), ['troll'])
    await t.rejects(troll.client.send('alice', 'hi'), { code: 'FORBIDDEN' })
    await phone.client.unblock('troll')
    await eventually(() => changes.length === 2, 'and of the unblock')
    await troll.client.send('alice', 'hi')
  })
}
