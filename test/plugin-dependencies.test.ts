/**
 * A plugin's needs are declared, never discovered: the order of registration
 * must not silently decide what works. The plugins that record metrics list
 * switchboard-metrics in their fastify-plugin `dependencies`: registered
 * first, it counts; registered after them, or not at all, `register` fails.
 * A host app's own @fastify/websocket is the one discovery left, and it is
 * loud the other way round (docs/plugins.md).
 */
import t from 'tap'
import type { Test } from 'tap'
import Fastify from 'fastify'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import websocket from '@fastify/websocket'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { healthPlugin } from '../plugins/health/index.js'
import { metricsPlugin } from '../plugins/metrics/index.js'
import { redisPlugin } from '../plugins/redis/index.js'
import { registryPlugin } from '../plugins/registry/index.js'
import { socketPlugin } from '../plugins/socket/index.js'
import { MemoryStore, storePlugin } from '../plugins/store/index.js'
import { TestClient, allocate } from './helpers/client.js'
import { parsePrometheusText, sampleValue } from './helpers/prometheus.js'

const SECRET = 'dependencies-test-secret-0123456789'
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const NOT_REGISTERED = 'FST_ERR_PLUGIN_DEPENDENCY_NOT_REGISTERED'

// Each recording plugin with options it would accept; none gets as far as using them.
const RECORDING: ReadonlyArray<readonly [string, FastifyPluginAsync<never>, object]> = [
  ['switchboard-redis', redisPlugin as FastifyPluginAsync<never>, { url: 'redis://127.0.0.1:1' }],
  ['switchboard-store', storePlugin as FastifyPluginAsync<never>, { type: 'memory' }],
  ['switchboard-registry', registryPlugin as FastifyPluginAsync<never>, { tokenSecret: SECRET, auth: { mode: 'dev' } }],
  ['switchboard-socket', socketPlugin as FastifyPluginAsync<never>, { tokenSecret: SECRET, serverId: 's1' }],
  ['switchboard-health', healthPlugin as FastifyPluginAsync<never>, {}]
]

function quietApp (t: Test): FastifyInstance {
  const app = Fastify({ logger: false })
  t.teardown(async () => { await app.close().catch(() => {}) })
  return app
}

t.test('every plugin that records declares switchboard-metrics', async (t) => {
  for (const [name, plugin] of RECORDING) {
    const meta = (plugin as unknown as Record<symbol, { name?: string, dependencies?: string[] } | undefined>)[Symbol.for('plugin-meta')]
    t.equal(meta?.name, name)
    t.ok(meta?.dependencies?.includes('switchboard-metrics'), `${name} depends on switchboard-metrics`)
  }
})

t.test('without switchboard-metrics, each of them fails to register, naming it', async (t) => {
  for (const [name, plugin, options] of RECORDING) {
    const app = quietApp(t)
    await t.rejects(async () => { await app.register(plugin, options as never) }, {
      code: NOT_REGISTERED,
      message: `The dependency 'switchboard-metrics' of plugin '${name}' is not registered`
    }, name)
  }
})

t.test('registered after them, it fails when the app loads, before anything listens', async (t) => {
  const app = quietApp(t)
  // Not awaited: Fastify loads them in this order at ready().
  app.register(storePlugin, { store: new MemoryStore() })
  app.register(registryPlugin, { tokenSecret: SECRET, auth: { mode: 'dev' } })
  app.register(metricsPlugin, { defaultMetrics: false })
  await t.rejects(async () => { await app.ready() }, { code: NOT_REGISTERED, message: /'switchboard-metrics' of plugin 'switchboard-store'/ })
})

t.test('registered first, the other plugins count into it', async (t) => {
  const app = quietApp(t)
  await app.register(metricsPlugin, { defaultMetrics: false })
  await app.register(storePlugin, { type: 'memory' })
  await app.register(registryPlugin, { tokenSecret: SECRET, auth: { mode: 'dev' }, allocateRateLimit: false })
  await app.register(socketPlugin, { tokenSecret: SECRET, serverId: 's1' })
  await app.register(healthPlugin)
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  await app.switchboardSocket.heartbeat()
  const allocation = await allocate(url, 'alice')
  const client = new TestClient(`${allocation.url}?token=${allocation.token}`)
  t.teardown(() => { client.close() })
  await client.next((f) => f.type === 'welcome')
  t.equal((await app.inject('/allocate')).statusCode, 401, 'no user: refused')
  const families = parsePrometheusText((await app.inject('/metrics')).body)
  t.equal(sampleValue(families, 'switchboard_allocations_total', { outcome: 'ok' }), 1, 'registry: the allocation')
  t.equal(sampleValue(families, 'switchboard_allocations_total', { outcome: 'unauthorized' }), 1, 'registry: the refusal')
  t.equal(sampleValue(families, 'switchboard_connections'), 1, 'socket: the connection')
  t.equal(sampleValue(families, 'switchboard_messages_in_total', { type: 'send' }), 0, 'socket: its frame series')
})

t.test("a host app's @fastify/websocket: registered first it is used, registered after the socket plugin it fails", async (t) => {
  const before = quietApp(t)
  await before.register(metricsPlugin, { defaultMetrics: false })
  await before.register(storePlugin, { type: 'memory' })
  await before.register(websocket, { options: { maxPayload: 4096 } })
  await before.register(socketPlugin, { tokenSecret: SECRET, serverId: 's1' })
  await before.ready()
  t.equal(before.websocketServer.options.maxPayload, 4096, "the app's own websocket server, with its options")

  // After: @fastify/websocket throws from inside its registration, an uncaught exception that stops the process. So in a
  // process of its own (the built plugins, as an installed package has them).
  const script = `
    import Fastify from 'fastify'
    import websocket from '@fastify/websocket'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
    import { metricsPlugin, socketPlugin, storePlugin } from './dist/plugins/index.js'
    const app = Fastify()
    await app.register(metricsPlugin, { defaultMetrics: false })
    await app.register(storePlugin, { type: 'memory' })
    await app.register(socketPlugin, { tokenSecret: '${SECRET}', serverId: 's1' })
    await app.register(websocket)
    console.log('registered')`
  const after = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 })
  t.not(after.status, 0, 'the process stops')
  t.match(after.stderr, /FST_ERR_DEC_ALREADY_PRESENT/)
  t.notMatch(after.stdout, /registered/)
})

t.test("switchboard-store's redis form needs switchboard-redis, and says so at registration", async (t) => {
  const app = quietApp(t)
  await app.register(metricsPlugin, { defaultMetrics: false })
  await t.rejects(async () => { await app.register(storePlugin, { type: 'redis' }) }, {
    code: 'SB_ERR_INVALID_OPTIONS', message: /type 'redis' needs the switchboard-redis plugin registered first/
  })
})
