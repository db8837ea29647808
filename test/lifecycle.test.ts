/**
 * A socket server's life in the fleet, with real processes and real Redis: a crash and a pause
 * (a deaf relay and count drift: lifecycle-relay.test.ts; a drain: lifecycle-drain.test.ts).
 */
import t from 'tap'
import { TestClient, eventually } from './helpers/client.js'
import { allocatedServer, cluster, loads, nextHeartbeat, numbered } from './helpers/lifecycle.js'
import { sdkClient } from './helpers/sdk.js'
import type { SdkClient } from './helpers/sdk.js'

t.test('kill -9: evicted, never allocated again, its SDK clients recover elsewhere', async (t) => {
  const { c, redis, prefix } = await cluster(t, 3)
  const clients: SdkClient[] = []
  for (let i = 0; i < 6; i++) clients.push(await sdkClient(t, c.registryUrl, `u${i}`))
  const sender = await sdkClient(t, c.registryUrl, 'sender')
  // Every server holds two of the six; s1 holds u0 and u3.
  t.same(Object.keys(await loads(redis, prefix)).sort(), ['s1', 's2', 's3'])

  c.sockets[0]?.child.kill('SIGKILL')
  const sends: Array<Promise<unknown>> = []
  for (let n = 0; n < 10; n++) for (let i = 0; i < 6; i++) sends.push(sender.client.send(`u${i}`, { n }))
  await eventually(async () => !('s1' in await loads(redis, prefix)), 's1 evicted')
  for (let i = 0; i < 10; i++) t.not(await allocatedServer(c.registryUrl, `probe${i}`), 's1', 'never allocated after eviction')

  await Promise.all(sends)
  // A marker after the ten on each conversation: once a client has it, any duplicate would have come before it.
  await Promise.all(clients.map(async (_, i) => await sender.client.send(`u${i}`, 'marker')))
  for (const [i, client] of clients.entries()) {
    await eventually(() => client.messages.some((m) => m.data === 'marker'), `u${i} recovers`)
    t.same(numbered(client.messages, 'n'), [...Array(10).keys()], `u${i}: all ten, once, in order`)
  }
})

t.test('SIGSTOP past the timeout, then SIGCONT: evicted, then re-admitted with its true count, never twice', async (t) => {
  const { c, redis, prefix } = await cluster(t, 2)
  const held: TestClient[] = []
  for (let i = 0; i < 6; i++) held.push(await TestClient.connect(c.registryUrl, `p${i}`))
  t.teardown(() => { for (const h of held) h.close() })
  t.same(await loads(redis, prefix), { s1: 3, s2: 3 })

  c.sockets[0]?.child.kill('SIGSTOP')
  await eventually(async () => !('s1' in await loads(redis, prefix)), 's1 evicted while paused')
  c.sockets[0]?.child.kill('SIGCONT')
  await eventually(async () => (await loads(redis, prefix)).s1 !== undefined, 's1 re-admitted')
  for (let i = 0; i < 5; i++) {
    t.same(await loads(redis, prefix), { s1: 3, s2: 3 }, `count ${i}: the three connections it still holds, once`)
    await nextHeartbeat(redis, prefix, 's1')
  }
  // Its clients still work.
  const s1Client = held.find((h) => h.welcome?.server === 's1')
  const other = held.find((h) => h.welcome?.server === 's2')
  await other?.request({ type: 'send', to: String(s1Client?.welcome?.user), data: 'after the pause' })
  t.match(await s1Client?.next((f) => f.type === 'message' && f.data === 'after the pause'), { data: 'after the pause' })
})
