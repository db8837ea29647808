/**
 * The end-to-end flow on both stores: allocate, connect, direct messages
 * between users on different socket servers, over bare websockets.
 */
import t from 'tap'
import { TestClient } from './helpers/client.js'
import { CLUSTER_BACKENDS, startStack } from './helpers/stack.js'

for (const backend of CLUSTER_BACKENDS) {
  t.test(`${backend}: a direct message crosses socket servers exactly once`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const alice = await TestClient.connect(stack.registryUrl, 'alice')
    const bob = await TestClient.connect(stack.registryUrl, 'bob')
    t.teardown(() => { alice.close(); bob.close() })
    const alice2 = await TestClient.connect(stack.registryUrl, 'alice')
    t.teardown(() => alice2.close())

    const ack = await alice.request({ type: 'send', to: 'bob', data: { text: 'hello bob' }, mid: 'a-1' })
    t.equal(ack.type, 'ack')
    t.equal(ack.channel, 'dm:alice:bob', 'stored in the conversation of the pair')
    t.match(ack.offset, /^\d+-\d+$/)

    const received = await bob.next((f) => f.type === 'message')
    t.match(received, { channel: 'dm:alice:bob', from: 'alice', to: 'bob', mid: 'a-1', data: { text: 'hello bob' }, offset: ack.offset })
    t.type(received.ts, 'number')
    t.match(received.epoch, /^[A-Za-z0-9_-]{4,32}$/, 'with its channel\'s epoch')

    t.same(await alice2.next((f) => f.type === 'message'), received, 'the sender\'s other connection gets the same frame')
    t.same(await alice.next((f) => f.type === 'message'), received, 'so does the sending connection')

    // Exactly once: a second message is the marker that everything before it has arrived.
    const marker = await bob.request({ type: 'send', to: 'alice', data: 'marker' })
    t.equal(marker.channel, 'dm:alice:bob', 'a reply goes to the same conversation')
    for (const client of [alice, alice2, bob]) {
      t.match(await client.next((f) => f.type === 'message'), { data: 'marker', offset: marker.offset })
      t.same(client.pending('message'), [], 'the first message came once')
    }
  })

  t.test(`${backend}: users land on different servers and the relay spans them`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const alice = await TestClient.connect(stack.registryUrl, 'alice')
    const bob = await TestClient.connect(stack.registryUrl, 'bob')
    t.teardown(() => { alice.close(); bob.close() })
    const servers = [alice.ws.url, bob.ws.url].map((u) => new URL(u).port)
    t.not(servers[0], servers[1], 'alice and bob are on different socket servers')

    for (let i = 0; i < 20; i++) alice.send({ type: 'send', id: i + 100, to: 'bob', data: { n: i } })
    for (let i = 0; i < 20; i++) {
      const frame = await bob.next((f) => f.type === 'message')
      t.same(frame.data, { n: i }, `message ${i} in order`)
    }
    const reply = await bob.request({ type: 'send', to: 'alice', data: 'hi back' })
    t.equal(reply.type, 'ack')
    const back = await alice.next((f) => f.type === 'message' && f.from === 'bob')
    t.equal(back.data, 'hi back')
  })

  t.test(`${backend}: a message to a user who is offline is acknowledged`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 1 })
    const alice = await TestClient.connect(stack.registryUrl, 'alice')
    t.teardown(() => alice.close())
    const ack = await alice.request({ type: 'send', to: 'nobody', data: {} })
    t.equal(ack.type, 'ack')
    t.equal(ack.channel, 'dm:alice:nobody')
    const later = await TestClient.connect(stack.registryUrl, 'nobody')
    t.teardown(() => later.close())
    const list = await later.request({ type: 'conversations' })
    t.match(list.conversations, [{ channel: 'dm:alice:nobody', offset: ack.offset }], 'the recipient finds it in their conversation list')
    const page = await later.request({ type: 'history', channel: 'dm:alice:nobody' })
    t.match(page.messages, [{ from: 'alice', to: 'nobody', offset: ack.offset }], 'and in the conversation\'s history')
  })
}
