/**
 * Allocation: the least-loaded live server with room, 503 with Retry-After
 * otherwise. Driven through the store, asserted through GET /allocate.
 */
import t from 'tap'
import { TokenSigner } from '../plugins/token/index.js'
import { BACKENDS, TOKEN_SECRET, openStore, startRegistry } from './helpers/stack.js'
import type { StoreHandle } from './helpers/stack.js'
import { storeTimePasses } from './helpers/store-time.js'

const record = (id: string, capacity = 100) => ({ id, url: `ws://127.0.0.1:1/${id}`, capacity, draining: false, startedAt: Date.now() })

async function fleet (handle: StoreHandle, loads: Record<string, number>, capacity = 100): Promise<void> {
  for (const [id, load] of Object.entries(loads)) await handle.store.heartbeat(record(id, capacity), load)
}

for (const backend of BACKENDS) {
  t.test(`${backend}: picks the least loaded and follows load changes`, async (t) => {
    const handle = await openStore(t, backend)
    const { app } = await startRegistry(t, handle)
    await fleet(handle, { a: 5, b: 2, c: 9 })

    const first = await app.inject({ url: '/allocate?user=alice' })
    t.equal(first.statusCode, 200)
    const body = first.json()
    t.equal(body.server, 'b')
    t.equal(body.url, 'ws://127.0.0.1:1/b')
    t.ok(body.expiresAt > Date.now() && body.expiresAt <= Date.now() + 60_000, 'expires within 60 s')
    const verified = new TokenSigner(TOKEN_SECRET).verify(body.token, 'b')
    t.ok(verified.ok, 'token is valid for the chosen server')
    t.equal(verified.ok && verified.claims.user, 'alice', 'token names the user')

    await handle.store.adjustLoad('b', 4) // b: 6
    t.equal((await app.inject({ url: '/allocate?user=alice' })).json().server, 'a')
    await handle.store.adjustLoad('a', 10) // a: 15
    t.equal((await app.inject({ url: '/allocate?user=alice' })).json().server, 'b')

    // ?avoid=: the server a client just lost is offered only when no other has room.
    t.equal((await app.inject({ url: '/allocate?user=alice&avoid=b' })).json().server, 'c', 'the least loaded of the others')
    await handle.store.heartbeat(record('c', 10), 10)
    await handle.store.heartbeat(record('a', 10), 10)
    t.equal((await app.inject({ url: '/allocate?user=alice&avoid=b' })).json().server, 'b', 'the avoided one when the others are full')
    const bad = await app.inject({ url: '/allocate?user=alice&avoid=no%20such%20id!' })
    t.equal(bad.statusCode, 400)
    t.match(bad.json(), { code: 'BAD_REQUEST', message: /avoid/ }, 'a malformed id is refused, naming the field')
  })

  t.test(`${backend}: no server registered → 503 NO_CAPACITY with Retry-After`, async (t) => {
    const handle = await openStore(t, backend)
    const { app } = await startRegistry(t, handle)
    const response = await app.inject({ url: '/allocate?user=alice' })
    t.equal(response.statusCode, 503)
    t.equal(response.json().code, 'NO_CAPACITY')
    t.match(response.headers['retry-after'], /^\d+$/)
  })

  t.test(`${backend}: full, draining and silent servers are skipped`, async (t) => {
    const handle = await openStore(t, backend)
    const { app } = await startRegistry(t, handle)
    await fleet(handle, { full: 3 }, 3)
    t.equal((await app.inject({ url: '/allocate?user=alice' })).statusCode, 503, 'a server at capacity is not offered')
    await handle.store.heartbeat({ ...record('leaving'), draining: true }, 0)
    t.equal((await app.inject({ url: '/allocate?user=alice' })).statusCode, 503, 'a draining server is not offered')
    await handle.store.adjustLoad('full', -1)
    t.equal((await app.inject({ url: '/allocate?user=alice' })).json().server, 'full', 'allocation resumes when one frees up')
  })

  t.test(`${backend}: a server whose heartbeat is older than the timeout is not offered`, async (t) => {
    const handle = await openStore(t, backend)
    // Generous, so that 'beating' is still recent a few calls after its heartbeat on a busy machine; the silent one's
    // staleness is waited for on the store's clock.
    const { app } = await startRegistry(t, handle, { heartbeatTimeoutMs: 1000 })
    await fleet(handle, { silent: 0, beating: 5 })
    await storeTimePasses(handle.store, 1000)
    await fleet(handle, { beating: 5 })
    t.equal((await app.inject({ url: '/allocate?user=alice' })).json().server, 'beating')
    const { servers } = (await app.inject({ url: '/servers' })).json()
    t.match(servers, [{ id: 'silent', alive: false }, { id: 'beating', alive: true }])
  })

  t.test(`${backend}: GET /servers lists the fleet`, async (t) => {
    const handle = await openStore(t, backend)
    const { app } = await startRegistry(t, handle)
    await fleet(handle, { a: 5, b: 2 })
    const { servers } = (await app.inject({ url: '/servers' })).json()
    t.match(servers, [{ id: 'b', load: 2, capacity: 100, alive: true, draining: false }, { id: 'a', load: 5 }])
    t.equal((await app.inject({ url: '/healthz' })).json().status, 'ok')
  })
}

t.test('identity: dev mode needs a valid ?user=', async (t) => {
  const handle = await openStore(t, 'memory')
  const { app } = await startRegistry(t, handle)
  for (const url of ['/allocate', '/allocate?user=', '/allocate?user=a%20b', `/allocate?user=${'x'.repeat(65)}`]) {
    const response = await app.inject({ url })
    t.equal(response.statusCode, 401, url)
    t.equal(response.json().code, 'UNAUTHORIZED', url)
  }
})

t.test('identity: jwt mode maps a verified bearer token to its sub', async (t) => {
  const { createSigner } = await import('fast-jwt')
  const secret = 'jwt-secret-0123456789abcdef'
  const handle = await openStore(t, 'memory')
  const { app } = await startRegistry(t, handle, { auth: { mode: 'jwt', secret } })
  await handle.store.heartbeat(record('a'), 0)
  const sign = createSigner({ key: secret, expiresIn: 60_000 })
  const allowed = await app.inject({ url: '/allocate', headers: { authorization: `Bearer ${sign({ sub: 'alice' })}` } })
  t.equal(allowed.statusCode, 200)
  const verified = new TokenSigner(TOKEN_SECRET).verify(allowed.json().token, 'a')
  t.equal(verified.ok && verified.claims.user, 'alice')

  const refused: Array<[string, Record<string, string>]> = [
    ['no header', {}],
    ['not bearer', { authorization: 'Basic abc' }],
    ['another key', { authorization: `Bearer ${createSigner({ key: 'other-secret-0123456789', expiresIn: 60_000 })({ sub: 'alice' })}` }],
    ['expired', { authorization: `Bearer ${createSigner({ key: secret, expiresIn: 1 })({ sub: 'alice', iat: 1 })}` }],
    ['no sub', { authorization: `Bearer ${sign({ name: 'alice' })}` }],
    ['bad sub', { authorization: `Bearer ${sign({ sub: 'alice smith' })}` }],
    ['?user= is ignored', { authorization: 'Bearer x.y.z' }]
  ]
  for (const [what, headers] of refused) {
    const response = await app.inject({ url: '/allocate?user=alice', headers })
    t.equal(response.statusCode, 401, what)
    t.equal(response.json().code, 'UNAUTHORIZED', what)
  }
})
