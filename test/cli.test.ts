/**
 * The real entry points: `switchboard registry` and two `switchboard socket`
 * processes over a real Redis, the flow between them, configuration errors,
 * and a clean SIGTERM. Also `switchboard standalone` (npm start).
 */
import t from 'tap'
import { TestClient, eventually } from './helpers/client.js'
import { runCli, startProcessCluster, waitForHttp } from './helpers/processes.js'
import { freePort, sharedRedis, uniquePrefix } from './helpers/redis.js'

const TOKEN_SECRET = 'cli-secret-0123456789abcdef'

t.test('registry + two socket servers as processes over Redis', async (t) => {
  const redis = await sharedRedis()
  const { registryUrl, registry, sockets } = await startProcessCluster(t, { redisUrl: redis.url, prefix: uniquePrefix(), idPrefix: 'p' })
  const alice = await TestClient.connect(registryUrl, 'alice')
  const bob = await TestClient.connect(registryUrl, 'bob')
  t.teardown(() => { alice.close(); bob.close() })
  t.not(new URL(alice.ws.url).port, new URL(bob.ws.url).port, 'on different processes')
  const ack = await alice.request({ type: 'send', to: 'bob', data: { text: 'across processes' }, mid: 'x1' })
  t.equal(ack.type, 'ack')
  t.match(await bob.next((f) => f.type === 'message'), { from: 'alice', data: { text: 'across processes' } })

  const { servers } = await (await fetch(`${registryUrl}/servers`)).json() as { servers: Array<{ id: string, load: number }> }
  t.same(servers.map((s) => [s.id, s.load]).sort(), [['p1', 1], ['p2', 1]], 'each counts its one connection')

  // SIGTERM: clients are told 1001, the server leaves the fleet, the process exits 0.
  const bobServer = bob.welcome?.server === 'p1' ? sockets[0] : sockets[1]
  t.equal(await bobServer?.stop('SIGTERM'), 0, 'clean exit')
  t.equal((await bob.closed).code, 1001)
  await eventually(async () => {
    const body = await (await fetch(`${registryUrl}/servers`)).json() as { servers: unknown[] }
    return body.servers.length === 1
  }, 'deregistered')

  const logs = registry.output() + sockets.map((s) => s.output()).join('')
  t.match(logs, /token=\[REDACTED\]/, 'upgrade URLs are logged redacted')
  t.notOk(logs.includes('token=v1.'), 'no connect token in any log')
})

t.test('bad configuration: exit 2 with every bad variable named', async (t) => {
  const bad = runCli(t, 'socket', { REDIS_URL: 'http://x', PORT: 'abc', TOKEN_SECRET: 'short' })
  t.equal(await bad.exited, 2)
  t.match(bad.output(), /Invalid configuration/)
  for (const name of ['REDIS_URL', 'PORT', 'TOKEN_SECRET']) t.match(bad.output(), name)

  const unknown = runCli(t, 'teleporter', {})
  t.equal(await unknown.exited, 2)
  t.match(unknown.output(), /unknown role "teleporter"[\s\S]*usage: switchboard/)

  const unreachable = runCli(t, 'registry', { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, TOKEN_SECRET, AUTH_MODE: 'dev', PORT: '0' })
  t.equal(await unreachable.exited, 2, 'an unreachable Redis fails the start')
  t.match(unreachable.output(), /cannot connect to Redis/)
})

t.test('standalone (npm start): page, allocation and chat in one process', async (t) => {
  const port = await freePort()
  const standalone = runCli(t, 'standalone', { PORT: String(port) })
  const base = `http://127.0.0.1:${port}`
  await waitForHttp(`${base}/healthz`)
  t.match(standalone.output(), new RegExp(`Open http://127.0.0.1:${port}/`), 'prints the URL to open')
  const page = await fetch(`${base}/`)
  t.equal(page.status, 200)
  const html = await page.text()
  t.match(html, /<title>Switchboard chat<\/title>/)
  const script = /<script[^>]+src="\/?([^"]+\.js)"/.exec(html)?.[1]
  t.ok(script, 'the page loads a script')
  t.equal((await fetch(`${base}/${script ?? ''}`)).status, 200, 'the bundled page script is served')

  const alice = await TestClient.connect(base, 'alice')
  const bob = await TestClient.connect(base, 'bob')
  t.teardown(() => { alice.close(); bob.close() })
  await alice.request({ type: 'send', to: 'bob', data: { text: 'hi' } })
  t.match(await bob.next((f) => f.type === 'message'), { from: 'alice', data: { text: 'hi' } })
})
