/**
 * A socket server's life in the fleet, with real processes and real Redis: a deaf relay, and a
 * corrupted load count.
 */
import t from 'tap'
import { keys } from '../plugins/names.js'
import { TestClient, eventually, sleep } from './helpers/client.js'
import { cluster, loads, numbered } from './helpers/lifecycle.js'
import { sdkClient } from './helpers/sdk.js'

t.test('CLIENT KILL TYPE pubsub under traffic: the servers heal the gap, nothing lost, no client disconnected', async (t) => {
  const { c, redis } = await cluster(t, 2)
  const alice = await sdkClient(t, c.registryUrl, 'alice')
  const bob = await sdkClient(t, c.registryUrl, 'bob')
  const killed = await redis.client('KILL', 'TYPE', 'pubsub')
  t.ok(Number(killed) >= 2, `killed ${String(killed)} subscriber connections`)
  const acked: number[] = []
  for (let n = 0; n < 30; n++) {
    await bob.client.send('alice', { n })
    acked.push(n)
    await sleep(20) // pacing: the messages are spread over the subscribers' reconnection
  }
  await bob.client.send('alice', 'marker') // once alice has it, any duplicate would have come before it
  await eventually(() => alice.messages.some((m) => m.data === 'marker'), 'every message')
  t.same(numbered(alice.messages.filter((m) => m.from === 'bob'), 'n'), acked,
    'messages published while the subscribers reconnected are recovered, once each')
  // The servers read the gap back from history themselves: neither client was disconnected.
  t.same([...alice.states, ...bob.states].filter((s) => s !== 'connected' && s !== 'connecting'), [], 'no client was disconnected')
})

t.test('count drift: a corrupted load is restored by reconciliation', async (t) => {
  const { c, redis, prefix } = await cluster(t, 1)
  const a = await TestClient.connect(c.registryUrl, 'a')
  const b = await TestClient.connect(c.registryUrl, 'b')
  t.teardown(() => { a.close(); b.close() })
  await redis.zadd(keys(prefix).load, 999, 's1')
  await eventually(async () => (await loads(redis, prefix)).s1 === 2, 'restored to 2')
  await redis.zadd(keys(prefix).load, -5, 's1')
  await eventually(async () => (await loads(redis, prefix)).s1 === 2, 'restored from below too')
  t.pass('reconciled')
})
