/**
 * Plugin reuse: Switchboard inside an ordinary Fastify app (docs/examples/embed.ts)
 * with its own routes, logger and authenticate function, on both stores.
 */
import t from 'tap'
import { Writable } from 'node:stream'
import { Redis } from 'ioredis'
import { buildChatApp } from '../docs/examples/embed.js'
import { TestClient } from './helpers/client.js'
import { sharedRedis } from './helpers/redis.js'

const SECRET = 'embed-secret-0123456789'
const sessions = new Map([['key-alice', 'alice'], ['key-bob', 'bob']])

for (const backend of ['memory', 'redis'] as const) {
  t.test(`${backend}: the whole flow works inside a host app`, async (t) => {
    let redis: { client: Redis, subscriber: Redis } | undefined
    if (backend === 'redis') {
      const server = await sharedRedis()
      redis = { client: new Redis(server.url), subscriber: new Redis(server.url) }
      t.teardown(() => { redis?.client.disconnect(); redis?.subscriber.disconnect() })
    }
    const app = await buildChatApp({ sessions, tokenSecret: SECRET, ...(redis !== undefined ? { redis } : {}) })
    t.teardown(async () => { await app.close() })
    const base = await app.listen({ host: '127.0.0.1', port: 0 })

    t.same(await (await fetch(`${base}/api/hello`)).json(), { hello: 'world' }, 'the host route still works')
    const refused = await fetch(`${base}/chat/allocate`, { headers: { 'x-api-key': 'nope' } })
    t.equal(refused.status, 401)
    t.equal(((await refused.json()) as { code: string }).code, 'UNAUTHORIZED', 'the host authenticate decides')

    const connect = async (key: string): Promise<TestClient> => {
      const allocation = await (await fetch(`${base}/chat/allocate`, { headers: { 'x-api-key': key } })).json() as { url: string, token: string }
      t.match(allocation.url, /\/chat\/ws$/, 'the websocket route is under the host prefix')
      const client = new TestClient(`${allocation.url}?token=${allocation.token}`)
      await client.next((f) => f.type === 'welcome')
      return client
    }
    const alice = await connect('key-alice')
    const bob = await connect('key-bob')
    t.teardown(() => { alice.close(); bob.close() })
    t.same(await (await fetch(`${base}/chat/stats`)).json(), { connections: 2, server: 'app-1' }, 'typed decorators are usable')

    const ack = await alice.request({ type: 'send', to: 'bob', data: { text: 'from the host app' } })
    t.equal(ack.type, 'ack')
    t.match(await bob.next((f) => f.type === 'message'), { from: 'alice', data: { text: 'from the host app' } })
    if (redis !== undefined) t.equal(redis.client.status, 'ready', 'handed-in clients are left open')
  })
}

t.test("the host's logger is used, and connect tokens never reach it", async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done() } })
  const app = await buildChatApp({ sessions, tokenSecret: SECRET, logger: { level: 'info', stream } })
  t.teardown(async () => { await app.close() })
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const allocation = await (await fetch(`${base}/chat/allocate`, { headers: { 'x-api-key': 'key-alice' } })).json() as { url: string, token: string }
  const client = new TestClient(`${allocation.url}?token=${allocation.token}`)
  await client.next((f) => f.type === 'welcome')
  const bad = new TestClient(`${allocation.url}?token=${allocation.token}x`)
  await bad.closed
  client.close()
  await app.close()
  const log = lines.join('')
  t.match(log, /\/chat\/ws\?token=\[REDACTED\]/, 'the upgrade request is logged, redacted')
  t.notOk(log.includes(allocation.token), 'the token itself appears nowhere')
  t.notOk(log.includes(allocation.token.split('.')[2] ?? 'unreachable'), 'not even its signature')
})
