/**
 * GET /metrics on every component: the text parses (strictly) as Prometheus
 * exposition format, and the counters move with traffic by exactly what the
 * traffic did. The components are the real roles from servers/app.ts on a
 * real Redis: a registry, two socket servers, a health checker, and a socket
 * server process that is killed so the health checker evicts it.
 */
import t from 'tap'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { buildHealth, buildRegistry, buildSocket, buildStandalone } from '../servers/app.js'
import { healthConfig, registryConfig, socketConfig, standaloneConfig } from '../servers/config.js'
import { messagePrefix } from '../plugins/socket/frames.js'
import { finishFrame, liveFrame } from '../plugins/store/message-frame.js'
import { appendedAt } from '../plugins/socket/meter.js'
import { TestClient, eventually } from './helpers/client.js'
import type { Frame } from './helpers/client.js'
import { runCli, waitForHttp } from './helpers/processes.js'
import { parsePrometheusText, sampleValue } from './helpers/prometheus.js'
import type { Family } from './helpers/prometheus.js'
import { freePort, sharedRedis, startRedisServer, uniquePrefix } from './helpers/redis.js'

const ADMIN_TOKEN = 'metrics-test-admin-token-0123'
const SWITCHBOARD_FAMILIES = [
  'switchboard_connections', 'switchboard_allocations_total', 'switchboard_messages_in_total', 'switchboard_messages_out_total',
  'switchboard_relay_latency_seconds', 'switchboard_redis_errors_total', 'switchboard_redis_reconnects_total', 'switchboard_evictions_total',
  'switchboard_drains_total', 'switchboard_draining', 'switchboard_slow_consumer_closes_total', 'switchboard_rate_limited_total',
  'switchboard_relay_gaps_total', 'switchboard_relay_gap_messages_total'
]

async function scrape (url: string, headers: Record<string, string> = {}): Promise<Map<string, Family>> {
  const response = await fetch(`${url}/metrics`, { headers })
  if (response.status !== 200) throw new Error(`GET ${url}/metrics: ${response.status} ${await response.text()}`)
  const type = response.headers.get('content-type') ?? ''
  if (!type.startsWith('text/plain; version=0.0.4')) throw new Error(`content-type ${type}`)
  return parsePrometheusText(await response.text())
}

/** One sample's value, read fresh from a component. */
async function metric (url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return sampleValue(await scrape(url), name, labels)
}

async function listen (t: Test, app: FastifyInstance): Promise<string> {
  t.teardown(async () => { await app.close() })
  return await app.listen({ host: '127.0.0.1', port: 0 })
}

t.test('the strict parser refuses what the format does not allow', async (t) => {
  const good = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 2\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n'
  t.equal(sampleValue(parsePrometheusText(good), 'a_total', { x: '1' }), 2)
  const bad = {
    'no trailing newline': 'a 1',
    'garbage line': 'this is not a sample\n',
    'bad value': 'a one\n',
    'unquoted label': 'a{x=1} 1\n',
    'bad escape': 'a{x="\\t"} 1\n',
    'repeated series': 'a 1\na 2\n',
    'split family': 'a{x="1"} 1\nb 1\na{x="2"} 1\n',
    'TYPE after samples': 'a 1\n# TYPE a counter\n',
    'unknown type': '# TYPE a thing\na 1\n',
    'histogram without +Inf': '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',
    '+Inf is not _count': '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n',
    'buckets not cumulative': '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="2"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n'
  }
  for (const [why, text] of Object.entries(bad)) t.throws(() => parsePrometheusText(text), why)
})

t.test('relay latency is read from the offset of a relayed frame', async (t) => {
  // As the meter gets it: the frame the store hands on, with the offset it read from the frame's last field.
  const message = liveFrame('room:r', finishFrame(messagePrefix('room:r', 'alice', null, '{"offset":"5-0","prev":"6-0","epoch":"x"}', 1, 'm1'), 'E1', '1700000000122-0', '1700000000123-4'))
  t.equal(message.offset, '1700000000123-4', 'the last offset field, not one in the data')
  t.equal(message.prev, '1700000000122-0', 'and the prev and epoch fields before it')
  t.equal(message.epoch, 'E1')
  t.equal(appendedAt(message.offset), 1700000000123, 'the last offset field, not one in the data')
  const presence = liveFrame('room:r', '{"type":"join","channel":"room:r","user":"bob"}')
  t.equal(presence.offset, undefined)
  t.equal(appendedAt(presence.offset), undefined, 'presence events have none')
})

t.test('every component serves /metrics, and the counters move with traffic', async (t) => {
  const redisServer = await sharedRedis()
  const prefix = uniquePrefix()
  const common = { REDIS_URL: redisServer.url, TOKEN_SECRET: 'metrics-test-secret-0123456789', SB_PREFIX: prefix, LOG_LEVEL: 'silent', HEARTBEAT_TIMEOUT_MS: '1000' }
  const socketEnv = { ...common, HEARTBEAT_MS: '100', CAPACITY: '3', ADMIN_TOKEN, FRAME_RATE: '1', FRAME_BURST: '20', DRAIN_TIMEOUT_MS: '5000' }
  const s1 = await listen(t, await buildSocket(socketConfig({ ...socketEnv, SERVER_ID: 's1' })))
  const s2 = await listen(t, await buildSocket(socketConfig({ ...socketEnv, SERVER_ID: 's2' })))
  const registry = await listen(t, await buildRegistry(registryConfig({ ...common, AUTH_MODE: 'dev', ALLOCATE_RATE_MAX: '8', ALLOCATE_RATE_WINDOW_MS: '60000' })))
  const health = await listen(t, await buildHealth(healthConfig({ ...common, HEALTH_INTERVAL_MS: '50' })))
  const clients: TestClient[] = []
  t.teardown(() => { for (const client of clients) client.close() })
  const connect = async (user: string): Promise<TestClient> => {
    const client = await TestClient.connect(registry, user)
    clients.push(client)
    return client
  }

  await t.test('each component exposes the Switchboard families and the process metrics, under one prefix', async (t) => {
    for (const url of [registry, s1, s2, health]) {
      const families = await scrape(url)
      for (const name of SWITCHBOARD_FAMILIES) t.ok(families.has(name), `${url}: ${name}`)
      t.equal(families.get('switchboard_relay_latency_seconds')?.type, 'histogram')
      t.equal(families.get('switchboard_allocations_total')?.type, 'counter')
      t.equal(families.get('switchboard_connections')?.type, 'gauge')
      t.ok(families.has('switchboard_process_cpu_user_seconds_total') && families.has('switchboard_nodejs_eventloop_lag_seconds'), 'process metrics')
      t.notOk([...families.keys()].some((name) => !name.startsWith('switchboard_')), 'nothing without the prefix')
    }
    t.equal(await metric(s1, 'switchboard_connections', { server: 's1' }), 0, 'socket servers label their series with their id')
    t.equal(await metric(s2, 'switchboard_drains_total', { server: 's2' }), 0)
  })

  // Every /allocate the test makes, by HTTP status: the registry's outcomes must match them one for one.
  const statuses: Record<number, number> = {}
  const allocate = async (query: string): Promise<Response> => {
    const response = await fetch(`${registry}/allocate${query}`)
    statuses[response.status] = (statuses[response.status] ?? 0) + 1
    return response
  }

  let alice: TestClient, bob: TestClient, mallory: TestClient
  await t.test('allocations and connections', async (t) => {
    t.equal((await allocate('')).status, 401, 'no user: unauthorized')
    alice = await connect('alice')
    bob = await connect('bob')
    mallory = await connect('mallory')
    statuses[200] = 3 // TestClient.connect allocated for each
    t.same([alice.welcome?.server, bob.welcome?.server, mallory.welcome?.server], ['s1', 's2', 's1'], 'least loaded first')
    t.equal(await metric(registry, 'switchboard_allocations_total', { outcome: 'ok' }), 3)
    t.equal(await metric(registry, 'switchboard_allocations_total', { outcome: 'unauthorized' }), 1)
    t.equal(await metric(s1, 'switchboard_connections'), 2)
    t.equal(await metric(s2, 'switchboard_connections'), 1)
  })

  await t.test('messages in and out, and the relay latency between two servers', async (t) => {
    const before = {
      in1: await metric(s1, 'switchboard_messages_in_total', { type: 'send' }),
      out1: await metric(s1, 'switchboard_messages_out_total'),
      out2: await metric(s2, 'switchboard_messages_out_total'),
      relayed1: await metric(s1, 'switchboard_relay_latency_seconds_count'),
      relayed2: await metric(s2, 'switchboard_relay_latency_seconds_count')
    }
    const n = 5
    for (let i = 0; i < n; i++) t.equal((await alice.request({ type: 'send', to: 'bob', data: { i }, mid: `m${i}` })).type, 'ack')
    for (let i = 0; i < n; i++) await bob.next((f) => f.type === 'message' && f.from === 'alice')
    for (let i = 0; i < n; i++) await alice.next((f) => f.type === 'message' && f.channel === 'dm:alice:bob')
    t.equal(await metric(s1, 'switchboard_messages_in_total', { type: 'send' }) - before.in1, n, 'alice\'s sends, on her server')
    t.equal(await metric(s2, 'switchboard_messages_in_total', { type: 'send' }), 0, 'none on bob\'s')
    t.equal(await metric(s2, 'switchboard_messages_out_total') - before.out2, n, 'bob\'s server wrote him each message')
    t.equal(await metric(s1, 'switchboard_messages_out_total') - before.out1, 2 * n, 'alice\'s server wrote her each ack and each message')
    t.equal(await metric(s2, 'switchboard_relay_latency_seconds_count') - before.relayed2, n, 'each message crossed to bob\'s server once')
    t.equal(await metric(s1, 'switchboard_relay_latency_seconds_count') - before.relayed1, n, 'and came back to alice\'s')
    const latency = await metric(s2, 'switchboard_relay_latency_seconds_sum')
    t.ok(latency >= 0 && latency < n * 2, `relay latency is plausible (${latency} s for ${n} messages)`)
    t.equal(await metric(s2, 'switchboard_relay_latency_seconds_bucket', { le: '+Inf' }), n)
  })

  await t.test('a flood of frames: every RATE_LIMITED error is counted, every accepted frame too', async (t) => {
    const presenceBefore = await metric(s1, 'switchboard_messages_in_total', { type: 'presence' })
    const frames = 25 // above the burst of 20, below the 20 consecutive refusals that close
    for (let i = 0; i < frames; i++) mallory.send({ type: 'presence', id: 1000 + i, channel: 'user:alice' })
    const answers: Frame[] = []
    for (let i = 0; i < frames; i++) answers.push(await mallory.next((f) => f.type === 'presence' || (f.type === 'error' && f.code === 'RATE_LIMITED')))
    const limited = answers.filter((f) => f.type === 'error').length
    t.ok(limited > 0, `${limited} of ${frames} refused`)
    t.equal(await metric(s1, 'switchboard_rate_limited_total', { kind: 'frame' }), limited)
    t.equal(await metric(s1, 'switchboard_messages_in_total', { type: 'presence' }) - presenceBefore, frames - limited)
  })

  await t.test('a drain is counted, and its clients move', async (t) => {
    const response = await fetch(`${s2}/drain`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    t.equal(response.status, 202)
    const moved = await bob.next((f) => f.type === 'reconnect')
    t.equal(moved.server, 's1')
    await bob.closed
    clients.push(bob = new TestClient(`${moved.url as string}?token=${encodeURIComponent(moved.token as string)}`))
    await bob.next((f) => f.type === 'welcome')
    t.equal(await metric(s2, 'switchboard_drains_total'), 1)
    t.equal(await metric(s2, 'switchboard_draining'), 1)
    t.equal(await metric(s1, 'switchboard_drains_total'), 0)
    await eventually(async () => await metric(s2, 'switchboard_connections') === 0, 's2 empty')
    t.equal(await metric(s1, 'switchboard_connections'), 3)
    t.equal(await metric(registry, 'switchboard_allocations_total', { outcome: 'ok' }), 3, 'moving a client is not an /allocate')
  })

  await t.test('no capacity, then the per-IP rate limit: one outcome per request', async (t) => {
    for (let i = 0; i < 20 && (statuses[429] ?? 0) === 0; i++) await allocate('?user=zed')
    t.ok((statuses[503] ?? 0) > 0, 's1 is full and s2 draining: NO_CAPACITY')
    t.equal(statuses[429], 1, 'then the limit')
    const outcomes: Record<string, number> = { ok: 200, unauthorized: 401, no_capacity: 503, rate_limited: 429 }
    for (const [outcome, status] of Object.entries(outcomes)) {
      t.equal(await metric(registry, 'switchboard_allocations_total', { outcome }), statuses[status] ?? 0, `${outcome}: one per ${status} answer`)
    }
    t.equal(await metric(registry, 'switchboard_allocations_total', { outcome: 'error' }), 0)
    t.equal(await metric(registry, 'switchboard_rate_limited_total', { kind: 'allocate' }), 1)
  })

  await t.test('a socket server that dies is evicted, once, by the health checker', async (t) => {
    const port = await freePort()
    const dead = runCli(t, 'socket', { ...socketEnv, LOG_LEVEL: 'warn', HOST: '127.0.0.1', PORT: String(port), SERVER_ID: 's3' })
    await waitForHttp(`http://127.0.0.1:${port}/healthz`)
    await eventually(async () => {
      const { servers } = await (await fetch(`${registry}/servers`)).json() as { servers: Array<{ id: string, alive: boolean }> }
      return servers.some((s) => s.id === 's3' && s.alive)
    }, 's3 registered')
    t.equal(await metric(health, 'switchboard_evictions_total'), 0)
    await dead.stop('SIGKILL')
    await eventually(async () => await metric(health, 'switchboard_evictions_total') === 1, 's3 evicted')
    t.equal(((await (await fetch(`${health}/healthz`)).json()) as { evictions: number }).evictions, 1, 'the same count as /healthz')
  })

  await t.test('Redis reconnections are counted per connection', async (t) => {
    const admin = new Redis(redisServer.url)
    t.teardown(() => admin.disconnect())
    t.equal(await metric(s1, 'switchboard_redis_reconnects_total', { connection: 'subscriber' }), 0)
    await admin.client('KILL', 'TYPE', 'pubsub')
    await eventually(async () => await metric(s1, 'switchboard_redis_reconnects_total', { connection: 'subscriber' }) >= 1, 'the subscriber reconnects')
    t.equal(await metric(s1, 'switchboard_redis_reconnects_total', { connection: 'command' }), 0, 'the command connection was left alone')
  })
})

t.test('METRICS_TOKEN puts /metrics behind a bearer token', async (t) => {
  const redisServer = await sharedRedis()
  const token = 'metrics-bearer-token-0123456789'
  const url = await listen(t, await buildHealth(healthConfig({ REDIS_URL: redisServer.url, SB_PREFIX: uniquePrefix(), LOG_LEVEL: 'silent', METRICS_TOKEN: token })))
  t.equal((await fetch(`${url}/metrics`)).status, 401, 'no token')
  t.equal((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer not-the-token-0123456789' } })).status, 401, 'a wrong one')
  t.ok(sampleValue(await scrape(url, { authorization: `Bearer ${token}` }), 'switchboard_evictions_total') >= 0, 'the right one')
})

t.test('standalone serves one /metrics for its registry, socket server and health checker, on the memory store', async (t) => {
  const url = await listen(t, await buildStandalone(standaloneConfig({ LOG_LEVEL: 'silent' })))
  for (const name of SWITCHBOARD_FAMILIES) t.ok((await scrape(url)).has(name), name)
  const alice = await TestClient.connect(url, 'alice')
  const bob = await TestClient.connect(url, 'bob')
  t.teardown(() => { alice.close(); bob.close() })
  t.equal(await metric(url, 'switchboard_allocations_total', { outcome: 'ok' }), 2)
  t.equal(await metric(url, 'switchboard_connections'), 2)
  t.equal((await alice.request({ type: 'send', to: 'bob', data: 'hi' })).type, 'ack')
  await bob.next((f) => f.type === 'message')
  t.equal(await metric(url, 'switchboard_relay_latency_seconds_count'), 2, 'the message and alice\'s copy, relayed through the memory store')
  t.equal(await metric(url, 'switchboard_messages_in_total', { type: 'send' }), 1)
})

t.test('Redis errors and reconnects are counted while Redis is away', async (t) => {
  const redisServer = await startRedisServer()
  t.teardown(async () => { await redisServer.stop() })
  const url = await listen(t, await buildHealth(healthConfig({ REDIS_URL: redisServer.url, SB_PREFIX: uniquePrefix(), LOG_LEVEL: 'silent', HEALTH_INTERVAL_MS: '50' })))
  t.equal(await metric(url, 'switchboard_redis_errors_total'), 0)
  await redisServer.stop()
  for (const connection of ['command', 'subscriber']) {
    await eventually(async () => await metric(url, 'switchboard_redis_errors_total', { connection }) >= 1, `${connection} errors counted`)
    await eventually(async () => await metric(url, 'switchboard_redis_reconnects_total', { connection }) >= 1, `${connection} reconnects counted`)
  }
})
