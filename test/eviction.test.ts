/**
 * The health checker and a socket server it evicts: presence comes back when
 * the server is re-admitted (lifecycle.ts, presence.ts `reannounce`), and after
 * an outage of its own Redis the checker gives every server one timeout to
 * heartbeat again before it evicts anyone (plugins/health/index.ts).
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { healthPlugin } from '../plugins/health/index.js'
import { metricsPlugin } from '../plugins/metrics/index.js'
import { keys } from '../plugins/names.js'
import { redisPlugin } from '../plugins/redis/index.js'
import { storePlugin } from '../plugins/store/index.js'
import type { ServerRecord } from '../plugins/store/index.js'
import { TestClient, eventually } from './helpers/client.js'
import { startRedisServer, uniquePrefix } from './helpers/redis.js'
import { BACKENDS, openStore, startRegistry, startSocket } from './helpers/stack.js'

const TIMEOUT_MS = 1000

/** A health checker on the store (`register` adds it), sweeping only when told to. */
async function startHealth (t: { teardown (fn: () => unknown): void }, register: (app: FastifyInstance) => Promise<void>): Promise<FastifyInstance> {
  const app = Fastify({ logger: { level: process.env.TEST_LOG ?? 'silent' } })
  t.teardown(async () => { await app.close() })
  await register(app)
  await app.register(healthPlugin, { intervalMs: 3_600_000, heartbeatTimeoutMs: TIMEOUT_MS })
  await app.ready()
  return app
}

for (const backend of BACKENDS) {
  t.test(`${backend}: a socket server evicted while alive announces its users' presence again when it is re-admitted`, async (t) => {
    const handle = await openStore(t, backend)
    // s1 heartbeats only when told to, so that it goes stale while its clients stay connected.
    const s1 = await startSocket(t, handle, 's1', { socket: { heartbeatMs: 3_600_000 } })
    await startSocket(t, handle, 's2')
    const { url } = await startRegistry(t, handle)
    const alice = await TestClient.connect(url, 'alice')
    const bob = await TestClient.connect(url, 'bob')
    t.teardown(() => { alice.close(); bob.close() })
    t.same([alice.welcome?.server, bob.welcome?.server], ['s1', 's2'], 'alice on s1, bob on s2')
    await alice.request({ type: 'join', room: 'r' })
    await bob.request({ type: 'join', room: 'r' })
    const presence = async (channel: string): Promise<unknown> => (await bob.request({ type: 'presence', channel })).users
    t.same(await presence('room:r'), ['alice', 'bob'])

    const health = await startHealth(t, handle.register)
    await eventually(async () => (await health.switchboardHealth.sweep()).includes('s1'), 10_000, 's1 to be evicted')
    t.match(await bob.next((f) => f.type === 'leave' && f.user === 'alice'), { channel: 'room:r' }, 'bob is told alice left')
    t.same(await presence('room:r'), ['bob'], 'her presence went with s1')
    t.same(await presence('user:alice'), [], 'on her personal channel too')

    await s1.switchboardSocket.heartbeat()
    t.match(await bob.next((f) => f.type === 'join' && f.user === 'alice'), { channel: 'room:r' }, 're-admitted: bob is told alice is back')
    t.same(await presence('room:r'), ['alice', 'bob'], 'her presence is recorded again')
    t.same(await presence('user:alice'), ['alice'], 'her personal channel\'s too')
    await alice.request({ type: 'publish', channel: 'room:r', data: 'still here' })
    t.match(await bob.next((f) => f.type === 'message'), { from: 'alice', data: 'still here' }, 'and her connection works')
  })
}

t.test('after an outage of its Redis, the health checker gives servers one timeout to heartbeat before evicting them', async (t) => {
  // Redis that keeps its data across a restart (append-only file, fsync on every write), so servers'
  // last heartbeats are still there, and already stale, when it comes back.
  const dir = mkdtempSync(join(tmpdir(), 'sb-outage-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const persistent = ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir]
  let redis = await startRedisServer(persistent)
  t.teardown(async () => { await redis.stop() })
  const prefix = uniquePrefix()
  const health = await startHealth(t, async (app) => {
    await app.register(metricsPlugin, { defaultMetrics: false })
    await app.register(redisPlugin, { url: redis.url })
    await app.register(storePlugin, { type: 'redis', prefix })
  })
  // The servers' heartbeats, written as theirs would be (the checker's store is as good as any).
  const store = health.switchboardStore
  const record = (id: string): ServerRecord => ({ id, url: `ws://127.0.0.1:1/${id}`, capacity: 10, draining: false, startedAt: Date.now() })
  await store.heartbeat(record('gone'), 0)
  await eventually(async () => {
    await store.heartbeat(record('live'), 0)
    return (await health.switchboardHealth.sweep()).includes('gone')
  }, 10_000, 'a server that stopped heartbeating to be evicted')
  t.pass('before the outage, a stale server is evicted')

  await store.heartbeat(record('live'), 0)
  const lastBeat = Date.now()
  await redis.stop()
  await t.rejects(health.switchboardHealth.sweep(), 'a sweep during the outage fails')
  // While Redis is away, 'live' cannot heartbeat either: by the time it is back, its heartbeat is stale.
  await eventually(() => Date.now() - lastBeat > TIMEOUT_MS + 200, 5000, 'the timeout to pass during the outage')
  redis = await startRedisServer(persistent, { port: redis.port })
  const direct = new Redis(redis.url)
  t.teardown(() => direct.disconnect())
  const [seconds, micros] = await direct.time()
  const beat = Number(await direct.zscore(keys(prefix).alive, 'live'))
  t.ok(Number(seconds) * 1000 + Number(micros) / 1000 - beat > TIMEOUT_MS, 'Redis came back with the server\'s last heartbeat, stale')

  let first: string[] | undefined
  let answeredAt = 0
  await eventually(async () => {
    answeredAt = Date.now()
    first = await health.switchboardHealth.sweep().catch(() => undefined)
    return first !== undefined
  }, 10_000, 'a sweep to succeed again')
  t.same(first, [], 'the first sweep after the outage evicts nothing')
  t.ok((await store.listServers()).some((s) => s.id === 'live'), 'the stale server is still in the fleet')

  await eventually(async () => (await health.switchboardHealth.sweep()).includes('live'), 10_000, 'the grace to end')
  t.ok(Date.now() - answeredAt >= TIMEOUT_MS, `evicted once a whole timeout (${TIMEOUT_MS} ms) passed with the store answering (${Date.now() - answeredAt} ms)`)
})
