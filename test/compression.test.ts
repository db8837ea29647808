/**
 * A host app that registers @fastify/websocket itself, with permessage-deflate:
 * the socket plugin uses that websocket server (it registers its own only when
 * the app has none), and a connection that negotiated compression gets its
 * frames through `ws` (compressed), not written straight to the TCP socket
 * (connection.ts `#plain`, which is only for connections without extensions).
 * Long replies in parts pace themselves on `ws`'s queue instead (`flushed`).
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import type { Socket } from 'node:net'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { metricsPlugin } from '../plugins/metrics/index.js'
import { registryPlugin } from '../plugins/registry/index.js'
import { socketPlugin } from '../plugins/socket/index.js'
import { storePlugin } from '../plugins/store/index.js'
import { TestClient } from './helpers/client.js'
import type { Frame } from './helpers/client.js'
import { TOKEN_SECRET } from './helpers/stack.js'

/** Bytes this client's TCP socket has read so far. */
function bytesRead (client: TestClient): number {
  return (client.ws as unknown as { _socket: Socket })._socket.bytesRead
}

t.test('with the host app\'s permessage-deflate, frames go out compressed, and a long history reply in parts arrives whole', async (t) => {
  const app = Fastify({ logger: { level: process.env.TEST_LOG ?? 'silent' } })
  t.teardown(async () => { await app.close() })
  await app.register(websocket, { options: { perMessageDeflate: true } })
  await app.register(metricsPlugin, { defaultMetrics: false })
  await app.register(storePlugin, { type: 'memory' })
  await app.register(registryPlugin, { tokenSecret: TOKEN_SECRET, auth: { mode: 'dev' }, allocateRateLimit: false, userLimits: { allocateMax: 0 } })
  // A small budget, so that the history reply below is sent in parts and waits for the socket to drain.
  await app.register(socketPlugin, { tokenSecret: TOKEN_SECRET, serverId: 's1', limits: { frameRate: 10_000, frameBurst: 10_000, maxBufferedBytes: 64 * 1024 } })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })

  const alice = await TestClient.connect(url, 'alice')
  const bob = await TestClient.connect(url, 'bob')
  t.teardown(() => { alice.close(); bob.close() })
  t.match(bob.ws.extensions, /permessage-deflate/, 'the client negotiated compression with the host\'s websocket server')

  const text = 'all work and no play '.repeat(2000) // 42 kB that compress to almost nothing
  const before = bytesRead(bob)
  await alice.request({ type: 'send', to: 'bob', data: text })
  const message = await bob.next((f) => f.type === 'message')
  const read = bytesRead(bob) - before
  t.equal(message.data, text, 'the message arrives intact')
  t.ok(read < text.length / 10, `and compressed: ${read} bytes on the wire for ${text.length} of text`)

  // 60 messages of 2 kB that do not compress: 120 kB of history, several parts under a 64 kB budget.
  await alice.request({ type: 'join', room: 'archive' })
  const sent: string[] = []
  for (let i = 0; i < 60; i++) {
    sent.push(randomBytes(1500).toString('base64'))
    await alice.request({ type: 'publish', channel: 'room:archive', data: { i, noise: sent[i] } })
  }
  const id = 'long'
  alice.send({ type: 'history', id, channel: 'room:archive', limit: 60 })
  const parts: Frame[] = []
  for (;;) {
    const part = await alice.next((f) => f.type === 'history' && f.id === id, 10_000)
    parts.push(part)
    if (part.more !== true) break
  }
  const messages = parts.flatMap((p) => p.messages as Array<{ data: { i: number, noise: string } }>)
  t.ok(parts.length > 1, `the reply came in ${parts.length} parts`)
  t.same(messages.map((m) => m.data.i), [...Array(60).keys()], 'every message, once, oldest first')
  t.same(messages.map((m) => m.data.noise), sent, 'each intact')
})
