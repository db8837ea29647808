/**
 * Fleet behaviour in-process on both stores: the relay probe, capacity and
 * back-pressure (with the SDK honouring Retry-After), POST /drain.
 */
import t from 'tap'
import { TestClient, allocate, eventually } from './helpers/client.js'
import { sdkClient } from './helpers/sdk.js'
import { BACKENDS, loadOf, startStack } from './helpers/stack.js'
import { createClient } from '../client/sdk/index.js'
import type { WebSocketConstructor } from '../client/sdk/index.js'
import WebSocket from 'ws'

t.test('redis: a relay that silently stops receiving is noticed; its clients recover what it missed', async (t) => {
  const stack = await startStack(t, 'redis', { sockets: 2 })
  const alice = await sdkClient(t, stack.registryUrl, 'alice')
  const bob = await sdkClient(t, stack.registryUrl, 'bob')
  const aliceServer = stack.sockets.find((s) => s.switchboardSocket.connections === 1 && s.switchboardSocket.serverId === 's1')
  t.ok(aliceServer, 'alice is on s1')
  // Drop every subscription behind the store's back: the connection stays up, nothing arrives.
  await aliceServer?.switchboardRedis.subscriber.unsubscribe()
  for (let n = 0; n < 10; n++) await bob.client.send('alice', { n })
  await bob.client.send('alice', 'marker') // once alice has it, any duplicate would have come before it
  await eventually(() => alice.messages.some((m) => m.data === 'marker'), 'every message')
  t.same(alice.messages.filter((m) => m.from === 'bob' && m.data !== 'marker').map((m) => (m.data as { n: number }).n), [...Array(10).keys()],
    'the messages sent into the deaf relay arrive too, once each')
})

for (const backend of BACKENDS) {
  t.test(`${backend}: full servers answer 503 with Retry-After; allocation resumes when one frees up`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2, socket: { capacity: 2 } })
    const held: TestClient[] = []
    for (let i = 0; i < 4; i++) held.push(await TestClient.connect(stack.registryUrl, `c${i}`))
    t.teardown(() => { for (const h of held) h.close() })
    const full = await fetch(`${stack.registryUrl}/allocate?user=late`)
    t.equal(full.status, 503)
    t.equal(((await full.json()) as { code: string }).code, 'NO_CAPACITY')
    const retryAfter = Number(full.headers.get('retry-after'))
    t.ok(retryAfter >= 1 && retryAfter <= 2, `Retry-After ${retryAfter} s, jittered`)

    // An SDK client arriving now waits as told, then gets in once someone leaves.
    const late = createClient({ registryUrl: stack.registryUrl, auth: { user: 'late' }, WebSocket: WebSocket as unknown as WebSocketConstructor })
    t.teardown(() => late.close())
    const delays: number[] = []
    late.on('state', (state, detail) => { if (state === 'reconnecting' && detail.delayMs !== undefined) delays.push(detail.delayMs) })
    await eventually(() => delays.length > 0, 'the SDK to back off')
    t.ok((delays[0] ?? 0) >= 1000, `the SDK waited ${delays[0]} ms, as Retry-After said`)
    held[0]?.close()
    await eventually(async () => (await loadOf(stack.handle.store, String(held[0]?.welcome?.server))) === 1, 'a place frees up')
    await late.ready
    t.equal(late.state, 'connected', 'allocation resumed')
  })

  t.test(`${backend}: POST /drain moves clients with reconnect frames`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2, socket: { adminToken: 'admin-token-0123456789' }, held: true })
    const s1 = stack.sockets[0]
    const base = `http://127.0.0.1:${new URL(String(s1?.switchboardSocket.url)).port}`
    // Allocation order puts sdk on s1, filler on s2, raw on s1.
    const sdk = await sdkClient(t, stack.registryUrl, 'sdk')
    const filler = await TestClient.connect(stack.registryUrl, 'filler')
    const raw = await TestClient.connect(stack.registryUrl, 'raw')
    t.equal(raw.welcome?.server, 's1')
    t.equal(s1?.switchboardSocket.connections, 2)
    t.teardown(() => { raw.close(); filler.close() })

    await filler.request({ type: 'join', room: 'hall' })
    await sdk.client.join('hall')
    await filler.next((f) => f.type === 'join' && f.user === 'sdk')

    t.equal((await fetch(`${base}/drain`, { method: 'POST' })).status, 401, 'without the admin token')
    t.equal((await fetch(`${base}/drain`, { method: 'POST', headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, 401)
    const accepted = await fetch(`${base}/drain`, { method: 'POST', headers: { authorization: 'Bearer admin-token-0123456789' } })
    t.equal(accepted.status, 202)
    t.match(await accepted.json(), { status: 'draining' })

    const move = await raw.next((f) => f.type === 'reconnect')
    t.match(move, { type: 'reconnect', reason: 'drain', server: 's2' })
    t.equal((await raw.closed).code, 1001)
    const moved = new TestClient(`${String(move.url)}?token=${encodeURIComponent(String(move.token))}`)
    t.teardown(() => moved.close())
    t.match(await moved.next((f) => f.type === 'welcome'), { server: 's2', user: 'raw' }, 'the token in the frame works on the new server')

    await s1?.switchboardSocket.drained
    t.equal(s1?.switchboardSocket.connections, 0)
    await eventually(() => sdk.client.state === 'connected' && sdk.states.includes('reconnecting'), 'the SDK followed')
    t.equal(stack.sockets[1]?.switchboardSocket.connections, 3, 'everyone is on s2 now')
    // s2 has told the store that sdk listens to the room there (filler's was the first): any join it announced is
    // published by then, and a marker on the room comes after it. (s1 forgets its presence only when it closes.)
    await eventually(() => stack.held[1]?.done.filter((call) => call === 'presenceAdd room:hall').length === 2, 'sdk\'s presence on s2 recorded')
    const marker = await filler.request({ type: 'publish', channel: 'room:hall', data: 'marker' })
    await filler.next((f) => f.offset === marker.offset)
    const aboutSdk = filler.frames.filter((f) => (f.type === 'leave' || f.type === 'join') && f.user === 'sdk')
    t.same(aboutSdk, [], 'moving servers is not announced as leaving and coming back')
    t.same(await sdk.client.presence('room:hall'), ['filler', 'sdk'])
    t.equal(await allocate(stack.registryUrl, 'newcomer').then((a) => a.server), 's2', 'a draining server gets no one new')
  })
}
