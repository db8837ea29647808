/**
 * Containment of direct messages: strangers cannot erase a user's
 * conversations, and what one user can make Redis keep is bounded by the
 * storage quotas, with a clear error when a budget is used up.
 */
import t from 'tap'
import { Cluster } from 'ioredis'
import { TestClient, eventually } from './helpers/client.js'
import { sdkClient } from './helpers/sdk.js'
import { startStack } from './helpers/stack.js'
import type { FetchLike, Message, SwitchboardError } from '../client/sdk/index.js'

/** A fetch the test can switch to "no server has room", to keep a client away as long as it likes. */
function gatedFetch (): { fetch: FetchLike, away: { on: boolean } } {
  const away = { on: false }
  const fetch: FetchLike = async (url, init) => {
    if (away.on) return { status: 503, headers: { get: (name) => name === 'retry-after' ? '1' : null }, json: async () => ({ code: 'NO_CAPACITY', message: 'kept away by the test' }) }
    return await globalThis.fetch(url, init)
  }
  return { fetch, away }
}

const ns = (messages: Message[], channel: string): number[] => messages.filter((m) => m.channel === channel).map((m) => (m.data as { n: number }).n)

t.test('1,500 direct messages from strangers leave the victim\'s conversation with its partner recoverable', async (t) => {
  // Default history (1,000 messages a channel): before, every DM of a user shared one personal channel of that size.
  const stack = await startStack(t, 'redis', { sockets: 3 })
  const gate = gatedFetch()
  const bob = await sdkClient(t, stack.registryUrl, 'bob', { fetch: gate.fetch })
  const alice = await sdkClient(t, stack.registryUrl, 'alice')
  for (let n = 0; n < 5; n++) await alice.client.send('bob', { n })
  await eventually(() => ns(bob.messages, 'dm:alice:bob').length === 5, 'bob has the start of the conversation')

  // Bob's server goes away, and bob with it, for as long as the test says.
  gate.away.on = true
  const bobServer = stack.sockets.find((s) => s.switchboardSocket.serverId === bob.client.server)
  await bobServer?.close()
  for (let n = 5; n < 10; n++) await alice.client.send('bob', { n })

  const strangers = await Promise.all(Array.from({ length: 10 }, async (_, i) => await TestClient.connect(stack.registryUrl, `stranger${i}`)))
  t.teardown(() => { for (const s of strangers) s.close() })
  await Promise.all(strangers.map(async (stranger, i) => {
    for (let n = 0; n < 150; n++) stranger.send({ type: 'send', id: n, to: 'bob', data: { n }, mid: `s${i}-${n}` })
    for (let n = 0; n < 150; n++) t.equal((await stranger.next((f) => f.id === n && f.type === 'ack')).channel, `dm:bob:stranger${i}`)
  }))

  gate.away.on = false
  await eventually(() => ns(bob.messages, 'dm:alice:bob').length >= 10, () => `bob recovered ${ns(bob.messages, 'dm:alice:bob').length}/10 of alice's`)
  t.same(ns(bob.messages, 'dm:alice:bob'), [...Array(10).keys()], 'every message of alice\'s, once, in order')
  t.notOk(bob.resets.includes('dm:alice:bob'), 'the conversation with alice was recovered, not reset')
  // The strangers' conversations were begun while bob was away: the SDK found them in his conversation list.
  await eventually(() => bob.messages.length >= 1510, () => `bob has ${bob.messages.length}/1510`)
  for (let i = 0; i < 10; i++) t.same(ns(bob.messages, `dm:bob:stranger${i}`), [...Array(150).keys()], `stranger${i}'s, each once, in order`)
  t.equal((await bob.client.history('dm:alice:bob', { limit: 100 })).length, 10, 'and the conversation\'s history is whole')
})

t.test('storage quotas: one user spraying made-up recipients is stopped, with a clear error, and nobody else is', async (t) => {
  const stack = await startStack(t, 'redis', { sockets: 2, limits: { quotaChannels: 20, quotaMessages: 200, quotaBytes: 1 << 20, quotaWindowMs: 60_000 } })
  const redis = stack.handle.redis
  if (redis === null || redis instanceof Cluster) throw new Error('one Redis expected')
  const mallory = await TestClient.connect(stack.registryUrl, 'mallory')
  t.teardown(() => mallory.close())
  for (let n = 0; n < 300; n++) mallory.send({ type: 'send', id: n, to: `victim${n}`, data: { n } })
  const replies = await Promise.all(Array.from({ length: 300 }, async (_, n) => await mallory.next((f) => f.id === n)))
  const acked = replies.filter((r) => r.type === 'ack').length
  const refused = replies.filter((r) => r.type === 'error')
  t.equal(acked, 20, 'twenty new conversations in the window, then no more')
  t.equal(refused.length, 280, 'every other one is refused…')
  t.ok(refused.every((r) => r.code === 'QUOTA_EXCEEDED' && r.budget === 'channels' && typeof r.retryAfterMs === 'number' && (r.retryAfterMs as number) > 0),
    '…with QUOTA_EXCEEDED, the budget and when it starts again, on the request\'s id')
  let keys = 0
  for await (const batch of redis.scanStream({ match: `${stack.handle.prefix}{dm:*`, count: 1000 })) keys += (batch as string[]).length
  t.ok(keys <= 20 * 2, `the store keeps at most the twenty conversations (${keys} keys: a stream and a meta each)`)

  // Within the conversations already begun, messages go on until the messages budget is used up.
  for (let n = 0; n < 200; n++) mallory.send({ type: 'send', id: 1000 + n, to: 'victim0', data: { n } })
  const more = await Promise.all(Array.from({ length: 200 }, async (_, n) => await mallory.next((f) => f.id === 1000 + n)))
  t.equal(more.filter((r) => r.type === 'ack').length, 180, '200 messages in the window in all')
  t.ok(more.filter((r) => r.type === 'error').every((r) => r.budget === 'messages'), 'then the messages budget')

  // Everyone else is untouched, and the SDK reports the refusal with its code.
  const alice = await sdkClient(t, stack.registryUrl, 'alice')
  t.equal((await alice.client.send('victim0', 'hi')).channel, 'dm:alice:victim0')
  const { client } = await sdkClient(t, stack.registryUrl, 'mallory')
  await t.rejects(client.send('victim1', 'again'), { code: 'QUOTA_EXCEEDED' }, 'the SDK rejects with the code')
  const err = await client.send('victim1', 'again').then(() => undefined, (e: unknown) => e as SwitchboardError)
  t.ok(err?.retryAfterMs !== undefined && err.retryAfterMs > 0, 'and when to try again')
})
