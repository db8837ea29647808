/**
 * Edits, deletes and replies over the protocol, across two socket servers on
 * each store: the author edits or deletes a message by its offset, every
 * listener gets the amendment once and in order, history and recovery show
 * the latest version or a tombstone, and the refusals say why. The SDK's side
 * of it.
 */
import t from 'tap'
import { TestClient, eventually } from './helpers/client.js'
import type { Frame } from './helpers/client.js'
import { sdkClient } from './helpers/sdk.js'
import { BACKENDS, CLUSTER_BACKENDS, startStack } from './helpers/stack.js'
import type { Amendment } from '../client/sdk/index.js'

const history = async (client: TestClient, channel: string): Promise<Frame[]> =>
  (await client.request({ type: 'history', channel, limit: 100 })).messages as Frame[]

for (const backend of CLUSTER_BACKENDS) {
  t.test(`${backend}: edits and deletes reach every listener, and history and recovery show the latest version`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const alice = await TestClient.connect(stack.registryUrl, 'alice')
    let bob = await TestClient.connect(stack.registryUrl, 'bob')
    t.teardown(() => { alice.close(); bob.close() })
    t.not(alice.welcome?.server, bob.welcome?.server, 'alice and bob are on different servers')
    t.equal(alice.welcome?.protocol, 5)
    await alice.request({ type: 'join', room: 'r' })
    await bob.request({ type: 'join', room: 'r' })

    const m1 = await alice.request({ type: 'publish', channel: 'room:r', data: { text: 'helo' } })
    const reply = await bob.request({ type: 'publish', channel: 'room:r', data: { text: 'hi' }, replyTo: m1.offset })
    t.match(await bob.next((f) => f.type === 'message' && f.offset === reply.offset), { replyTo: m1.offset }, 'a reply names the message it answers')
    const edit = await alice.request({ type: 'edit', channel: 'room:r', offset: m1.offset, data: { text: 'hello' } })
    t.match(edit, { type: 'ack', channel: 'room:r' })
    const editFrame = await bob.next((f) => f.type === 'message' && f.offset === edit.offset)
    t.match(editFrame, { edit: m1.offset, from: 'alice', data: { text: 'hello' }, prev: reply.offset }, 'bob gets the edit, on the other server, after the newest message')
    t.match(await history(bob, 'room:r'), [{ offset: m1.offset, data: { text: 'hello' }, edited: Number }, { offset: reply.offset }, { offset: edit.offset }],
      'history shows the latest version')

    // Refusals.
    t.match(await bob.request({ type: 'edit', channel: 'room:r', offset: m1.offset, data: 'mine' }), { type: 'error', code: 'FORBIDDEN', message: /author/ })
    t.match(await bob.request({ type: 'delete', channel: 'room:r', offset: '1-0' }), { type: 'error', code: 'NOT_FOUND' })
    t.match(await bob.request({ type: 'delete', channel: 'room:r', offset: edit.offset }), { type: 'error', code: 'NOT_FOUND' }, 'an edit is not a message')
    t.match(await bob.request({ type: 'delete', channel: 'room:elsewhere', offset: m1.offset }), { type: 'error', code: 'FORBIDDEN', reason: 'NOT_MEMBER' })
    t.match(await bob.request({ type: 'delete', channel: 'dm:alice:carol', offset: m1.offset }), { type: 'error', code: 'FORBIDDEN' })
    t.match(await bob.request({ type: 'delete', channel: 'user:bob', offset: m1.offset }), { type: 'error', code: 'FORBIDDEN' })
    t.match(await bob.request({ type: 'edit', channel: 'room:r', offset: 'x' }), { type: 'error', code: 'INVALID_FRAME' })
    t.match(await bob.request({ type: 'publish', channel: 'room:r', data: 1, replyTo: 'soon' }), { type: 'error', code: 'INVALID_FRAME', message: /replyTo/ })

    // Bob goes away; alice deletes her message: recovery brings the delete.
    const since = { epoch: editFrame.epoch as string, offset: edit.offset as string }
    bob.close()
    await bob.closed
    const gone = await alice.request({ type: 'delete', channel: 'room:r', offset: m1.offset })
    bob = await TestClient.connect(stack.registryUrl, 'bob')
    const resumed = await bob.request({ type: 'subscribe', channel: 'room:r', since })
    t.match(resumed, { recovered: true })
    t.match(await bob.next((f) => f.type === 'message' && f.offset === gone.offset), { delete: m1.offset, data: null }, 'the delete is replayed')
    const after = await history(bob, 'room:r')
    t.match(after[0], { offset: m1.offset, data: null, deleted: true })
    t.match(after[2], { offset: edit.offset, delete: m1.offset, data: null }, 'the edit of a deleted message keeps no text either')
    t.notOk(JSON.stringify(after).includes('hel'), 'no reply holds the deleted text')
    t.match(await alice.request({ type: 'delete', channel: 'room:r', offset: m1.offset }), { type: 'error', code: 'NOT_FOUND' }, 'deleted once')

    // A direct conversation: through the personal channels.
    const dm = await alice.request({ type: 'send', to: 'bob', data: 'psst' })
    const dmEdit = await alice.request({ type: 'edit', channel: 'dm:alice:bob', offset: dm.offset, data: 'hello bob' })
    t.match(await bob.next((f) => f.type === 'message' && f.offset === dmEdit.offset), { channel: 'dm:alice:bob', to: 'bob', edit: dm.offset, data: 'hello bob' })
    t.match(await bob.request({ type: 'delete', channel: 'dm:alice:bob', offset: dm.offset }), { type: 'error', code: 'FORBIDDEN' }, 'bob may not delete alice\'s')
  })
}

for (const backend of BACKENDS) {
  t.test(`${backend}: the SDK edits, deletes and replies, and tells of amendments apart from messages`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const alice = await sdkClient(t, stack.registryUrl, 'alice')
    const bob = await sdkClient(t, stack.registryUrl, 'bob')
    const amendments: Amendment[] = []
    bob.client.on('amend', (a) => { amendments.push(a) })
    const sent = await alice.client.send('bob', { text: 'helo' })
    const answer = await bob.client.send('alice', { text: 'hi' }, { replyTo: sent.offset })
    await eventually(() => alice.messages.some((m) => m.offset === answer.offset), 'the reply')
    t.equal(alice.messages.find((m) => m.offset === answer.offset)?.replyTo, sent.offset)
    await alice.client.edit(sent.channel, sent.offset, { text: 'hello' })
    await eventually(() => amendments.length === 1, 'bob hears the edit')
    t.match(amendments[0], { kind: 'edit', channel: sent.channel, offset: sent.offset, from: 'alice', data: { text: 'hello' } })
    await alice.client.delete(sent.channel, sent.offset)
    await eventually(() => amendments.length === 2, 'and the delete')
    t.match(amendments[1], { kind: 'delete', channel: sent.channel, offset: sent.offset, from: 'alice' })
    t.notOk(bob.messages.some((m) => m.data === null), 'amendments are not messages')
    const page = await bob.client.history(sent.channel)
    t.match(page, [{ offset: sent.offset, deleted: true, data: null }, { offset: answer.offset }], 'history: the messages, latest versions, no amendments')
    await t.rejects(bob.client.delete(sent.channel, sent.offset), { code: 'NOT_FOUND' })
  })
}
