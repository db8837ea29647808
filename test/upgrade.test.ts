/**
 * The socket server's accounting around the upgrade (plugins/socket/upgrade.ts,
 * index.ts checkToken): a token's reservation is claimed before the upgrade;
 * a token used twice connects once; an upgrade that fails after the claim
 * gives its place and its user's hold back; the per-user cap of one server
 * (MAX_CONNECTIONS_PER_USER) answers 429 before the claim. The load the store
 * counts is checked after each, across a heartbeat (which recomputes it).
 */
import t from 'tap'
import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import type { Socket } from 'node:net'
import WebSocket from 'ws'
import { PendingClaims } from '../plugins/socket/upgrade.js'
import { TestClient, allocate } from './helpers/client.js'
import type { AllocationBody } from './helpers/client.js'
import { BACKENDS, loadOf, openStore, startRegistry, startSocket } from './helpers/stack.js'

/** Opens a websocket and says how it went: 'open', or the HTTP status and error code of the refusal. */
async function upgrade (url: string): Promise<{ ws?: WebSocket, status?: number, code?: string }> {
  return await new Promise((resolve) => {
    const ws = new WebSocket(url)
    ws.on('open', () => resolve({ ws }))
    ws.on('unexpected-response', (_request, response) => {
      let body = ''
      response.on('data', (chunk: Buffer) => { body += chunk.toString() })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, code: (JSON.parse(body) as { code?: string }).code }))
    })
    ws.on('error', () => {})
  })
}

/**
 * A websocket upgrade request that passes every check of ours but that `ws` refuses (an
 * unsupported Sec-WebSocket-Version): the claim is made, then the upgrade fails, as when the
 * client goes away during the claim. Resolves with the status line once the socket is closed.
 */
async function upgradeRefusedByWs (allocation: AllocationBody): Promise<string> {
  const url = new URL(`${allocation.url}?token=${encodeURIComponent(allocation.token)}`)
  const socket = connect(Number(url.port), url.hostname)
  let answer = ''
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString() })
  socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\n\r\n')
  await once(socket, 'close')
  return answer.split('\r\n')[0] ?? ''
}

for (const backend of BACKENDS) {
  t.test(`${backend}: a token used twice at once connects once, counted once`, async (t) => {
    const handle = await openStore(t, backend)
    const s1 = await startSocket(t, handle, 's1')
    const { url } = await startRegistry(t, handle)
    const allocation = await allocate(url, 'alice')
    const target = `${allocation.url}?token=${encodeURIComponent(allocation.token)}`
    const outcomes = await Promise.all([upgrade(target), upgrade(target), upgrade(target)])
    t.teardown(() => { for (const o of outcomes) o.ws?.close() })
    t.equal(outcomes.filter((o) => o.ws !== undefined).length, 1, 'one of three opens')
    t.same(outcomes.filter((o) => o.ws === undefined).map((o) => [o.status, o.code]), [[401, 'BAD_TOKEN'], [401, 'BAD_TOKEN']], 'the others are refused')
    await s1.switchboardSocket.heartbeat()
    t.equal(await loadOf(handle.store, 's1'), 1, 'the load counts the one connection, once')
    t.equal(s1.switchboardSocket.connections, 1)
  })

  t.test(`${backend}: an upgrade that fails after the claim gives its place and its user's hold back`, async (t) => {
    const handle = await openStore(t, backend)
    const s1 = await startSocket(t, handle, 's1')
    // One place per user across the fleet: a place that is not given back keeps alice out.
    const { url } = await startRegistry(t, handle, { userLimits: { maxConnections: 1, allocateMax: 0, windowMs: 60_000 } })
    const allocation = await allocate(url, 'alice')
    t.equal(await loadOf(handle.store, 's1'), 1, 'the allocation reserved a place')

    t.match(await upgradeRefusedByWs(allocation), /^HTTP\/1\.1 400 /, 'ws refuses the handshake after our checks passed')
    const again = await upgrade(`${allocation.url}?token=${encodeURIComponent(allocation.token)}`)
    t.same([again.status, again.code], [401, 'BAD_TOKEN'], 'the claim was made: the token is used up')
    await s1.switchboardSocket.heartbeat()
    t.equal(await loadOf(handle.store, 's1'), 0, 'the place is given back: nothing is counted after a heartbeat')
    t.equal(s1.switchboardSocket.connections, 0)

    const client = await TestClient.connect(url, 'alice')
    t.teardown(() => client.close())
    t.pass('alice\'s hold was released: she is allocated and connects again')
    await s1.switchboardSocket.heartbeat()
    t.equal(await loadOf(handle.store, 's1'), 1, 'her connection counts once')
  })

  t.test(`${backend}: MAX_CONNECTIONS_PER_USER on a socket server answers 429 TOO_MANY_CONNECTIONS before the claim`, async (t) => {
    const handle = await openStore(t, backend)
    const s1 = await startSocket(t, handle, 's1', { socket: { maxConnectionsPerUser: 2 } })
    // The registry lets her have more (another registry configured otherwise, say): the socket server still holds the line.
    const { url } = await startRegistry(t, handle, { userLimits: { maxConnections: 10, allocateMax: 0, windowMs: 60_000 } })
    const held = [await TestClient.connect(url, 'alice'), await TestClient.connect(url, 'alice')]
    t.teardown(() => { for (const c of held) c.close() })
    const third = await allocate(url, 'alice')
    const target = `${third.url}?token=${encodeURIComponent(third.token)}`
    const refused = await upgrade(target)
    t.same([refused.status, refused.code], [429, 'TOO_MANY_CONNECTIONS'], 'the third connection on this server is refused')
    t.equal(s1.switchboardSocket.connections, 2, 'she still holds two')
    const bob = await TestClient.connect(url, 'bob')
    t.teardown(() => bob.close())
    t.pass('another user is not affected')

    // Refused before the claim: the token is still good once she is under the cap.
    held[0]?.close()
    await held[0]?.closed
    const opened = await upgrade(target)
    t.teardown(() => opened.ws?.close())
    t.ok(opened.ws !== undefined, 'the same token connects once one of her connections closed')
    await s1.switchboardSocket.heartbeat()
    t.equal(await loadOf(handle.store, 's1'), 3, 'two of hers and bob\'s, each once')
  })
}

t.test('a claim whose upgrade neither opens nor closes is given up on after the grace period', async (t) => {
  const released: Array<[string, string]> = []
  let now = 1_000_000
  const claims = new PendingClaims({ release: (nonce, user) => { released.push([nonce, user]) }, graceMs: 10_000, now: () => now })
  // A real TCP socket that stays open, as a client that never finishes its upgrade.
  const listener = createServer()
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  const client = connect((listener.address() as { port: number }).port, '127.0.0.1')
  const [accepted] = await once(listener, 'connection') as [Socket]
  t.teardown(async () => { client.destroy(); accepted.destroy(); await new Promise((resolve) => listener.close(resolve)) })

  const alice = claims.claiming('n1', 'alice')
  claims.claimed(alice, accepted)
  const bob = claims.claiming('n2', 'bob')
  claims.claimed(bob, accepted)
  claims.opened(bob)
  // The same token replayed while alice's upgrade is under way: its claim is refused.
  claims.refused(claims.claiming('n1', 'alice'))
  t.equal(claims.count(), 1, 'one upgrade under way: bob\'s opened, and the refused replay did not remove alice\'s')
  now += 10_000
  t.equal(claims.count(), 1, 'still within the grace period')
  now += 1
  t.equal(claims.count(), 0, 'past it: given up on')
  t.same(released, [['n1', 'alice']], 'its place given back, once; the opened one is not')
  accepted.destroy()
  await once(accepted, 'close')
  t.same(released, [['n1', 'alice']], 'the socket closing afterwards gives nothing back twice')
})
