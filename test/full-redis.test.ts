/**
 * Liveness independent of data (issue 15, case 2): a Redis at maxmemory
 * (noeviction) refuses every write that may grow memory. The fleet's own
 * scripts run anyway (allow-oom), so for 30 s of a full Redis every socket
 * server stays alive and allocated, its clients stay connected, sends fail with
 * a clear UNAVAILABLE ("full"), presence updates refused meanwhile are recorded
 * again afterwards, and when memory frees everything resumes by itself with
 * nothing acknowledged lost. Real Redis, two socket servers, a registry (with
 * its per-IP limit on), a health checker, the SDK.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { isStoreFull } from '../plugins/store/full.js'
import { TestClient, eventually, sleep } from './helpers/client.js'
import { startProcessCluster } from './helpers/processes.js'
import { startRedisServer, uniquePrefix } from './helpers/redis.js'
import { sdkClient } from './helpers/sdk.js'
import { Traffic } from './helpers/traffic.js'

const FULL_FOR_MS = 30_000

t.test('a Redis at maxmemory for 30 s: the fleet stays allocated and connected, then sending resumes with nothing acknowledged lost', async (t) => {
  const redis = await startRedisServer()
  t.teardown(async () => { await redis.stop() })
  const cluster = await startProcessCluster(t, {
    redisUrl: redis.url,
    prefix: uniquePrefix(),
    sockets: 2,
    health: true,
    // The per-IP limit is on: its counter must keep working too.
    env: { ALLOCATE_RATE_MAX: '100000', LOG_LEVEL: 'warn' }
  })
  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())

  const alice = await sdkClient(t, cluster.registryUrl, 'alice')
  const bob = await sdkClient(t, cluster.registryUrl, 'bob')
  t.not(alice.client.server, bob.client.server, 'alice and bob are on different servers')
  await alice.client.join('full')
  await bob.client.join('full')
  const dave = await TestClient.connect(cluster.registryUrl, 'dave')
  t.teardown(() => dave.close())
  ;(await TestClient.connect(cluster.registryUrl, 'carol')).close()
  const traffic = new Traffic(alice, bob, 'full', 'bob', 'full')
  traffic.start()
  await eventually(() => traffic.acked.dm.length > 5 && traffic.acked.room.length > 5, 'traffic before the fill')

  // Fill Redis: 16 MB of filler keys, then maxmemory 2 MB below what it uses, so it stays over the
  // limit however a write or a freed buffer moves its usage by a few kB.
  const FILLERS = 256
  for (let i = 0; i < FILLERS; i++) await admin.set(`filler:${i}`, 'x'.repeat(64 * 1024))
  await admin.config('SET', 'maxmemory-policy', 'noeviction')
  const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1])
  await admin.config('SET', 'maxmemory', String(used - 2 * 1024 * 1024))
  const isFull = async (): Promise<boolean> => await admin.set('probe', '1').then(() => false, (err: unknown) => isStoreFull(err))
  t.ok(await isFull(), 'Redis refuses writes (OOM)')
  const fullSince = Date.now()
  const ackedAtFill = { dm: traffic.acked.dm.length, room: traffic.acked.room.length }
  const states = { alice: alice.states.length, bob: bob.states.length }

  const refused = await dave.request({ type: 'send', to: 'alice', data: 'while full', mid: 'dave-1' })
  t.match(refused, { type: 'error', code: 'UNAVAILABLE', message: /full/ }, 'a send fails with UNAVAILABLE, saying the store is full')
  const carol = await TestClient.connect(cluster.registryUrl, 'carol')
  t.teardown(() => carol.close())
  t.same((await dave.request({ type: 'presence', channel: 'user:carol' })).users, [], 'carol connected, but her presence entry was refused')
  // A user never seen before stores nothing to connect: her personal channel gets its history from its first notice.
  const newcomer = await TestClient.connect(cluster.registryUrl, 'newcomer')
  t.teardown(() => newcomer.close())
  t.match(newcomer.welcome, { type: 'welcome', channel: 'user:newcomer', epoch: '-', offset: '0-0' }, 'a brand-new user connects too')

  let checks = 0
  while (Date.now() - fullSince < FULL_FOR_MS) {
    if (!await isFull()) t.fail('Redis accepted a write: it is no longer full')
    const { servers } = await (await fetch(`${cluster.registryUrl}/servers`)).json() as { servers: Array<{ id: string, alive: boolean }> }
    const alive = servers.filter((s) => s.alive).map((s) => s.id).sort()
    if (alive.join() !== 's1,s2') t.fail(`${Math.round((Date.now() - fullSince) / 1000)} s into the full Redis, alive: ${alive.join() || 'none'}`)
    const allocation = await fetch(`${cluster.registryUrl}/allocate?user=probe${checks}`)
    if (allocation.status !== 200) t.fail(`allocation answered ${allocation.status}: ${await allocation.text()}`)
    if (alice.states.length !== states.alice || bob.states.length !== states.bob) t.fail(`a client lost its connection: ${[...alice.states, ...bob.states].join(',')}`)
    checks++
    await sleep(1000)
  }
  t.ok(checks >= 20, `${checks} checks over ${FULL_FOR_MS / 1000} s: both servers alive, /allocate answering 200, alice and bob connected throughout`)
  t.notMatch(cluster.output(), /evicted socket server/, 'the health checker evicted no one')
  const ackedWhileFull = { dm: traffic.acked.dm.length, room: traffic.acked.room.length }

  // Free the memory: everything resumes by itself.
  await admin.config('SET', 'maxmemory', '0')
  await admin.del(...Array.from({ length: FILLERS }, (_, i) => `filler:${i}`))
  await eventually(() => traffic.acked.dm.length > ackedWhileFull.dm + 5 && traffic.acked.room.length > ackedWhileFull.room + 5, 30_000,
    'sends to be acknowledged again')
  await eventually(async () => {
    const reply = await dave.request({ type: 'presence', channel: 'user:carol' })
    return JSON.stringify(reply.users) === '["carol"]'
  }, 'carol\'s refused presence to be recorded again')
  t.pass('the presence refused while full was recorded again')
  await traffic.stop()
  // The SDK retries a send refused with UNAVAILABLE for up to 30 s, in order, so while Redis is full
  // nothing is acknowledged beyond the one send per loop that may have been stored just before the
  // fill; whether the held send then succeeds or gives up depends on when memory frees.
  t.ok(ackedWhileFull.dm - ackedAtFill.dm <= 1 && ackedWhileFull.room - ackedAtFill.room <= 1,
    `nothing was acknowledged while Redis was full (${ackedWhileFull.dm - ackedAtFill.dm} DMs, ${ackedWhileFull.room - ackedAtFill.room} room messages, ` +
    `${traffic.failed.dm + traffic.failed.room} given up after the SDK's retries)`)
  await traffic.verify(t)
})
