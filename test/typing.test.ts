/**
 * Typing indicators: the per-connection rule (TypingState, stepped with
 * explicit times), and the `typing` frame across two socket servers on each
 * store: relayed to a room's listeners and to the other participant of a
 * direct conversation, never stored, refused where the user may not type,
 * stopped when the typist's connection closes; and the SDK's side of it.
 */
import t from 'tap'
import WebSocket, { WebSocketServer } from 'ws'
import { TestClient, eventually } from './helpers/client.js'
import type { Frame } from './helpers/client.js'
import { sdkClient } from './helpers/sdk.js'
import { BACKENDS, CLUSTER_BACKENDS, startStack } from './helpers/stack.js'
import { MAX_TYPING_CONVERSATIONS, TYPING_EVENTS_BURST, TYPING_EVENTS_PER_SECOND, TYPING_REFRESH_MS, TYPING_TTL_MS, TypingState } from '../plugins/socket/typing.js'
import { TypingIn, TypingOut } from '../client/sdk/typing.js'
import { createClient, dmChannel } from '../client/sdk/index.js'
import type { TypingEvent } from '../client/sdk/index.js'

t.test('TypingState: an active event per conversation at most every refresh, a stop only for what is shown, all within a budget', async (t) => {
  const state = new TypingState()
  t.same(state.say('room:a', true, 0), { active: true }, 'the first says so')
  t.equal(state.say('room:a', true, TYPING_REFRESH_MS - 1), undefined, 'a repeat within the refresh is absorbed')
  t.same(state.say('room:a', true, TYPING_REFRESH_MS), { active: true }, 'and the next refresh goes out')
  t.same(state.say('room:b', true, TYPING_REFRESH_MS), { active: true }, 'each conversation on its own')
  t.same(state.say('room:a', false, TYPING_REFRESH_MS + 1), { active: false }, 'a stop of what is shown goes out')
  t.equal(state.say('room:a', true, TYPING_REFRESH_MS + 2), undefined, 'typing again right after a stop waits for the refresh')
  t.equal(state.say('room:a', false, TYPING_REFRESH_MS + 3), undefined, 'a second stop goes nowhere')
  t.equal(state.say('room:c', false, 0), undefined, 'nor a stop of what was never shown')
  t.equal(state.say('room:b', false, TYPING_REFRESH_MS + TYPING_TTL_MS), undefined, 'nor one of what listeners have let expire')

  state.say('room:d', true, 100_000)
  state.sent('room:d', 100_000)
  t.same(state.say('room:d', true, 100_001), { active: true }, 'a message ends the typing: the next one is news')
  state.sent('room:d', 100_000)
  t.equal(state.say('room:d', false, 100_002) !== undefined, true, 'but not one relayed while the message was being stored')
  state.say('room:e', true, 103_000)
  t.equal(state.end('room:e', 103_001), true, 'no longer listening: what is shown is to be stopped')
  t.equal(state.end('room:e', 103_002), false, 'once')
  state.say('room:f', true, 106_000)
  t.same(state.close(106_001), ['room:f'], 'closing stops what is still shown')
  t.same(state.close(106_002), [], 'once')
})

t.test('TypingState: one connection relays at most its budget of events, and keeps state for at most 20 conversations', async (t) => {
  const state = new TypingState()
  const relayed = Array.from({ length: TYPING_EVENTS_BURST + 4 }, (_, n) => state.say(`room:r${n}`, true, 0)).filter((d) => d !== undefined)
  t.equal(relayed.length, TYPING_EVENTS_BURST, 'a burst is cut at the budget')
  t.equal(state.say('room:late', true, 1000 / TYPING_EVENTS_PER_SECOND - 1), undefined, 'nothing before a token comes back')
  t.same(state.say('room:late', true, 1000 / TYPING_EVENTS_PER_SECOND), { active: true }, 'then one')
  // Alternating typing and stopping in one room: one active per refresh, one stop after it.
  let events = 0
  for (let ms = 10_000; ms < 20_000; ms += 100) if (state.say('room:flip', ms % 200 === 0, ms) !== undefined) events++
  t.ok(events <= 2 * Math.ceil(10_000 / TYPING_REFRESH_MS), `flipping for 10 s relays ${events} events, two per refresh at most`)

  // As fast as the budget allows, in ever new conversations: the oldest goes, and it has expired by then.
  const spread = new TypingState()
  let at = 200_000
  const when: number[] = []
  for (let n = 0; n <= MAX_TYPING_CONVERSATIONS + 5; at += 10) {
    if (spread.say(`dm:u${String(n).padStart(2, '0')}:z`, true, at) !== undefined) when[n++] = at
  }
  t.ok(when[MAX_TYPING_CONVERSATIONS] !== undefined && (when[MAX_TYPING_CONVERSATIONS] ?? 0) - (when[0] ?? 0) >= TYPING_TTL_MS,
    'the 21st comes after the 1st has expired')
  const shown = spread.close(at)
  t.ok(shown.length <= MAX_TYPING_CONVERSATIONS && !shown.includes('dm:u00:z'), 'the state stays within the cap, the oldest gone')
})

for (const backend of CLUSTER_BACKENDS) {
  t.test(`${backend}: typing across servers, in rooms and direct conversations`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const alice = await TestClient.connect(stack.registryUrl, 'alice')
    const bob = await TestClient.connect(stack.registryUrl, 'bob')
    const carol = await TestClient.connect(stack.registryUrl, 'carol')
    t.teardown(() => { alice.close(); bob.close(); carol.close() })
    t.not(alice.welcome?.server, bob.welcome?.server, 'alice and bob are on different servers')
    t.ok(Number(alice.welcome?.protocol) >= 3, 'the welcome says the protocol has typing')
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

    // Leaving the room while typing there stops it; a stop after that is not refused (and has nothing left to stop).
    await alice.request({ type: 'publish', channel: 'room:r', data: 'one more' })
    t.match(await alice.request({ type: 'typing', channel: 'room:r' }), { relayed: true })
    await bob.next((f) => f.type === 'typing' && f.active === true && f.channel === 'room:r')
    await alice.request({ type: 'leave', room: 'r' })
    t.match(await bob.next((f) => f.type === 'typing' && f.id === undefined), { channel: 'room:r', user: 'alice', active: false }, 'leaving stops it')
    t.match(await alice.request({ type: 'typing', channel: 'room:r', active: false }), { type: 'typing', relayed: false })

    // The typist goes away while typing: listeners are told it stopped. (Carol: alice has used her burst of events.)
    await carol.request({ type: 'join', room: 'r' })
    t.match(await carol.request({ type: 'typing', channel: 'room:r' }), { relayed: true })
    t.match(await carol.request({ type: 'typing', channel: 'dm:bob:carol' }), { relayed: true })
    await bob.next((f) => f.type === 'typing' && f.active === true && f.user === 'carol' && f.channel === 'room:r')
    await bob.next((f) => f.type === 'typing' && f.active === true && f.user === 'carol' && f.channel === 'dm:bob:carol')
    carol.close()
    const stopped = [await bob.next((f) => f.type === 'typing' && f.id === undefined), await bob.next((f) => f.type === 'typing' && f.id === undefined)]
    t.same(stopped.map((f) => [f.channel, f.user, f.active]).sort(), [['dm:bob:carol', 'carol', false], ['room:r', 'carol', false]],
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

t.test('the SDK sends no typing to a server whose welcome says an older protocol (a fleet being upgraded)', async (t) => {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  t.teardown(() => { server.close() })
  await new Promise((resolve) => server.once('listening', resolve))
  const got: Array<{ type: string, id?: number }> = []
  server.on('connection', (socket) => {
    socket.send(JSON.stringify({ type: 'welcome', protocol: 2, user: 'alice', server: 'old', channel: 'user:alice', epoch: '-', offset: '0-0', rooms: [], limits: {} }))
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string, id?: number, channel?: string }
      got.push(frame)
      if (frame.type === 'history') socket.send(JSON.stringify({ type: 'history', id: frame.id, channel: frame.channel, messages: [] }))
    })
  })
  const { port } = server.address() as { port: number }
  const client = createClient({
    registryUrl: 'http://registry.invalid',
    auth: { user: 'alice' },
    WebSocket,
    fetch: async () => ({ status: 200, headers: { get: () => null }, json: async () => ({ url: `ws://127.0.0.1:${port}/ws`, token: 't', server: 'old' }) })
  })
  t.teardown(() => { client.close() })
  await client.ready
  client.typing('room:r').catch(() => {}) // not awaited: had it gone out, this server would never answer it
  await client.history('room:r') // a marker: what the client sent before it has arrived
  t.ok(got.some((f) => f.type === 'history'), 'the marker arrived')
  t.notOk(got.some((f) => f.type === 'typing'), 'and no typing before it')
})
