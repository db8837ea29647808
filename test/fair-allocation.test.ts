/**
 * Fair allocation (issue 15, case 1): what one caller can take from the fleet
 * through /allocate. A per-user cap on connections plus unused reservations,
 * fleet-wide; a per-user and a per-IP rate, counted in Redis; X-Forwarded-For
 * believed from listed proxies only, and set (not appended to) by nginx; a
 * store that fails is 503 STORE_UNAVAILABLE, never 500. Real registries, socket
 * servers, Redis and nginx.
 */
import t from 'tap'
import WebSocket from 'ws'
import { createClient } from '../client/sdk/index.js'
import type { WebSocketConstructor } from '../client/sdk/index.js'
import { startNginx } from '../infra/nginx/run.js'
import { TestClient } from './helpers/client.js'
import type { AllocationBody } from './helpers/client.js'
import { runCli, startProcessCluster, waitForHttp } from './helpers/processes.js'
import { freePort, sharedRedis, startRedisServer, uniquePrefix } from './helpers/redis.js'
import { BACKENDS, openStore, startRegistry, startSocket } from './helpers/stack.js'

interface Answer { status: number, code: string | undefined, retryAfter: string | null, body: AllocationBody }

async function ask (url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(url, { headers })
  const body = await response.json() as AllocationBody & { code?: string }
  return { status: response.status, code: body.code, retryAfter: response.headers.get('retry-after'), body }
}

async function fleetLoad (registryUrl: string): Promise<number> {
  const { servers } = await (await fetch(`${registryUrl}/servers`)).json() as { servers: Array<{ load: number }> }
  return servers.reduce((sum, s) => sum + s.load, 0)
}

t.test('one user cannot hold more than MAX_CONNECTIONS_PER_USER places across two socket servers (reservations + connections)', async (t) => {
  const redis = await sharedRedis()
  const cluster = await startProcessCluster(t, { redisUrl: redis.url, prefix: uniquePrefix(), sockets: 2, env: { MAX_CONNECTIONS_PER_USER: '10' } })
  const answers: Answer[] = []
  for (let i = 0; i < 30; i++) answers.push(await ask(`${cluster.registryUrl}/allocate?user=mallory`))
  t.same(answers.map((a) => a.status), [...Array(10).fill(200), ...Array(20).fill(429)], '10 allocations, then 429')
  t.same(new Set(answers.slice(10).map((a) => a.code)), new Set(['TOO_MANY_ALLOCATIONS']), 'with a documented code')
  t.ok(answers.slice(10).every((a) => Number(a.retryAfter) > 0), 'and Retry-After')
  t.same(new Set(answers.slice(0, 10).map((a) => a.body.server)), new Set(['s1', 's2']), 'the cap is fleet-wide: her places are on both servers')
  t.equal(await fleetLoad(cluster.registryUrl), 10, 'the fleet holds 10 places for her, not 30')
  t.equal((await ask(`${cluster.registryUrl}/allocate?user=alice`)).status, 200, 'an honest user still gets a place')

  // Connections count as much as the reservations they use; closing one frees a place.
  const clients: TestClient[] = []
  for (const a of answers.slice(0, 3)) {
    const client = new TestClient(`${a.body.url}?token=${encodeURIComponent(a.body.token)}`)
    await client.next((f) => f.type === 'welcome')
    clients.push(client)
  }
  t.teardown(() => { for (const c of clients) c.close() })
  t.equal((await ask(`${cluster.registryUrl}/allocate?user=mallory`)).code, 'TOO_MANY_ALLOCATIONS', 'connected: still at the cap')
  clients[0]?.close()
  await clients[0]?.closed
  let freed: Answer | undefined
  for (let i = 0; i < 50 && freed?.status !== 200; i++) {
    freed = await ask(`${cluster.registryUrl}/allocate?user=mallory`)
    if (freed.status !== 200) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.equal(freed?.status, 200, 'a closed connection gives its place back')
})

for (const backend of BACKENDS) {
  t.test(`${backend}: /allocate is rate-limited per user, whatever the IP`, async (t) => {
    const handle = await openStore(t, backend)
    await startSocket(t, handle, 's1')
    const { url } = await startRegistry(t, handle, { userLimits: { maxConnections: 100, allocateMax: 5, windowMs: 60_000 } })
    const statuses: number[] = []
    for (let i = 0; i < 7; i++) statuses.push((await ask(`${url}/allocate?user=eve`)).status)
    t.same(statuses, [200, 200, 200, 200, 200, 429, 429])
    const refused = await ask(`${url}/allocate?user=eve`)
    t.equal(refused.code, 'RATE_LIMITED')
    t.ok(Number(refused.retryAfter) > 0 && Number(refused.retryAfter) <= 60, `Retry-After ${refused.retryAfter ?? ''} s: the rest of the window`)
    t.equal((await ask(`${url}/allocate?user=frank`)).status, 200, 'another user from the same IP is not affected')
  })

  t.test(`${backend}: the SDK waits as long as a 429's Retry-After says before it allocates again`, async (t) => {
    const handle = await openStore(t, backend)
    await startSocket(t, handle, 's1')
    const { url } = await startRegistry(t, handle, { userLimits: { maxConnections: 100, allocateMax: 1, windowMs: 60_000 } })
    t.equal((await ask(`${url}/allocate?user=eve`)).status, 200, 'eve used her one allocation of the window')
    const refused = await ask(`${url}/allocate?user=eve`)
    const client = createClient({ registryUrl: url, auth: { user: 'eve' }, WebSocket: WebSocket as unknown as WebSocketConstructor, backoff: { baseMs: 10, maxMs: 20 } })
    t.teardown(() => client.close())
    client.ready.catch(() => {})
    const detail = await new Promise<{ delayMs?: number, reason?: string }>((resolve) => {
      client.on('state', (state, detail) => { if (state === 'reconnecting') resolve(detail) })
    })
    t.equal(client.state, 'reconnecting')
    t.match(detail.reason, /retry in/i, `the reason says why: ${detail.reason ?? ''}`)
    const delayMs = detail.delayMs ?? 0
    t.ok(delayMs >= (Number(refused.retryAfter) - 1) * 1000 && delayMs <= Number(refused.retryAfter) * 1000,
      `it waits ${delayMs} ms (Retry-After ${refused.retryAfter ?? ''} s), not its own 10-20 ms backoff`)
  })

  t.test(`${backend}: a draining server moves its clients even when their users are at the cap`, async (t) => {
    const handle = await openStore(t, backend)
    const s1 = await startSocket(t, handle, 's1')
    await startSocket(t, handle, 's2')
    const { url } = await startRegistry(t, handle, { userLimits: { maxConnections: 2, allocateMax: 0, windowMs: 60_000 } })
    const clients = [await TestClient.connect(url, 'mover'), await TestClient.connect(url, 'mover')]
    t.teardown(() => { for (const c of clients) c.close() })
    t.equal((await ask(`${url}/allocate?user=mover`)).code, 'TOO_MANY_ALLOCATIONS', 'at the cap')
    const onS1 = clients.filter((c) => c.welcome?.server === 's1')
    t.equal(onS1.length, 1, 'one of them is on s1')
    await s1.switchboardSocket.drain({ timeoutMs: 2000 })
    for (const client of onS1) t.match(await client.next((f) => f.type === 'reconnect'), { server: 's2' }, 'moved to s2 with a reservation')
  })
}

t.test('a spoofed X-Forwarded-For through nginx does not escape the per-IP limit (two registries, counted in Redis)', async (t) => {
  const redis = await sharedRedis()
  const prefix = uniquePrefix()
  const cluster = await startProcessCluster(t, {
    redisUrl: redis.url,
    prefix,
    sockets: 1,
    env: { ALLOCATE_RATE_MAX: '5', ALLOCATE_USER_RATE_MAX: '0', TRUSTED_PROXIES: '127.0.0.1' }
  })
  const port = await freePort()
  runCli(t, 'registry', {
    REDIS_URL: redis.url,
    TOKEN_SECRET: 'process-cluster-secret-0123456789',
    SB_PREFIX: prefix,
    HOST: '127.0.0.1',
    PORT: String(port),
    AUTH_MODE: 'dev',
    ALLOCATE_RATE_MAX: '5',
    ALLOCATE_USER_RATE_MAX: '0',
    TRUSTED_PROXIES: '127.0.0.1'
  })
  await waitForHttp(`http://127.0.0.1:${port}/healthz`)
  const nginx = await startNginx([Number(new URL(cluster.registryUrl).port), port])
  t.teardown(async () => { await nginx.stop() })
  const answers: Answer[] = []
  for (let i = 0; i < 12; i++) answers.push(await ask(`${nginx.url}/allocate?user=u${i}`, { 'x-forwarded-for': `10.${i}.0.1, 192.0.2.${i}` }))
  t.same(answers.map((a) => a.status), [...Array(5).fill(200), ...Array(7).fill(429)], 'a new fake address per request: still 5 a window')
  t.same(new Set(answers.slice(5).map((a) => a.code)), new Set(['RATE_LIMITED']))
  t.ok(answers.slice(5).every((a) => Number(a.retryAfter) > 0), 'with Retry-After')
})

t.test('/allocate with Redis down: 503 STORE_UNAVAILABLE with Retry-After (the per-IP limit\'s own call included), never 500', async (t) => {
  const redis = await startRedisServer()
  t.teardown(async () => { await redis.stop() })
  const port = await freePort()
  runCli(t, 'registry', {
    REDIS_URL: redis.url, TOKEN_SECRET: 'process-cluster-secret-0123456789', HOST: '127.0.0.1', PORT: String(port), AUTH_MODE: 'dev', ALLOCATE_RATE_MAX: '600'
  })
  await waitForHttp(`http://127.0.0.1:${port}/healthz`)
  t.equal((await ask(`http://127.0.0.1:${port}/allocate?user=alice`)).code, 'NO_CAPACITY', 'Redis up, no socket server')
  await redis.stop()
  for (const user of ['alice', 'bob']) {
    const answer = await ask(`http://127.0.0.1:${port}/allocate?user=${user}`)
    t.equal(answer.status, 503, `${user}: 503`)
    t.equal(answer.code, 'STORE_UNAVAILABLE', `${user}: STORE_UNAVAILABLE`)
    t.match(answer.retryAfter, /^[1-9]\d*$/, `${user}: Retry-After`)
  }
})
