/**
 * Typing indicators: the per-connection rule (TypingState, stepped with
 * explicit times), and the `typing` frame across two socket servers on each
 * store: relayed to a room's listeners and to the other participant of a
 * direct conversation, never stored, refused where the user may not type,
 * stopped when the typist's connection closes; and the SDK's side of it.
 */
import t from 'tap'
import { TestClient, eventually } from './helpers/client.js'
import type { Frame } from './helpers/client.js'
import { sdkClient } from './helpers/sdk.js'
import { BACKENDS, CLUSTER_BACKENDS, startStack } from './helpers/stack.js'
import { MAX_TYPING_CONVERSATIONS, TYPING_REFRESH_MS, TYPING_TTL_MS, TypingState } from '../plugins/socket/typing.js'
import { TypingIn, TypingOut } from '../client/sdk/typing.js'
import { dmChannel } from '../client/sdk/index.js'
import type { TypingEvent } from '../client/sdk/index.js'

t.test('TypingState: an active event per conversation at most every refresh, a stop only for what is shown', async (t) => {
  const state = new TypingState()
  t.same(state.say('room:a', true, 0), { active: true }, 'the first says so')
  t.equal(state.say('room:a', true, TYPING_REFRESH_MS - 1), undefined, 'a repeat within the refresh is absorbed')
  t.same(state.say('room:a', true, TYPING_REFRESH_MS), { active: true }, 'and the next refresh goes out')
  t.same(state.say('room:b', true, TYPING_REFRESH_MS), { active: true }, 'each conversation on its own')
  t.same(state.say('room:a', false, TYPING_REFRESH_MS + 1), { active: false }, 'a stop of what is shown goes out')
  t.equal(state.say('room:a', false, TYPING_REFRESH_MS + 2), undefined, 'a second stop does not')
  t.equal(state.say('room:c', false, 0), undefined, 'nor a stop of what was never shown')
  t.equal(state.say('room:b', false, TYPING_REFRESH_MS + TYPING_TTL_MS), undefined, 'nor one of what listeners have let expire')

  state.say('room:d', true, 100_000)
  state.sent('room:d')
  t.same(state.say('room:d', true, 100_001), { active: true }, 'a message ends the typing: the next one is news')
  t.same(state.close(100_002), ['room:d'], 'closing stops what is still shown')
  t.same(state.close(100_003), [], 'once')

  const evicted: string[] = []
  for (let n = 0; n <= MAX_TYPING_CONVERSATIONS; n++) state.say(`dm:u${String(n).padStart(2, '0')}:z`, true, 200_000 + n, (c) => evicted.push(c))
  t.same(evicted, ['dm:u00:z'], 'beyond the cap the oldest is dropped, and stopped')
  t.equal(state.close(200_100).length, MAX_TYPING_CONVERSATIONS, 'the state stays within the cap')
})

for (const backend of CLUSTER_BACKENDS) {
  t.test(`${backend}: typing across servers, in rooms and direct conversations`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const alice = await TestClient.connect(stack.registryUrl, 'alice')
    const bob = await TestClient.connect(stack.registryUrl, 'bob')
    const carol = await TestClient.connect(stack.registryUrl, 'carol')
    t.teardown(() => { alice.close(); bob.close(); carol.close() })
    t.not(alice.welcome?.server, bob.welcome?.server, 'alice and bob are on different servers')
    t.equal(alice.welcome?.protocol, 3, 'the welcome says the protocol has typing')
    await alice.request({ type: 'join', room: 'r' })
    await bob.request({ type: 'join', room: 'r' })
    const typingFrom = (client: TestClient, channel: string): Frame[] => client.pending('typing').filter((f) => f.id === undefined && f.channel === channel)

    t.match(await alice.request({ type: 'typing', channel: 'room:r' }), { type: 'typing', channel: 'room:r', relayed: true })
    t.match(await bob.next((f) => f.type === 'typing' && f.id === undefined),
      { channel: 'room:r', user: 'alice', active: true, expiresInMs: TYPING_TTL_MS }, 'bob sees alice typing in the room')
    const marker = await alice.request({ type: 'publish', channel: 'room:r', data: 'marker' })
    await bob.next((f) => f.type === 'message' && f.offset === marker.offset)
    t.same(typingFrom(bob, 'room:r'), [], 'once')
    t.same(await alice.request({ type: 'history', channel: 'room:r' }).then((h) => (h.messages as Frame[]).map((m) => m.data)), ['marker'],
      'nothing of it is stored')

    // The message ended it: typing again is news at once, and stopping is relayed.
    t.match(await alice.request({ type: 'typing', channel: 'room:r' }), { relayed: true })
    t.match(await alice.request({ type: 'typing', channel: 'room:r', active: false }), { relayed: true })
    await bob.next((f) => f.type === 'typing' && f.active === true)
    t.match(await bob.next((f) => f.type === 'typing' && f.id === undefined), { user: 'alice', active: false, expiresInMs: 0 }, 'then the stop')

    // A direct conversation: only the other participant hears it.
    t.match(await alice.request({ type: 'typing', channel: 'dm:alice:bob' }), { relayed: true })
    t.match(await bob.next((f) => f.type === 'typing' && f.id === undefined), { channel: 'dm:alice:bob', user: 'alice', active: true })
    const toCarol = await alice.request({ type: 'send', to: 'carol', data: 'marker' })
    await carol.next((f) => f.type === 'message' && f.offset === toCarol.offset)
    t.same(carol.pending('typing'), [], 'carol heard nothing of alice typing to bob')

    // Where alice may not type.
    t.match(await carol.request({ type: 'typing', channel: 'room:r' }), { type: 'error', code: 'FORBIDDEN', reason: 'NOT_LISTENING' }, 'a room not listened to')
    t.match(await alice.request({ type: 'typing', channel: 'dm:bob:carol' }), { type: 'error', code: 'FORBIDDEN' }, 'someone else\'s conversation')
    t.match(await alice.request({ type: 'typing', channel: 'user:bob' }), { type: 'error', code: 'FORBIDDEN' }, 'a personal channel')
    t.match(await alice.request({ type: 'typing', channel: 'nowhere' }), { type: 'error', code: 'INVALID_CHANNEL' })
    t.match(await alice.request({ type: 'typing', channel: 'room:r', active: 'yes' }), { type: 'error', code: 'INVALID_FRAME', message: /active/ })

    // The typist goes away while typing: listeners are told it stopped.
    t.match(await alice.request({ type: 'typing', channel: 'room:r' }), { relayed: true })
    await bob.next((f) => f.type === 'typing' && f.active === true)
    alice.close()
    const stopped = [await bob.next((f) => f.type === 'typing' && f.id === undefined), await bob.next((f) => f.type === 'typing' && f.id === undefined)]
    t.same(stopped.map((f) => [f.channel, f.user, f.active]).sort(), [['dm:alice:bob', 'alice', false], ['room:r', 'alice', false]],
      'a closed connection stops its typing, in the room and in the conversation')
  })
}

t.test('SDK TypingOut: a frame per conversation at most every 3 s while typing, a stop only while one is shown', async (t) => {
  const out = new TypingOut()
  t.equal(out.due('room:a', true, 0), true)
  t.equal(out.due('room:a', true, 2999), false, 'keystrokes in between send nothing')
  t.equal(out.due('room:a', true, 3000), true)
  t.equal(out.due('room:a', false, 3001), true, 'a stop of what is shown')
  t.equal(out.due('room:a', false, 3002), false, 'once')
  t.equal(out.due('room:b', true, 0), true)
  t.equal(out.due('room:b', false, 6000), false, 'listeners have let it expire: no stop')
  out.due('room:c', true, 10)
  out.forget('room:c')
  t.equal(out.due('room:c', true, 11), true, 'after a message there, typing again is news')
})

t.test('SDK TypingIn: each change once; expiry, a message and a lost connection end it', async (t) => {
  const events: TypingEvent[] = []
  const typing = new TypingIn((e) => events.push(e))
  t.teardown(() => { typing.clear() })
  typing.heard('room:a', 'bob', true, 60_000)
  typing.heard('room:a', 'bob', true, 60_000)
  typing.heard('room:a', 'carol', true, 60_000)
  t.same(typing.in('room:a'), ['bob', 'carol'])
  typing.messageFrom('room:a', 'bob')
  typing.heard('room:a', 'carol', false, 0)
  typing.heard('room:a', 'carol', false, 0)
  t.same(events, [
    { channel: 'room:a', user: 'bob', active: true }, { channel: 'room:a', user: 'carol', active: true },
    { channel: 'room:a', user: 'bob', active: false }, { channel: 'room:a', user: 'carol', active: false }
  ], 'a refresh and a second stop are no news')
  typing.heard('dm:a:b', 'a', true, 5)
  await eventually(() => events.length === 6, 'the expiry')
  t.same(events.slice(4), [{ channel: 'dm:a:b', user: 'a', active: true }, { channel: 'dm:a:b', user: 'a', active: false }], 'unrefreshed, it expires')
  typing.heard('room:x', 'dan', true, 60_000)
  typing.clear()
  t.same(events.slice(6), [{ channel: 'room:x', user: 'dan', active: true }, { channel: 'room:x', user: 'dan', active: false }], 'clear stops everyone')
  t.same(typing.in('room:x'), [])
})

for (const backend of BACKENDS) {
  t.test(`${backend}: the SDK tells and shows typing across servers`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const alice = await sdkClient(t, stack.registryUrl, 'alice')
    const bob = await sdkClient(t, stack.registryUrl, 'bob')
    t.not(alice.client.server, bob.client.server)
    const seen: TypingEvent[] = []
    bob.client.on('typing', (e) => { seen.push(e) })
    const mine: TypingEvent[] = []
    alice.client.on('typing', (e) => { mine.push(e) })
    await alice.client.join('r')
    await bob.client.join('r')

    await alice.client.typing('room:r')
    await eventually(() => seen.length === 1, 'bob sees alice typing')
    t.same(seen[0], { channel: 'room:r', user: 'alice', active: true })
    t.same(bob.client.typists('room:r'), ['alice'])
    await alice.client.publish('r', 'hello')
    await eventually(() => seen.length === 2, 'her message ends it')
    t.same(seen[1], { channel: 'room:r', user: 'alice', active: false })
    t.equal(bob.messages.at(-1)?.data, 'hello', 'the message came with it')

    await alice.client.typing(dmChannel('alice', 'bob'))
    await eventually(() => seen.length === 3, 'in their conversation')
    t.same(seen[2], { channel: 'dm:alice:bob', user: 'alice', active: true })
    await alice.client.typing(dmChannel('alice', 'bob'), false)
    await eventually(() => seen.length === 4, 'and the stop')
    t.same(seen[3], { channel: 'dm:alice:bob', user: 'alice', active: false })

    await t.rejects(alice.client.typing('room:elsewhere'), { code: 'FORBIDDEN' }, 'a refusal rejects')
    // Alice's own typing in the room reaches her connection too; the SDK keeps it to itself.
    await alice.client.typing('room:r')
    await eventually(() => seen.length === 5, 'once more')
    await bob.client.publish('r', 'marker')
    await eventually(() => alice.messages.some((m) => m.data === 'marker'), 'the marker')
    t.same(mine, [], 'alice is never told about herself')
  })
}
