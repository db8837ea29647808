/**
 * The socket server's gate and its bookkeeping: tokens checked before the
 * upgrade, connections counted exactly, bad frames answered without harm.
 */
import t from 'tap'
import WebSocket from 'ws'
import { TokenSigner } from '../plugins/token/index.js'
import { TestClient, allocate, eventually } from './helpers/client.js'
import { BACKENDS, TOKEN_SECRET, loadOf, startStack } from './helpers/stack.js'
import type { Stack } from './helpers/stack.js'

function socketUrl (stack: Stack, index: number): string {
  return stack.sockets[index]?.switchboardSocket.url ?? ''
}

async function upgradeStatus (url: string): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => { body += chunk.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    ws.on('open', () => { ws.close(); reject(new Error('upgrade unexpectedly accepted')) })
    ws.on('error', () => {})
  })
}

for (const backend of BACKENDS) {
  t.test(`${backend}: tokens are checked before the upgrade and leave no count behind`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 2 })
    const signer = new TokenSigner(TOKEN_SECRET)
    const s1 = socketUrl(stack, 0)
    const s2 = socketUrl(stack, 1)

    const allocation = await allocate(stack.registryUrl, 'alice')
    t.equal(allocation.server, 's1', 'equal loads: the first server by id')
    const forS1 = allocation.token
    const cases: Array<[string, string]> = [
      ['a token minted for s1, used on s2', `${s2}?token=${forS1}`],
      ['an expired token', `${s1}?token=${signer.sign('alice', 's1', 30_000, Date.now() - 60_000).token}`],
      ['a tampered token', `${s1}?token=${forS1.slice(0, -2)}${forS1.endsWith('AA') ? 'BB' : 'AA'}`],
      ['a token with a changed body', `${s1}?token=${forS1.replace(/^v1\.[^.]+/, `v1.${Buffer.from(JSON.stringify(['mallory', 's1', Date.now() + 9e6, 'x'])).toString('base64url')}`)}`],
      ['a token signed with another secret', `${s1}?token=${new TokenSigner('another-secret-0123456789').sign('alice', 's1', 30_000).token}`],
      ['a well-signed token no registry reserved', `${s1}?token=${signer.sign('alice', 's1', 30_000).token}`],
      ['no token', s1],
      ['an empty token', `${s1}?token=`],
      ['garbage', `${s1}?token=not-a-token`]
    ]
    for (const [what, url] of cases) {
      const { status, body } = await upgradeStatus(url)
      t.equal(status, 401, what)
      t.equal(JSON.parse(body).code, 'BAD_TOKEN', what)
    }
    t.equal(await loadOf(stack.handle.store, 's1'), 1, 's1 counts only the reservation')
    t.equal(await loadOf(stack.handle.store, 's2'), 0, 's2 counted nothing')

    const good = new TestClient(`${s1}?token=${forS1}`)
    await good.next((f) => f.type === 'welcome')
    t.equal(await loadOf(stack.handle.store, 's1'), 1, 'the right token is accepted, counted once')
    const replay = await upgradeStatus(`${s1}?token=${forS1}`)
    t.equal(replay.status, 401, 'a token connects once')
    t.match(JSON.parse(replay.body).message, /already used/)
    await stack.sockets[0]?.switchboardSocket.heartbeat()
    t.equal(await loadOf(stack.handle.store, 's1'), 1, 'still one after reconciliation')
    good.close()
  })

  t.test(`${backend}: N connect, M leave (some abruptly) → the load is N − M`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 1 })
    const clients: TestClient[] = []
    for (let i = 0; i < 12; i++) clients.push(await TestClient.connect(stack.registryUrl, `u${i % 5}`))
    t.teardown(() => { for (const c of clients) c.close() })
    t.equal(await loadOf(stack.handle.store, 's1'), 12)
    t.equal(stack.sockets[0]?.switchboardSocket.connections, 12)

    clients[0]?.close()
    clients[1]?.close()
    clients[2]?.ws.terminate() // abrupt: TCP reset, no close frame
    ;(clients[3]?.ws as unknown as { _socket: { destroy (): void } })._socket.destroy()
    clients[4]?.ws.terminate()
    await eventually(async () => (await loadOf(stack.handle.store, 's1')) === 7, 'load 7')
    t.equal(stack.sockets[0]?.switchboardSocket.connections, 7)
  })

  t.test(`${backend}: bad frames get error frames and the server keeps serving`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 1 })
    const mallory = await TestClient.connect(stack.registryUrl, 'mallory')
    const bob = await TestClient.connect(stack.registryUrl, 'bob')
    t.teardown(() => { mallory.close(); bob.close() })

    const bad: Array<[unknown, string, number | undefined]> = [
      ['not json at all', 'INVALID_JSON', undefined],
      ['[1,2,3]', 'INVALID_FRAME', undefined],
      ['"a string"', 'INVALID_FRAME', undefined],
      [{ id: 1 }, 'INVALID_FRAME', 1],
      [{ type: 'teleport', id: 2 }, 'UNKNOWN_TYPE', 2],
      [{ type: 'send', id: 3, data: {} }, 'INVALID_FRAME', 3],
      [{ type: 'send', id: 4, to: 'bob' }, 'INVALID_FRAME', 4],
      [{ type: 'send', id: 5, to: 42, data: {} }, 'INVALID_FRAME', 5],
      [{ type: 'send', id: 6, to: 'bob', data: {}, mid: { x: 1 } }, 'INVALID_FRAME', 6],
      [{ type: 'send', id: 'x'.repeat(65), to: 'bob', data: {} }, 'INVALID_FRAME', undefined],
      [{ type: 'send', id: 7, to: 'no spaces allowed', data: {} }, 'INVALID_FRAME', 7]
    ]
    for (const [frame, code, id] of bad.slice(0, 9)) {
      mallory.send(frame)
      const error = await mallory.next((f) => f.type === 'error')
      t.equal(error.code, code, JSON.stringify(frame))
      t.equal(error.id, id, `id echoed for ${JSON.stringify(frame)}`)
      t.type(error.message, 'string')
    }
    // A valid frame resets the violation count; the connection is still usable.
    const ack = await mallory.request({ type: 'send', to: 'bob', data: { ok: true } })
    t.equal(ack.type, 'ack')
    t.same((await bob.next((f) => f.type === 'message')).data, { ok: true })

    mallory.ws.send(Buffer.from([1, 2, 3]), { binary: true })
    t.equal((await mallory.next((f) => f.type === 'error')).code, 'INVALID_FRAME', 'binary frame')

    for (const [frame, code] of bad.slice(9)) {
      mallory.send(frame)
      t.equal((await mallory.next((f) => f.type === 'error')).code, code)
    }
  })

  t.test(`${backend}: repeated violations close with 4400; a 2 MB frame closes with 1009`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 1 })
    const bob = await TestClient.connect(stack.registryUrl, 'bob')
    t.teardown(() => bob.close())

    const spammer = await TestClient.connect(stack.registryUrl, 'spammer')
    for (let i = 0; i < 10; i++) spammer.send('garbage')
    const closed = await spammer.closed
    t.equal(closed.code, 4400)
    t.equal(spammer.pending('error').length, 10, 'each violation was answered first')

    const big = await TestClient.connect(stack.registryUrl, 'big')
    big.send(JSON.stringify({ type: 'send', id: 1, to: 'bob', data: 'x'.repeat(2 * 1024 * 1024) }))
    t.equal((await big.closed).code, 1009)

    const ack = await bob.request({ type: 'send', to: 'bob', data: 'still here' })
    t.equal(ack.type, 'ack', 'other clients are still served')
    t.equal((await bob.next((f) => f.type === 'message')).data, 'still here')
    await eventually(async () => (await loadOf(stack.handle.store, 's1')) === 1, 'closed connections released')
  })

  t.test(`${backend}: closing the server closes clients with 1001 and deregisters it`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 1 })
    const alice = await TestClient.connect(stack.registryUrl, 'alice')
    await stack.sockets[0]?.close()
    t.equal((await alice.closed).code, 1001)
    t.same(await stack.handle.store.listServers(), [], 'no trace left in the store')
    const response = await fetch(`${stack.registryUrl}/allocate?user=alice`)
    t.equal(response.status, 503)
  })
}

t.test('allocation spreads users: the one holding fewer gets the next', async (t) => {
  const stack = await startStack(t, 'redis', { sockets: 2 })
  const first = await allocate(stack.registryUrl, 'a')
  const c1 = new TestClient(`${first.url}?token=${first.token}`)
  await c1.next((f) => f.type === 'welcome')
  const second = await allocate(stack.registryUrl, 'b')
  t.not(second.server, first.server)
  c1.close()
})

t.test('an open connection does not keep its upgrade request (or the reply, logger and routing state) alive', async (t) => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('needs node --expose-gc (set in .taprc)')
  const stack = await startStack(t, 'memory', { sockets: 1 })
  const requests: Array<WeakRef<object>> = []
  stack.sockets[0]?.server.on('upgrade', (request: object) => { requests.push(new WeakRef(request)) })
  const clients = await Promise.all(['alice', 'bob', 'carol'].map(async (user) => await TestClient.connect(stack.registryUrl, user)))
  t.teardown(() => { for (const c of clients) c.close() })
  t.equal(requests.length, 3, 'three upgrades seen')
  // WeakRefs hold their target until the current job ends: collect in a later macrotask, twice.
  for (let i = 0; i < 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10))
    gc()
  }
  t.equal(requests.filter((r) => r.deref() !== undefined).length, 0, 'every upgrade request was collected while its connection stays open')
  const joined = await clients[0]?.request({ type: 'join', room: 'after-gc' })
  t.equal(joined?.type, 'joined', 'the connections still work')
})
