/**
 * A socket server's life in the fleet, with real processes and real Redis:
 * crash, pause, deaf relay, drift, drain.
 */
import t from 'tap'
import type { Test } from 'tap'
import { Redis } from 'ioredis'
import { TestClient, eventually, sleep } from './helpers/client.js'
import { startProcessCluster } from './helpers/processes.js'
import type { ProcessCluster } from './helpers/processes.js'
import { keys } from '../plugins/names.js'
import { sharedRedis, uniquePrefix } from './helpers/redis.js'
import { sdkClient } from './helpers/sdk.js'
import type { SdkClient } from './helpers/sdk.js'

const FAST = { HEARTBEAT_TIMEOUT_MS: '1000', HEALTH_INTERVAL_MS: '100', LOG_LEVEL: 'warn' }

async function cluster (t: Test, sockets: number, env: Record<string, string> = {}): Promise<{ c: ProcessCluster, redis: Redis, prefix: string }> {
  const server = await sharedRedis()
  const prefix = uniquePrefix()
  const c = await startProcessCluster(t, { redisUrl: server.url, prefix, sockets, health: true, env: { ...FAST, ...env } })
  const redis = new Redis(server.url)
  t.teardown(() => redis.disconnect())
  return { c, redis, prefix }
}

async function loads (redis: Redis, prefix: string): Promise<Record<string, number>> {
  const flat = await redis.zrange(keys(prefix).load, 0, -1, 'WITHSCORES')
  const out: Record<string, number> = {}
  for (let i = 0; i < flat.length; i += 2) out[flat[i] as string] = Number(flat[i + 1])
  return out
}

async function allocatedServer (registryUrl: string, user: string): Promise<string | null> {
  const response = await fetch(`${registryUrl}/allocate?user=${user}`)
  return response.status === 200 ? ((await response.json()) as { server: string }).server : null
}

t.test('kill -9: evicted within the timeout, never allocated again, its SDK clients recover elsewhere', async (t) => {
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
  for (const [i, client] of clients.entries()) {
    await eventually(() => client.messages.length >= 10, `u${i} recovers`)
    await sleep(50)
    t.same(client.messages.map((m) => (m.data as { n: number }).n), [...Array(10).keys()], `u${i}: all ten, once, in order`)
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
    await sleep(250)
  }
  // Its clients still work.
  const s1Client = held.find((h) => h.welcome?.server === 's1')
  const other = held.find((h) => h.welcome?.server === 's2')
  await other?.request({ type: 'send', to: String(s1Client?.welcome?.user), data: 'after the pause' })
  t.match(await s1Client?.next((f) => f.type === 'message' && f.data === 'after the pause'), { data: 'after the pause' })
})

t.test('deaf relay: CLIENT KILL of the subscribers; delivery resumes within 3 s, nothing lost', async (t) => {
  const { c, redis } = await cluster(t, 2)
  const alice = await sdkClient(t, c.registryUrl, 'alice')
  const bob = await sdkClient(t, c.registryUrl, 'bob')
  const killed = await redis.client('KILL', 'TYPE', 'pubsub')
  t.ok(Number(killed) >= 2, `killed ${String(killed)} subscriber connections`)
  const acked: number[] = []
  for (let n = 0; n < 30; n++) {
    await bob.client.send('alice', { n })
    acked.push(n)
    await sleep(20)
  }
  await eventually(() => alice.messages.filter((m) => m.from === 'bob').length >= 1, 'delivery to resume')
  await eventually(() => alice.messages.filter((m) => m.from === 'bob').length >= 30, 'every message')
  await sleep(200)
  t.same(alice.messages.filter((m) => m.from === 'bob').map((m) => (m.data as { n: number }).n), acked,
    'messages published while the subscribers reconnected are recovered, once each')
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

t.test('drain: SIGTERM a server holding 200 chatting SDK clients; all move, nothing lost or doubled', async (t) => {
  const { c, redis, prefix } = await cluster(t, 3, { DRAIN_TIMEOUT_MS: '20000' })
  const clients: SdkClient[] = []
  for (let i = 0; i < 200; i++) clients.push(await sdkClient(t, c.registryUrl, `d${i}`))
  const before = await loads(redis, prefix)
  t.ok((before.s1 ?? 0) >= 60, `s1 holds ${before.s1} clients`)

  // Everyone sends to the next one, in rounds, before, during and after the drain.
  const acked = new Map<string, number[]>()
  let round = 0
  const state = { chatting: true }
  const chatter = (async () => {
    while (state.chatting || round < 6) {
      const r = round++
      await Promise.all(clients.map(async (client, i) => {
        const to = `d${(i + 1) % clients.length}`
        await client.client.send(to, { r })
        const list = acked.get(to) ?? []
        list.push(r)
        acked.set(to, list)
      }))
      await sleep(30)
    }
  })()
  await sleep(100)
  const s1 = c.sockets[0]
  s1?.child.kill('SIGTERM')
  t.equal(await s1?.exited, 0, 'the drained server exits cleanly')
  state.chatting = false
  await chatter
  await eventually(async () => !('s1' in await loads(redis, prefix)), 'deregistered')
  t.same(Object.keys(await loads(redis, prefix)).sort(), ['s2', 's3'], 's1 left the fleet')

  for (const [i, client] of clients.entries()) {
    const expected = (acked.get(`d${i}`) ?? []).sort((a, b) => a - b)
    await eventually(() => client.messages.filter((m) => m.to === `d${i}`).length >= expected.length, `d${i} has every message`)
  }
  await sleep(200)
  let perfect = 0
  for (const [i, client] of clients.entries()) {
    // Messages to d{i} (its own sends come back as copies on the same channel, with to: d{i+1}).
    const got = client.messages.filter((m) => m.to === `d${i}`).map((m) => (m.data as { r: number }).r)
    const expected = (acked.get(`d${i}`) ?? []).sort((a, b) => a - b)
    if (JSON.stringify(got) === JSON.stringify(expected)) perfect++
    else t.same(got, expected, `d${i}: every acknowledged message once, in order`)
    t.equal(client.client.state, 'connected')
  }
  t.equal(perfect, 200, 'all 200 clients got exactly what was acknowledged to them')
  const after = await loads(redis, prefix)
  t.equal((after.s2 ?? 0) + (after.s3 ?? 0), 200, 'all 200 clients are on s2 and s3, counted once')
})
