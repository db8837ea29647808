/**
 * The admin dashboard and its API: off without a token, 401 without the right
 * one, the fleet as the store holds it, and a drain asked for through the
 * store; then the page itself in Chromium against real processes, where
 * pressing Drain moves a server's clients to the others.
 */
import t from 'tap'
import type { Test } from 'tap'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import type { Page } from 'playwright-core'
import { adminPlugin } from '../plugins/admin/index.js'
import type { FleetView } from '../plugins/admin/index.js'
import { beaconPlugin } from '../plugins/beacon/index.js'
import { healthPlugin } from '../plugins/health/index.js'
import { healthDetails } from '../plugins/health/beacon.js'
import { registryPlugin } from '../plugins/registry/index.js'
import { TestClient, eventually } from './helpers/client.js'
import type { Frame } from './helpers/client.js'
import { startProcessCluster } from './helpers/processes.js'
import { sharedRedis, uniquePrefix } from './helpers/redis.js'
import { BACKENDS, TOKEN_SECRET, openStore, startSocket } from './helpers/stack.js'
import type { Backend } from './helpers/stack.js'

const ADMIN_TOKEN = 'admin-token-0123456789abcdef'
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` }
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const SCREENSHOT = fileURLToPath(new URL('../docs/screenshots/admin.png', import.meta.url))

/** A registry with the dashboard, its beacon, and a health checker with its own, on one store with N socket servers. */
async function adminStack (t: Test, backend: Backend, options: { token?: string, sockets?: number } = {}): Promise<{ app: FastifyInstance, url: string, sockets: FastifyInstance[] }> {
  const handle = await openStore(t, backend)
  const sockets: FastifyInstance[] = []
  for (let n = 1; n <= (options.sockets ?? 2); n++) sockets.push(await startSocket(t, handle, `s${n}`))
  const app = Fastify({ logger: { level: process.env.TEST_LOG ?? 'silent' } })
  t.teardown(async () => { await app.close() })
  await handle.register(app)
  await app.register(registryPlugin, { tokenSecret: TOKEN_SECRET, auth: { mode: 'dev' }, allocateRateLimit: false })
  await app.register(beaconPlugin, { role: 'registry', id: 'r1', intervalMs: 100 })
  await app.register(healthPlugin, { intervalMs: 100 })
  const details = healthDetails(app.switchboardHealth)
  await app.register(async (scope) => { await scope.register(beaconPlugin, { role: 'health', id: 'h1', intervalMs: 100, details }) })
  await app.register(adminPlugin, options.token !== undefined ? { token: options.token } : {})
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, url, sockets }
}

async function fleet (app: FastifyInstance): Promise<FleetView> {
  const response = await app.inject({ url: '/admin/api/fleet', headers: AUTH })
  if (response.statusCode !== 200) throw new Error(`fleet: ${response.statusCode} ${response.body}`)
  return response.json()
}

t.test('without a token every /admin path answers 404 ADMIN_DISABLED: never an open admin', async (t) => {
  const { app } = await adminStack(t, 'memory')
  t.equal(app.switchboardAdmin.enabled, false)
  for (const [method, url] of [['GET', '/admin'], ['GET', '/admin/'], ['GET', '/admin/app.js'], ['GET', '/admin/api/fleet'], ['POST', '/admin/api/servers/s1/drain']] as const) {
    const response = await app.inject({ method, url, headers: AUTH })
    t.equal(response.statusCode, 404, `${method} ${url}`)
    t.same(response.json(), { code: 'ADMIN_DISABLED', message: 'The admin dashboard is off: set ADMIN_TOKEN to enable it' })
  }
  t.equal((await app.inject('/allocate?user=alice')).statusCode, 200, 'the registry itself still serves')
})

t.test('options are checked once, at registration', async (t) => {
  const handle = await openStore(t, 'memory')
  const app = Fastify()
  t.teardown(async () => { await app.close() })
  await handle.register(app)
  await t.rejects(async () => { await app.register(adminPlugin, { token: 'too-short' }) }, { code: 'SB_ERR_INVALID_OPTIONS', message: /switchboard-admin: token/ })
})

t.test('the page loads without the token; the API wants the right bearer token', async (t) => {
  const { app } = await adminStack(t, 'memory', { token: ADMIN_TOKEN })
  t.equal(app.switchboardAdmin.enabled, true)
  const redirect = await app.inject('/admin')
  t.equal(redirect.statusCode, 302)
  t.equal(redirect.headers.location, 'admin/', 'relative, so it works under a prefix')
  const page = await app.inject('/admin/')
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  t.match(page.body, /<label for="token">Admin token<\/label>/)
  t.match(page.headers['content-security-policy'], /frame-ancestors 'none'/, 'a page with a drain button is never framed')
  t.equal(page.headers['x-frame-options'], 'DENY')
  for (const file of ['app.js', 'view.js', 'format.js', 'style.css']) t.equal((await app.inject(`/admin/${file}`)).statusCode, 200, file)

  const refusals = [undefined, 'Bearer wrong-token-0123456789abcdef', `Basic ${ADMIN_TOKEN}`, ADMIN_TOKEN, `Bearer ${ADMIN_TOKEN}x`]
  for (const authorization of refusals) {
    for (const [method, url] of [['GET', '/admin/api/fleet'], ['POST', '/admin/api/servers/s1/drain']] as const) {
      const response = await app.inject({ method, url, headers: authorization === undefined ? {} : { authorization } })
      t.equal(response.statusCode, 401, `${method} ${url} with ${authorization ?? 'no header'}`)
      t.equal(response.json().code, 'UNAUTHORIZED')
      t.equal(response.headers['www-authenticate'], 'Bearer realm="switchboard-admin"')
    }
  }
  t.equal((await fleet(app)).servers.length, 2, 'the right token is let in')
  const unknown = await app.inject({ method: 'POST', url: '/admin/api/servers/nope/drain', headers: AUTH })
  t.equal(unknown.statusCode, 404)
  t.same(unknown.json(), { code: 'UNKNOWN_SERVER', message: 'No socket server nope in the fleet' })
  t.equal((await app.inject({ method: 'POST', url: '/admin/api/servers/not%20a%20name/drain', headers: AUTH })).statusCode, 400)
})

for (const backend of BACKENDS) {
  t.test(`${backend}: the fleet as the dashboard reads it`, async (t) => {
    const { app, url } = await adminStack(t, backend, { token: ADMIN_TOKEN })
    const clients: TestClient[] = []
    for (let i = 0; i < 3; i++) clients.push(await TestClient.connect(url, `u${i}`))
    t.teardown(() => { for (const c of clients) c.close() })
    // u0 and u2 on s1, u1 on s2 (least loaded, ties by id). Messages from u0 to u1 give both a rate at their next heartbeat.
    // A rate is what a heartbeat saw since the one before: keep messages flowing until a view shows both,
    // or a slow machine's view may fall between the window with the messages and the next one.
    let view = await fleet(app)
    let n = 0
    await eventually(async () => {
      await clients[0]?.request({ type: 'send', to: 'u1', data: { n: n++ } })
      view = await fleet(app)
      return view.servers.every((s) => (s.messagesPerSecond ?? 0) > 0 && s.connections === s.load)
    }, () => `rates and counts from a heartbeat: ${JSON.stringify(view.servers)}`)

    t.ok(Math.abs(view.now - Date.now()) < 5000, 'now is the store clock')
    t.equal(view.heartbeatTimeoutMs, 3000)
    t.match(view.servers, [
      { id: 's1', connections: 2, load: 2, capacity: 10_000, alive: true, draining: false, drainRequested: false, url: /^ws:\/\/127\.0\.0\.1:\d+\/ws$/ },
      { id: 's2', connections: 1, load: 1, capacity: 10_000, alive: true, draining: false, drainRequested: false }
    ])
    for (const server of view.servers) {
      t.ok(server.heartbeatAgeMs !== null && server.heartbeatAgeMs >= 0 && server.heartbeatAgeMs <= view.heartbeatTimeoutMs, `${server.id}: heartbeat age ${server.heartbeatAgeMs} ms, within the timeout`)
      t.ok((server.messagesPerSecond ?? 0) > 0, `${server.id}: ${server.messagesPerSecond} messages/s`)
    }
    t.match(view.totals, { connections: 3, capacity: 20_000 })
    t.match(view.registries, [{ id: 'r1', alive: true, details: { intervalMs: 100, address: /^127\.0\.0\.1:\d+$/ } }])
    await eventually(async () => (await fleet(app)).health[0]?.lastSweepAgeMs !== null, 'a first sweep')
    t.match((await fleet(app)).health, [{ id: 'h1', alive: true, evictions: 0, details: { sweepIntervalMs: 100 } }])
  })

  t.test(`${backend}: a drain asked for through the API moves the server's clients at its next heartbeat`, async (t) => {
    const { app, url, sockets } = await adminStack(t, backend, { token: ADMIN_TOKEN })
    const [a, b, c] = [await TestClient.connect(url, 'a'), await TestClient.connect(url, 'b'), await TestClient.connect(url, 'c')]
    t.teardown(() => { for (const client of [a, b, c]) client.close() })
    t.same([a.welcome?.server, b.welcome?.server, c.welcome?.server], ['s1', 's2', 's1'])

    const response = await app.inject({ method: 'POST', url: '/admin/api/servers/s1/drain', headers: AUTH })
    t.equal(response.statusCode, 202)
    t.same(response.json(), { server: 's1', status: 'requested', message: 'the server starts draining at its next heartbeat' })
    t.match((await fleet(app)).servers, [{ id: 's1', drainRequested: true }, { id: 's2', drainRequested: false }], 'shown as requested at once')
    t.equal((await app.inject({ method: 'POST', url: '/admin/api/servers/s1/drain', headers: AUTH })).statusCode, 202, 'asking twice is harmless')

    for (const client of [a, c]) {
      const moved: Frame = await client.next((f) => f.type === 'reconnect')
      t.match(moved, { reason: 'drain', server: 's2' }, 'sent to the other server')
      t.equal((await client.closed).code, 1001)
    }
    await sockets[0]?.switchboardSocket.drained
    t.equal(sockets[0]?.switchboardSocket.draining, true)
    t.equal(b.pending('reconnect').length, 0, 's2 is left alone')
  })
}

/**
 * A raw protocol client that follows `reconnect` frames like the SDK, and
 * knows which server it is on (from each `welcome`).
 */
class Roaming {
  server = ''
  moves = 0
  #client: TestClient | undefined

  static async connect (registryUrl: string, user: string): Promise<Roaming> {
    const roaming = new Roaming()
    roaming.#attach(await TestClient.connect(registryUrl, user))
    return roaming
  }

  #attach (client: TestClient): void {
    this.#client = client
    this.server = String(client.welcome?.server)
    client.ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame
      if (frame.type === 'reconnect') this.#follow(frame).catch(() => {})
    })
  }

  async #follow (frame: Frame): Promise<void> {
    const next = new TestClient(`${String(frame.url)}?token=${encodeURIComponent(String(frame.token))}`)
    next.welcome = await next.next((f) => f.type === 'welcome')
    this.moves++
    this.#attach(next)
  }

  async send (to: string, n: number): Promise<void> {
    await this.#client?.request({ type: 'send', to, data: { n } })
  }

  close (): void {
    this.#client?.close()
  }
}

function countBy (clients: Roaming[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const client of clients) counts.set(client.server, (counts.get(client.server) ?? 0) + 1)
  return counts
}

/** Waits until the dashboard row of `server` shows `n / capacity`. */
async function showsConnections (page: Page, server: string, n: number, capacity: number): Promise<void> {
  await page.locator(`tr[data-server="${server}"] .connections`, { hasText: new RegExp(`^${n} / ${capacity}$`) }).waitFor({ timeout: 5000 })
}

t.test('in Chromium, the admin page shows each server\'s connections, and pressing Drain moves that server\'s clients', async (t) => {
  const capacity = 10
  const server = await sharedRedis()
  const cluster = await startProcessCluster(t, {
    redisUrl: server.url,
    prefix: uniquePrefix(),
    sockets: 3,
    health: true,
    env: { ADMIN_TOKEN, CAPACITY: String(capacity), LOG_LEVEL: 'warn' }
  })
  const clients: Roaming[] = []
  for (let i = 0; i < 8; i++) clients.push(await Roaming.connect(cluster.registryUrl, `u${i}`))
  t.teardown(() => { for (const client of clients) client.close() })
  const before = countBy(clients)
  t.same([...before.keys()].sort(), ['s1', 's2', 's3'], 'the clients are spread over the three servers')
  // Some traffic, so the page has message rates to show.
  const chatting = { on: true }
  const chat = (async () => {
    for (let n = 0; chatting.on; n++) {
      await Promise.all(clients.map(async (client, i) => { await client.send(`u${(i + 1) % clients.length}`, n).catch(() => {}) }))
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })()
  t.teardown(async () => { chatting.on = false; await chat })

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(async () => { await browser.close() })
  const page = await browser.newPage({ viewport: { width: 1200, height: 760 } })
  await page.goto(`${cluster.registryUrl}/admin`)
  await page.getByLabel('Admin token').fill('wrong-token-0123456789')
  await page.getByRole('button', { name: 'Open dashboard' }).click()
  await page.getByRole('alert').filter({ hasText: 'The token was refused.' }).waitFor()
  t.pass('a wrong token is refused, and the page asks again')
  await page.getByLabel('Admin token').fill(ADMIN_TOKEN)
  await page.getByRole('button', { name: 'Open dashboard' }).click()
  await page.getByRole('status').filter({ hasText: 'live' }).waitFor()

  for (const [id, n] of before) await showsConnections(page, id, n, capacity)
  t.pass(`each server shows its real connections: ${JSON.stringify(Object.fromEntries(before))}`)
  await page.locator('#total-connections', { hasText: /^8$/ }).waitFor()
  await page.locator('#registries tbody tr').filter({ hasText: 'live' }).first().waitFor()
  await page.locator('#health tbody tr').filter({ hasText: 'live' }).first().waitFor()
  t.pass('the registry and the health checker are listed, live')
  await eventually(async () => Number(await page.locator('#total-rate').textContent()) > 0, 'a message rate')
  const meter = page.getByRole('meter', { name: 'Connections on s1' })
  t.equal(await meter.getAttribute('aria-valuetext'), `${before.get('s1') ?? 0} of ${capacity}`, 'the bar says its value in words too')

  if (process.env.UPDATE_SCREENSHOTS === '1') {
    mkdirSync(dirname(SCREENSHOT), { recursive: true })
    await page.screenshot({ path: SCREENSHOT, fullPage: true })
    t.comment(`wrote ${SCREENSHOT}`)
  }

  const drained = before.get('s1') ?? 0
  page.once('dialog', (dialog) => { dialog.accept().catch(() => {}) })
  await page.getByRole('button', { name: 'Drain s1' }).click()
  await page.locator('tr[data-server="s1"] .badge', { hasText: /drain requested|draining/ }).waitFor({ timeout: 3000 })
  t.pass('the page shows s1 draining')
  await eventually(() => clients.every((c) => c.server !== 's1'), 'every client of s1 moves')
  t.equal(clients.filter((c) => c.moves > 0).length, drained, 'exactly the clients of s1 moved')
  t.equal(await cluster.sockets[0]?.exited, 0, 'the drained server exits cleanly')
  const after = countBy(clients)
  for (const [id, n] of after) await showsConnections(page, id, n, capacity)
  await page.locator('tr[data-server="s1"]').waitFor({ state: 'detached', timeout: 5000 })
  t.pass(`the page shows the clients on the other servers: ${JSON.stringify(Object.fromEntries(after))}, and s1 gone`)
})
