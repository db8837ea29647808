/**
 * An SDK that lives within the server's limits, under the default ones
 * (FRAME_RATE 20, FRAME_BURST 40): the server announces its budget in
 * `welcome`, the SDK paces its frames and subscribes many channels in one
 * frame, so a user in 100 rooms gets all of them live and recovers all of
 * them after a reconnect; 60 concurrent sends all settle; every error caused
 * by a request carries its id, RATE_LIMITED included.
 */
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { DEFAULT_CONNECTION_LIMITS } from '../plugins/socket/limits.js'
import { messagePrefix } from '../plugins/socket/frames.js'
import type { Store } from '../plugins/store/index.js'
import { TestClient, eventually } from './helpers/client.js'
import { sdkClient } from './helpers/sdk.js'
import { BACKENDS, startStack } from './helpers/stack.js'

/** The defaults, not the test stack's relaxed ones. */
const DEFAULTS = { socket: { limits: DEFAULT_CONNECTION_LIMITS } }

async function post (store: Store, room: string, n: number): Promise<void> {
  const channel = `room:${room}`
  await store.append({ channel, framePrefix: messagePrefix(channel, 'poster', null, JSON.stringify({ n }), Date.now()), sender: 'poster' })
}

/** Settles within `ms`, or says which did not: a guard against hanging, not a latency check. */
async function settledWithin<T> (promises: Array<Promise<T>>, ms: number): Promise<Array<PromiseSettledResult<T> | 'pending'>> {
  const out: Array<PromiseSettledResult<T> | 'pending'> = promises.map(() => 'pending')
  const all = Promise.all(promises.map(async (p, i) => { out[i] = await p.then((value) => ({ status: 'fulfilled' as const, value }), (reason: unknown) => ({ status: 'rejected' as const, reason })) }))
  let timer: NodeJS.Timeout | undefined
  await Promise.race([all, new Promise((resolve) => { timer = setTimeout(resolve, ms) })])
  clearTimeout(timer)
  return out
}

for (const backend of BACKENDS) {
  t.test(`${backend}: a user in 100 rooms gets every room live, and recovers every one after a reconnect, under the default limits`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2, ...DEFAULTS })
    const { store } = stack.handle
    const rooms = Array.from({ length: 100 }, (_, i) => `r${i}`)
    for (const room of rooms) await store.join(room, 'many')
    const many = await sdkClient(t, stack.registryUrl, 'many')
    const closes: string[] = []
    many.client.on('state', (state, detail) => { if (state === 'reconnecting') closes.push(detail.reason ?? '') })
    t.same(many.client.limits, { frameRate: 20, frameBurst: 40, maxChannels: 100, maxPayload: 65_536, subscribeBatch: 100 }, 'the welcome told the SDK the server\'s limits')
    t.equal(many.client.rooms.length, 100, 'the welcome listed the 100 rooms')

    // Live: a message in each room (appended straight to the store, so no other client's budget is involved).
    const subscribed = async (): Promise<void> => {
      await eventually(async () => (await Promise.all(rooms.map(async (room) => (await store.presence(`room:${room}`)).includes('many')))).every(Boolean), 'every room subscribed')
    }
    await subscribed()
    for (const room of rooms) await post(store, room, 1)
    await eventually(() => many.messages.length === 100, () => `live in every room (${many.messages.length}/100)`)

    // Its server goes away; two messages land in every room while it reconnects to the other one.
    const first = many.client.server
    const holding = stack.sockets.find((s) => s.switchboardSocket.serverId === first) as FastifyInstance
    const lost = new Promise<void>((resolve) => {
      const off = many.client.on('state', (state) => { if (state !== 'connected') { off(); resolve() } })
    })
    const closing = holding.close()
    await lost
    for (const room of rooms) {
      await post(store, room, 2)
      await post(store, room, 3)
    }
    await closing
    await eventually(() => many.messages.length === 300, 20_000, () => `recovered in every room (${many.messages.length}/300)`)
    t.not(many.client.server, first, 'on the other server now')
    for (const room of rooms) {
      const got = many.messages.filter((m) => m.channel === `room:${room}`).map((m) => (m.data as { n: number }).n)
      if (JSON.stringify(got) !== '[1,2,3]') t.fail(`room ${room}: ${JSON.stringify(got)}`)
    }
    t.pass('each room: every message once, in order')
    t.same(closes.filter((reason) => /4008|rate/.test(reason)), [], 'never closed for flooding')
    t.same(many.client.rooms.length, 100, 'still in all 100 rooms')
  })

  t.test(`${backend}: 60 concurrent send() calls all settle, in order, under the default limits`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 1, ...DEFAULTS })
    const alice = await sdkClient(t, stack.registryUrl, 'alice')
    await alice.client.join('burst')
    const sends = Array.from({ length: 60 }, (_, n) => alice.client.publish('burst', { n }))
    const outcomes = await settledWithin(sends, 30_000)
    t.equal(outcomes.filter((o) => o === 'pending').length, 0, 'none left pending')
    t.equal(outcomes.filter((o) => o !== 'pending' && o.status === 'fulfilled').length, 60, 'all 60 acknowledged')
    const history = await alice.client.history('room:burst', { limit: 100 })
    t.same(history.map((m) => (m.data as { n: number }).n), [...Array(60).keys()], 'stored in the order they were sent')
  })
}

t.test('every error caused by a request carries its id: RATE_LIMITED (found cheaply, even after a nested value) and binary frames', async (t) => {
  const stack = await startStack(t, 'memory', { sockets: 1, ...DEFAULTS })
  const client = await TestClient.connect(stack.registryUrl, 'eager')
  t.teardown(() => client.close())
  t.match(client.welcome, { limits: { frameRate: 20, frameBurst: 40, maxChannels: 100, maxPayload: 65_536, subscribeBatch: 100 } }, 'welcome announces the budget')
  // 45 frames at once: the burst is 40, the last 5 are dropped, each with its id.
  const raw = (client.ws as unknown as { _socket: { cork (): void, uncork (): void } })._socket
  raw.cork()
  for (let i = 1; i <= 45; i++) client.send(i % 2 === 0 ? { type: 'presence', id: i, channel: 'user:eager' } : { type: 'presence', channel: 'user:eager', meta: { nested: [1, { id: 'decoy' }] }, id: `r${i}` })
  raw.uncork()
  const replies = []
  for (let i = 1; i <= 45; i++) replies.push(await client.next((f) => f.id === (i % 2 === 0 ? i : `r${i}`)))
  const limited = replies.filter((r) => r.type === 'error' && r.code === 'RATE_LIMITED').map((r) => r.id)
  t.same(limited, ['r41', 42, 'r43', 44, 'r45'].slice(-limited.length), `the dropped frames were answered RATE_LIMITED with their ids (${JSON.stringify(limited)})`)
  t.ok(limited.length >= 4, 'at least the 41st frame on was dropped')
  t.ok(replies.every((r) => r.id !== undefined), 'no reply without its id')
  const other = await TestClient.connect(stack.registryUrl, 'binary')
  t.teardown(() => other.close())
  other.ws.send(Buffer.from(JSON.stringify({ id: 'bin', type: 'presence', channel: 'user:binary' })))
  t.match(await other.next((f) => f.id === 'bin'), { type: 'error', code: 'INVALID_FRAME' }, 'a binary frame: refused with its id')
})

t.test('subscribe with many channels: one reply with each channel\'s outcome, then each replay', async (t) => {
  const stack = await startStack(t, 'memory', { sockets: 1 })
  const { store } = stack.handle
  const alice = await TestClient.connect(stack.registryUrl, 'alice')
  t.teardown(() => alice.close())
  const a = await alice.request({ type: 'join', room: 'a' })
  await alice.request({ type: 'join', room: 'c' })
  await alice.request({ type: 'unsubscribe', channel: 'room:a' })
  await alice.request({ type: 'unsubscribe', channel: 'room:c' })
  await post(store, 'a', 1)
  await post(store, 'a', 2)
  const reply = await alice.request({
    type: 'subscribe',
    channels: [
      { channel: 'room:a', since: { offset: a.offset, epoch: a.epoch } },
      { channel: 'room:b' },
      { channel: 'user:bob' },
      { channel: 'lobby' },
      { channel: 'room:c' },
      { channel: 'room:a' }
    ]
  })
  t.match(reply, {
    type: 'subscribed',
    channels: [
      { channel: 'room:a', recovered: true, epoch: a.epoch },
      { channel: 'room:b', error: { code: 'FORBIDDEN' } },
      { channel: 'user:bob', error: { code: 'FORBIDDEN' } },
      { channel: 'lobby', error: { code: 'INVALID_CHANNEL' } },
      { channel: 'room:c', epoch: String }
    ]
  }, 'each channel once, in the order given, with its own outcome')
  t.equal((reply.channels as unknown[]).length, 5, 'a channel listed twice counts once')
  await eventually(() => alice.pending('message').length === 2, 'the replay of room:a')
  t.same(alice.pending('message').map((m) => (m.data as { n: number }).n), [1, 2])
  t.match(await alice.request({ type: 'subscribe', channel: 'room:a', channels: [{ channel: 'room:a' }] }), { type: 'error', code: 'INVALID_FRAME' }, 'channel and channels together: refused, with the id')
})
