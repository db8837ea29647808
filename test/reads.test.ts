/**
 * Read state over the protocol, across two socket servers on each store: a
 * `read` on one device clears the badge on the user's other devices at once
 * (any server), the other members get a receipt, `receipts` says how far each
 * member has read, and the conversation list carries rooms, unread counts,
 * read positions and newest messages; a long list comes in parts. The SDK's
 * side of it.
 */
import t from 'tap'
import { TestClient, eventually } from './helpers/client.js'
import type { Frame } from './helpers/client.js'
import { sdkClient } from './helpers/sdk.js'
import { BACKENDS, CLUSTER_BACKENDS, startStack } from './helpers/stack.js'
import { ReadMarks } from '../client/sdk/reads.js'
import type { ReadState, Receipt } from '../client/sdk/index.js'

const list = async (client: TestClient, extra: Record<string, unknown> = {}): Promise<Frame[]> =>
  (await client.request({ type: 'conversations', ...extra })).conversations as Frame[]

const entry = async (client: TestClient, channel: string): Promise<Frame | undefined> => (await list(client)).find((c) => c.channel === channel)

for (const backend of CLUSTER_BACKENDS) {
  t.test(`${backend}: a read on one device clears the badge on the others, and the other members see a receipt`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const phone = await TestClient.connect(stack.registryUrl, 'alice')
    // The registry gives the least loaded server: the second connection goes to the other one.
    const laptop = await TestClient.connect(stack.registryUrl, 'alice')
    const bob = await TestClient.connect(stack.registryUrl, 'bob')
    t.teardown(() => { phone.close(); laptop.close(); bob.close() })
    t.not(phone.welcome?.server, laptop.welcome?.server, 'alice\'s two devices are on different servers')
    t.ok(Number(phone.welcome?.protocol) >= 4, 'the welcome says the protocol has read state')

    const ch = 'dm:alice:bob'
    const sent: Frame[] = []
    for (const text of ['one', 'two', 'three']) sent.push(await bob.request({ type: 'send', to: 'alice', data: { text } }))
    await laptop.next((f) => f.type === 'message' && f.offset === sent[2]?.offset)
    const before = await entry(laptop, ch)
    t.match(before, { channel: ch, unread: 3, offset: sent[2]?.offset, last: { type: 'message', from: 'bob', data: { text: 'three' }, offset: sent[2]?.offset } },
      'the list: three unread, and the newest message')
    t.equal(before?.read, undefined, 'no read position yet')

    t.match(await phone.request({ type: 'read', channel: ch, offset: sent[1]?.offset }), { type: 'read', channel: ch, offset: sent[1]?.offset, unread: 1 })
    t.match(await laptop.next((f) => f.type === 'read' && f.id === undefined), { channel: ch, offset: sent[1]?.offset, unread: 1 },
      'the other device, on the other server, is told at once')
    t.match(await bob.next((f) => f.type === 'receipt'), { channel: ch, user: 'alice', read: { offset: sent[1]?.offset } }, 'bob sees how far alice read')
    t.same((await bob.request({ type: 'receipts', channel: ch })).receipts, [{ user: 'alice', offset: sent[1]?.offset }])

    t.match(await phone.request({ type: 'read', channel: ch, offset: sent[0]?.offset }), { offset: sent[1]?.offset, unread: 1 }, 'a position never goes back')
    t.match(await phone.request({ type: 'read', channel: ch, offset: sent[2]?.offset }), { offset: sent[2]?.offset, unread: 0 })
    t.match(await laptop.next((f) => f.type === 'read' && f.id === undefined), { offset: sent[2]?.offset, unread: 0 },
      'the next news is the next move: the one that did not move was not told')
    t.match(await entry(laptop, ch), { read: sent[2]?.offset, unread: 0 }, 'the list says the same on every device')
    t.match(await entry(bob, ch), { unread: 0, read: undefined }, 'bob has read nothing, but his own messages are never unread to him')

    // Rooms: in the list from the join (what came before is history, not unread), counted from there.
    await bob.request({ type: 'join', room: 'r' })
    await bob.request({ type: 'publish', channel: 'room:r', data: 'before alice' })
    await laptop.request({ type: 'join', room: 'r' })
    t.match(await entry(laptop, 'room:r'), { unread: 0 }, 'a room just joined has nothing unread')
    const posts = [await bob.request({ type: 'publish', channel: 'room:r', data: 'a' }), await bob.request({ type: 'publish', channel: 'room:r', data: 'b' })]
    await laptop.next((f) => f.type === 'message' && f.offset === posts[1]?.offset)
    t.match(await entry(phone, 'room:r'), { unread: 2, last: { data: 'b', from: 'bob' } }, 'the phone (not listening to the room) lists it too')
    t.match(await phone.request({ type: 'read', channel: 'room:r', offset: posts[1]?.offset }), { unread: 0 })
    t.match(await laptop.next((f) => f.type === 'read' && f.id === undefined && f.channel === 'room:r'), { unread: 0 })
    t.match(await bob.next((f) => f.type === 'receipt' && f.channel === 'room:r'), { user: 'alice', read: { offset: posts[1]?.offset } },
      'the room\'s listeners see the receipt')
  })

  t.test(`${backend}: read and receipts refusals`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 1 })
    const alice = await TestClient.connect(stack.registryUrl, 'alice')
    t.teardown(() => { alice.close() })
    t.match(await alice.request({ type: 'read', channel: 'user:alice', offset: '1-0' }), { type: 'error', code: 'FORBIDDEN', message: /personal/ })
    t.match(await alice.request({ type: 'read', channel: 'dm:bob:carol', offset: '1-0' }), { type: 'error', code: 'FORBIDDEN' })
    t.match(await alice.request({ type: 'read', channel: 'room:closed', offset: '1-0' }), { type: 'error', code: 'FORBIDDEN', reason: 'NOT_MEMBER' })
    t.match(await alice.request({ type: 'read', channel: 'lobby', offset: '1-0' }), { type: 'error', code: 'INVALID_CHANNEL' })
    t.match(await alice.request({ type: 'read', channel: 'dm:alice:bob', offset: 'soon' }), { type: 'error', code: 'INVALID_FRAME', message: /offset/ })
    t.match(await alice.request({ type: 'read', channel: 'dm:alice:bob' }), { type: 'error', code: 'INVALID_FRAME' })
    t.match(await alice.request({ type: 'receipts', channel: 'room:closed' }), { type: 'error', code: 'FORBIDDEN' })
    t.match(await alice.request({ type: 'receipts', channel: 'user:alice' }), { type: 'error', code: 'FORBIDDEN' })
    t.match(await alice.request({ type: 'read', channel: 'dm:alice:bob', offset: '5-0' }), { type: 'read', epoch: '-', offset: '0-0', unread: 0 },
      'a conversation without history has nothing to read')
    t.same((await alice.request({ type: 'receipts', channel: 'dm:alice:bob' })).receipts, [])
  })

  t.test(`${backend}: a long conversation list comes in parts`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 1, socket: { limits: { maxBufferedBytes: 16 * 1024 } } })
    const me = await TestClient.connect(stack.registryUrl, 'me')
    t.teardown(() => { me.close() })
    const peers = Array.from({ length: 8 }, (_, i) => `p${i}`)
    for (const peer of peers) await me.request({ type: 'send', to: peer, data: 'x'.repeat(3000) })
    const id = 'long'
    me.send({ type: 'conversations', id, limit: 100 })
    const parts: Frame[] = []
    for (;;) {
      const part = await me.next((f) => f.id === id)
      parts.push(part)
      if (part.more !== true) break
    }
    t.ok(parts.length > 1, `the reply came in ${parts.length} parts (a quarter of the budget is 4 KiB)`)
    const channels = parts.flatMap((p) => (p.conversations as Frame[]).map((c) => c.channel))
    t.same([...channels].sort(), peers.map((p) => `dm:me:${p}`).sort(), 'together, every conversation once')
    t.ok(parts.every((p) => (p.conversations as Frame[]).length >= 1), 'each part holds at least one')
  })
}

t.test('SDK ReadMarks: one read out per conversation; those asked meanwhile fold into the newest', async (t) => {
  const sent: string[] = []
  const answers: Array<() => void> = []
  const marks = new ReadMarks(async (channel, offset) => {
    sent.push(`${channel} ${offset}`)
    await new Promise<void>((resolve) => { answers.push(resolve) })
    return { channel, epoch: 'e', offset, unread: 0 }
  })
  const first = marks.mark('room:a', '5-0')
  const second = marks.mark('room:a', '7-0')
  const third = marks.mark('room:a', '6-0')
  const other = marks.mark('room:b', '1-0')
  t.same(sent, ['room:a 5-0', 'room:b 1-0'], 'one per conversation goes out at once')
  answers.shift()?.()
  t.match(await first, { offset: '5-0' })
  await eventually(() => sent.length === 3, 'the next')
  t.equal(sent[2], 'room:a 7-0', 'the newest of those asked meanwhile, once')
  answers.shift()?.()
  answers.shift()?.()
  t.match(await other, { offset: '1-0' })
  t.match(await second, { offset: '7-0' }, 'both callers get its answer')
  t.match(await third, { offset: '7-0' })
})

for (const backend of BACKENDS) {
  t.test(`${backend}: the SDK marks read, hears reads from the user's other devices, lists unread and receipts`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const phone = await sdkClient(t, stack.registryUrl, 'alice')
    const laptop = await sdkClient(t, stack.registryUrl, 'alice')
    const bob = await sdkClient(t, stack.registryUrl, 'bob')
    t.not(phone.client.server, laptop.client.server)
    const reads: ReadState[] = []
    laptop.client.on('read', (state) => { reads.push(state) })
    const receipts: Array<Required<Receipt>> = []
    bob.client.on('receipt', (receipt) => { receipts.push(receipt) })
    const acks = [await bob.client.send('alice', 'one'), await bob.client.send('alice', 'two')]
    await bob.client.join('r')
    await phone.client.join('r')
    const post = await bob.client.publish('r', 'in the room')
    await eventually(() => laptop.messages.some((m) => m.offset === acks[1]?.offset) && phone.messages.some((m) => m.offset === post.offset), 'the messages')

    const list = await laptop.client.conversations()
    t.match(list.find((c) => c.channel === 'dm:alice:bob'), { with: 'bob', unread: 2, last: { data: 'two', from: 'bob' } })
    t.match(list.find((c) => c.channel === 'room:r'), { room: 'r', unread: 1, last: { data: 'in the room' } })
    t.equal(list.find((c) => c.channel === 'room:r')?.with, undefined)

    t.match(await phone.client.markRead('dm:alice:bob', acks[1]?.offset ?? ''), { channel: 'dm:alice:bob', offset: acks[1]?.offset, unread: 0 })
    await eventually(() => reads.length === 1, 'the laptop hears of it')
    t.match(reads[0], { channel: 'dm:alice:bob', offset: acks[1]?.offset, unread: 0 })
    await eventually(() => receipts.length === 1, 'bob sees the receipt')
    t.match(receipts[0], { channel: 'dm:alice:bob', user: 'alice', offset: acks[1]?.offset })
    t.same(await bob.client.receipts('dm:alice:bob'), [{ user: 'alice', offset: acks[1]?.offset }])
    await phone.client.markRead('room:r', post.offset)
    await eventually(() => reads.length === 2, 'and of the room')
    t.match((await laptop.client.conversations()).filter((c) => c.unread > 0), [], 'nothing unread on the laptop')
    await t.rejects(phone.client.markRead('dm:bob:carol', '1-0'), { code: 'FORBIDDEN' })
  })
}
