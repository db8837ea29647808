/**
 * Bad input and abuse: JWTs, origins, floods, slow consumers, silent peers,
 * spoofing, fuzzing, oversized headers, the /allocate rate limit.
 */
import t from 'tap'
import fc from 'fast-check'
import { createSigner } from 'fast-jwt'
import { connect as tcpConnect } from 'node:net'
import { readFileSync } from 'node:fs'
import WebSocket from 'ws'
import { parseFrame } from '../plugins/socket/protocol.js'
import { FrameErrorCodes } from '../plugins/errors.js'
import { heldBytes } from './helpers/memory.js'
import { PATIENCE_MS, TestClient, allocate, eventually } from './helpers/client.js'
import { BACKENDS, loadOf, openStore, startRegistry, startSocket, startStack } from './helpers/stack.js'
import { runCli, waitForHttp } from './helpers/processes.js'
import { freePort } from './helpers/redis.js'

const JWT_SECRET = 'jwt-secret-for-security-tests-0123'

t.test('JWTs: alg none, a wrong key, a wrong issuer are refused and nothing is counted', async (t) => {
  const handle = await openStore(t, 'redis')
  await startSocket(t, handle, 's1')
  const { app } = await startRegistry(t, handle, { auth: { mode: 'jwt', secret: JWT_SECRET, issuer: 'https://id.example.com' } })
  const good = createSigner({ key: JWT_SECRET, iss: 'https://id.example.com', expiresIn: 60_000 })({ sub: 'alice' })
  t.equal((await app.inject({ url: '/allocate', headers: { authorization: `Bearer ${good}` } })).statusCode, 200)
  await handle.store.heartbeat({ id: 's1', url: 'ws://x', capacity: 100, draining: false, startedAt: 0 }, 0)
  const before = await loadOf(handle.store, 's1')
  const exp = Math.floor(Date.now() / 1000) + 60
  const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(`{"sub":"alice","iss":"https://id.example.com","exp":${exp}}`).toString('base64url')}.`
  const cases: Array<[string, string]> = [
    ['alg none', none],
    ['another key', createSigner({ key: 'another-secret-entirely-0123456', iss: 'https://id.example.com', expiresIn: 60_000 })({ sub: 'alice' })],
    ['another issuer', createSigner({ key: JWT_SECRET, iss: 'https://evil.example.com', expiresIn: 60_000 })({ sub: 'alice' })],
    ['garbage', 'not.a.jwt']
  ]
  for (const [what, token] of cases) {
    const response = await app.inject({ url: '/allocate', headers: { authorization: `Bearer ${token}` } })
    t.equal(response.statusCode, 401, what)
  }
  t.equal(await loadOf(handle.store, 's1'), before, 'refusals reserve nothing')
})

t.test('JWTs must say when they expire, and not too far ahead (JWT_MAX_LIFETIME_MS, counted from now)', async (t) => {
  const handle = await openStore(t, 'redis')
  await startSocket(t, handle, 's1')
  const { app } = await startRegistry(t, handle, { auth: { mode: 'jwt', secret: JWT_SECRET, maxLifetimeMs: 3600_000 } })
  const status = async (token: string): Promise<{ status: number, body: { code?: string, message?: string } }> => {
    const response = await app.inject({ url: '/allocate', headers: { authorization: `Bearer ${token}` } })
    return { status: response.statusCode, body: response.json() }
  }
  const before = await loadOf(handle.store, 's1')
  const noExp = await status(createSigner({ key: JWT_SECRET })({ sub: 'alice' }))
  t.equal(noExp.status, 401, 'a JWT without exp is refused')
  t.match(noExp.body, { code: 'UNAUTHORIZED', message: /exp/ }, 'saying why')
  const tooFar = await status(createSigner({ key: JWT_SECRET, expiresIn: 2 * 3600_000 })({ sub: 'alice' }))
  t.equal(tooFar.status, 401, 'a JWT that expires in 2 h, when the maximum is 1 h, is refused')
  t.match(tooFar.body, { code: 'UNAUTHORIZED', message: /lives too long/ })
  const yearOld = createSigner({ key: JWT_SECRET })({ sub: 'alice', iat: Math.floor(Date.now() / 1000) - 365 * 86_400, exp: Math.floor(Date.now() / 1000) + 600 })
  t.equal((await status(yearOld)).status, 200, 'what counts is the time left: a token issued a year ago that expires in 10 min passes')
  t.equal((await status(createSigner({ key: JWT_SECRET, expiresIn: 3500_000 })({ sub: 'alice' }))).status, 200, 'within the maximum: accepted')
  t.equal(await loadOf(handle.store, 's1'), (before ?? 0) + 2, 'the refusals reserved nothing')
})

t.test('JWTs signed with RS256, verified against the provider\'s JWKS', async (t) => {
  const { generateKeyPairSync } = await import('node:crypto')
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }
  const Fastify = (await import('fastify')).default
  const idp = Fastify()
  idp.get('/keys.json', async () => ({ keys: [jwk] }))
  const idpUrl = await idp.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await idp.close() })

  const handle = await openStore(t, 'memory')
  await startSocket(t, handle, 's1')
  const { app } = await startRegistry(t, handle, { auth: { mode: 'jwt', jwksUrl: `${idpUrl}/keys.json` } })
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  const token = createSigner({ key: pem, algorithm: 'RS256', kid: 'k1', expiresIn: 60_000 })({ sub: 'alice' })
  t.equal((await app.inject({ url: '/allocate', headers: { authorization: `Bearer ${token}` } })).statusCode, 200, 'a token the IdP signed')
  const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  const forged = createSigner({ key: otherKey, algorithm: 'RS256', kid: 'k1', expiresIn: 60_000 })({ sub: 'alice' })
  t.equal((await app.inject({ url: '/allocate', headers: { authorization: `Bearer ${forged}` } })).statusCode, 401, 'a token signed with another key')
  const hsWithPublic = createSigner({ key: JSON.stringify(jwk), algorithm: 'HS256', kid: 'k1', expiresIn: 60_000 })({ sub: 'alice' })
  t.equal((await app.inject({ url: '/allocate', headers: { authorization: `Bearer ${hsWithPublic}` } })).statusCode, 401, 'HS256 with the public key as secret (algorithm confusion)')
})

for (const backend of BACKENDS) {
  t.test(`${backend}: browser origins outside ALLOWED_ORIGINS are refused before the upgrade`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 1, socket: { allowedOrigins: ['https://chat.example.com'] } })
    const tryOrigin = async (origin: string | undefined): Promise<number> => {
      const allocation = await allocate(stack.registryUrl, 'alice')
      return await new Promise((resolve) => {
        const ws = new WebSocket(`${allocation.url}?token=${allocation.token}`, origin === undefined ? {} : { origin })
        ws.on('open', () => { ws.close(); resolve(101) })
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
        ws.on('error', () => {})
      })
    }
    t.equal(await tryOrigin('https://evil.example.com'), 403, 'another site')
    t.equal(await tryOrigin('https://chat.example.com'), 101, 'the allowed site')
    t.equal(await tryOrigin(undefined), 101, 'a client that is not a browser (no Origin)')
  })

  t.test(`${backend}: a flooding client is limited and closed with 4008 while 50 others keep talking`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 1, socket: { limits: { frameRate: 20, frameBurst: 40, floodTolerance: 40 } } })
    const others: TestClient[] = []
    for (let i = 0; i < 50; i++) others.push(await TestClient.connect(stack.registryUrl, `o${i}`))
    t.teardown(() => { for (const o of others) o.close() })
    const flooder = await TestClient.connect(stack.registryUrl, 'flooder')
    for (let i = 0; i < 500; i++) flooder.send({ type: 'send', id: i, to: 'o0', data: 'spam' })
    for (const [i, o] of others.entries()) await o.request({ type: 'send', to: `o${(i + 1) % 50}`, data: { from: i } })
    for (const [i, o] of others.entries()) {
      const got = await o.next((f) => f.type === 'message' && (f.data as { from?: number }).from === (i + 49) % 50)
      t.ok(got, `o${i} received its message during the flood`)
    }
    t.equal((await flooder.closed).code, 4008, 'the flooder is closed with 4008')
    t.ok(flooder.pending('error').some((f) => f.code === 'RATE_LIMITED'), 'after RATE_LIMITED error frames')
    const delivered = others[0]?.pending('message').filter((f) => f.data === 'spam').length ?? 0
    t.ok(delivered <= 41 + 10, `only about a burst of the flood got through (${delivered})`)
  })

  t.test(`${backend}: a silent peer (never answers pings) is dropped and its count released`, async (t) => {
    // Pinged every 100 ms, dropped after 2 s without an answer: generous, so that a busy machine's pauses drop no peer that answers.
    const stack = await startStack(t, backend, { sockets: 1, socket: { limits: { pingIntervalMs: 100, pingTimeoutMs: 2000 } } })
    const allocation = await allocate(stack.registryUrl, 'mute')
    const mute = new WebSocket(`${allocation.url}?token=${allocation.token}`, { autoPong: false })
    await new Promise((resolve) => mute.once('message', resolve))
    const lively = await TestClient.connect(stack.registryUrl, 'lively')
    t.teardown(() => lively.close())
    let pings = 0
    lively.ws.on('ping', () => { pings++ })
    const closed = new Promise<number>((resolve) => mute.once('close', (code) => resolve(code)))
    t.equal(await closed, 1006, 'terminated without a close handshake')
    await eventually(async () => (await loadOf(stack.handle.store, 's1')) === 1, 'count released')
    // Three more pings answered (each one is sent once the one before was): the server went on checking it.
    const answered = pings
    await eventually(() => pings >= answered + 3, 'three more pings to the peer that answers')
    t.equal(lively.ws.readyState, WebSocket.OPEN, 'a peer that answers pings stays')
  })

  t.test(`${backend}: no spoofing, no reading others' channels, channel cap`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 1, socket: { limits: { maxChannels: 3 } } })
    const mallory = await TestClient.connect(stack.registryUrl, 'mallory')
    const alice = await TestClient.connect(stack.registryUrl, 'alice')
    t.teardown(() => { mallory.close(); alice.close() })
    await mallory.request({ type: 'send', to: 'alice', data: 'hi', from: 'bob' })
    t.match(await alice.next((f) => f.type === 'message'), { from: 'mallory' }, 'from is always the sender')
    t.match(await mallory.request({ type: 'history', channel: 'user:alice' }), { code: 'FORBIDDEN' })
    t.match(await mallory.request({ type: 'subscribe', channel: 'user:alice' }), { code: 'FORBIDDEN' })
    t.match(await mallory.request({ type: 'publish', channel: 'user:alice', data: 'x' }), { code: 'FORBIDDEN' })
    await mallory.request({ type: 'join', room: 'r1' })
    await mallory.request({ type: 'join', room: 'r2' })
    await mallory.request({ type: 'join', room: 'r3' })
    t.match(await mallory.request({ type: 'join', room: 'r4' }), { type: 'error', code: 'LIMIT_EXCEEDED' }, 'a fourth room (the personal channel does not count) is refused')
    t.equal(await stack.handle.store.isMember('r4', 'mallory'), false, 'and not joined')
    await stack.handle.store.join('r5', 'mallory')
    t.match(await mallory.request({ type: 'subscribe', channels: [{ channel: 'room:r5' }] }), { channels: [{ channel: 'room:r5', error: { code: 'LIMIT_EXCEEDED' } }] }, 'nor subscribed to')
  })

  t.test(`${backend}: fuzzing the frame handler: every answer is a defined frame, the server keeps serving`, async (t) => {
    const stack = await startStack(t, backend, { sockets: 1, socket: { maxViolations: 1_000_000 } })
    const fuzzer = await TestClient.connect(stack.registryUrl, 'fuzzer')
    t.teardown(() => fuzzer.close())
    const types = ['send', 'publish', 'join', 'leave', 'subscribe', 'unsubscribe', 'history', 'presence', 'teleport', '__proto__', 'constructor']
    const anyValue = fc.oneof(fc.jsonValue(), fc.constantFrom('__proto__', 'constructor', 'room:x', 'user:fuzzer', '0-0', 'a'.repeat(100)),
      fc.double(), fc.bigInt().map(String), fc.constant(Number.MAX_SAFE_INTEGER + 2))
    const frame = fc.record({
      type: fc.constantFrom(...types),
      id: fc.oneof(fc.nat(), fc.string(), fc.constant(-1), fc.constant(null)),
      to: anyValue,
      channel: fc.oneof(fc.constantFrom('room:r', 'user:fuzzer', 'user:x', 'room:', 'room:a b'), fc.string()),
      room: anyValue,
      data: anyValue,
      mid: anyValue,
      since: fc.oneof(fc.constant(undefined), fc.record({ offset: anyValue, epoch: anyValue })),
      before: anyValue,
      limit: anyValue,
      ['__proto__']: fc.constant({ polluted: true })
    }, { requiredKeys: ['type'] })
    const text = fc.oneof(
      frame.map((f) => JSON.stringify(f)),
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.nat(200).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
      fc.constant('{"type":"send","id":1,"to":"x","data":' + '['.repeat(5000) + ']'.repeat(5000) + '}')
    )
    const defined = new Set(['ack', 'joined', 'left', 'subscribed', 'unsubscribed', 'history', 'presence', 'error', 'message', 'join', 'leave'])
    await fc.assert(fc.asyncProperty(fc.array(text, { minLength: 1, maxLength: 10 }), async (batch) => {
      for (const item of batch) fuzzer.send(item)
      // A marker whose id no fuzzed frame can have (fuzzed ids are numbers or short random strings).
      const markerId = `marker-${Math.random().toString(36).slice(2)}-${'m'.repeat(20)}`
      fuzzer.send({ type: 'presence', id: markerId, channel: 'user:fuzzer' })
      const marker = await fuzzer.next((f) => f.id === markerId)
      if (marker.type !== 'presence') return false
      const answers = fuzzer.frames.splice(0)
      return answers.every((f) => defined.has(f.type) && (f.type !== 'error' || Object.values(FrameErrorCodes).includes(f.code as never)))
    }), { numRuns: 150 })
    t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution')
    t.equal(fuzzer.ws.readyState, WebSocket.OPEN, 'the connection survived')
    const other = await TestClient.connect(stack.registryUrl, 'other')
    t.teardown(() => other.close())
    t.equal((await other.request({ type: 'send', to: 'fuzzer', data: 'still fine' })).type, 'ack', 'the server keeps serving')
  })
}

t.test('the frame parser never throws (properties over arbitrary input)', async (t) => {
  fc.assert(fc.property(fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v)), fc.uint8Array().map((b) => Buffer.from(b).toString('latin1'))), (input) => {
    const result = parseFrame(input)
    return result.ok || Object.values(FrameErrorCodes).includes(result.error.code)
  }), { numRuns: 2000 })
  t.pass('no input made parseFrame throw')
})

t.test('the /allocate rate limit per client IP holds across registries (Redis store)', async (t) => {
  const handle = await openStore(t, 'redis')
  await startSocket(t, handle, 's1')
  const a = await startRegistry(t, handle, { allocateRateLimit: { max: 3, timeWindowMs: 60_000 } })
  const b = await startRegistry(t, handle, { allocateRateLimit: { max: 3, timeWindowMs: 60_000 } })
  const statuses: number[] = []
  for (const url of [a.url, b.url, a.url, b.url]) statuses.push((await fetch(`${url}/allocate?user=u`)).status)
  t.same(statuses, [200, 200, 200, 429], 'the fourth request from this IP is refused, whichever registry gets it')
  const refused = await fetch(`${b.url}/allocate?user=u`)
  t.match(await refused.json(), { code: 'RATE_LIMITED' })
  t.ok(refused.headers.get('retry-after') !== null, 'with Retry-After')
})

/** No pings in the slow-consumer tests: a peer that does not read answers none, and would be dropped (1006) instead of closed with 4009. */
const NO_PINGS = { pingIntervalMs: 3_600_000, pingTimeoutMs: 3_600_000 }

/**
 * 20 MB of direct messages from `sender` to `user`, then a marker. `witness`, another connection of `user` on the
 * same server that reads, has the marker once the server has handed every message to the user's other connection too.
 */
async function sendAll (sender: TestClient, witness: TestClient, user: string): Promise<void> {
  const chunk = 'x'.repeat(100_000)
  for (let i = 0; i < 200; i++) {
    await sender.request({ type: 'send', to: user, data: chunk }) // 20 MB in all
    // The copies the sender and the witness get are the test clients' memory, not the server's.
    sender.frames.length = 0
    witness.frames.length = 0
  }
  await sender.request({ type: 'send', to: user, data: 'marker' })
  await witness.next((f) => f.type === 'message' && f.data === 'marker')
  witness.frames.length = 0
}

t.test('a slow consumer is closed with 4009 and what the server holds for it stays bounded', async (t) => {
  // Redis store: the memory store would keep the 20 MB as history, which is not what this measures.
  const stack = await startStack(t, 'redis', { sockets: 1, socket: { maxPayload: 1024 * 1024, limits: { maxBufferedBytes: 1024 * 1024, ...NO_PINGS } } })
  const sender = await TestClient.connect(stack.registryUrl, 'sender')
  const slow = await TestClient.connect(stack.registryUrl, 'slow')
  const witness = await TestClient.connect(stack.registryUrl, 'slow')
  t.teardown(() => { slow.close(); sender.close(); witness.close() })
  const before = heldBytes()
  ;(slow.ws as unknown as { _socket: { pause (): void } })._socket.pause()
  await sendAll(sender, witness, 'slow')
  sender.frames.length = 0
  const growth = heldBytes() - before
  t.ok(growth < 6 * 1024 * 1024, `memory held grew by ${(growth / 1024 / 1024).toFixed(1)} MB while 20 MB were sent to a client that reads nothing`)
  ;(slow.ws as unknown as { _socket: { resume (): void } })._socket.resume()
  t.equal((await slow.closed).code, 4009, 'the slow consumer was closed with 4009')
  const received = slow.pending('message').length
  t.ok(received < 100, `it received ${received} of the 200 before being cut off`)
  await eventually(async () => (await loadOf(stack.handle.store, 's1')) === 2, 'its count released (the sender and the witness stay)')
})

t.test('a client process frozen with SIGSTOP is closed with 4009; what the server holds stays bounded', async (t) => {
  const { spawnOwned } = await import('../infra/process/owned.js')
  const { resolve } = await import('node:path')
  const stack = await startStack(t, 'redis', { sockets: 1, socket: { maxPayload: 1024 * 1024, limits: { maxBufferedBytes: 1024 * 1024, ...NO_PINGS } } })
  const sender = await TestClient.connect(stack.registryUrl, 'sender')
  const witness = await TestClient.connect(stack.registryUrl, 'frozen')
  t.teardown(() => { sender.close(); witness.close() })
  // The frozen client is a real process: it connects, says so, and later reports how it was closed.
  const script = `
    import WebSocket from ${JSON.stringify(resolve('node_modules/ws/wrapper.mjs'))}
    const a = await (await fetch(process.argv[1] + '/allocate?user=frozen')).json()
    const ws = new WebSocket(a.url + '?token=' + encodeURIComponent(a.token))
    ws.once('message', () => console.log('welcome'))
    ws.on('close', (code) => { console.log('closed ' + code); process.exit(0) })`
  const child = spawnOwned(process.execPath, ['--input-type=module', '-e', script, stack.registryUrl], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  await eventually(() => output.includes('welcome'), 'the client process to connect')
  const before = heldBytes()
  child.kill('SIGSTOP')
  await sendAll(sender, witness, 'frozen')
  const growth = heldBytes() - before
  t.ok(growth < 6 * 1024 * 1024, `memory held grew by ${(growth / 1024 / 1024).toFixed(1)} MB while 20 MB were sent to a frozen client`)
  child.kill('SIGCONT')
  await eventually(() => output.includes('closed'), 'the client to learn it was closed')
  t.match(output, /closed 4009/, 'closed with 4009')
  await eventually(async () => (await loadOf(stack.handle.store, 's1')) === 2, 'its count released (the sender and the witness stay)')
})

t.test('2,000 headers or a huge Sec-WebSocket-Protocol: answered with an HTTP error, process alive (ws CVE-2024-37890, CVE-2021-32640)', async (t) => {
  const version = JSON.parse(readFileSync('node_modules/ws/package.json', 'utf8')).version as string
  const [major = 0, minor = 0, patch = 0] = version.split('.').map(Number)
  t.ok(major > 8 || (major === 8 && (minor > 17 || (minor === 17 && patch >= 1))), `ws ${version} has the fixes`)
  const port = await freePort()
  runCli(t, 'standalone', { PORT: String(port), LOG_LEVEL: 'warn' })
  await waitForHttp(`http://127.0.0.1:${port}/healthz`)
  const raw = async (headers: string): Promise<string> => await new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1', () => {
      socket.write(`GET /ws?token=x HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${headers}\r\n`)
    })
    let answer = ''
    socket.on('data', (d) => { answer += d.toString() })
    socket.on('close', () => resolve(answer))
    socket.on('error', reject)
    // Gives up (with what came, failing the match) if the server never answers: a hang is what CVE-2024-37890 was.
    setTimeout(() => { socket.destroy(); resolve(answer) }, PATIENCE_MS)
  })
  const many = Array.from({ length: 2000 }, (_, i) => `X-H${i}: ${i}\r\n`).join('')
  t.match(await raw(many), /^HTTP\/1\.1 (4\d\d)/, '2,000 headers: an HTTP error')
  t.match(await raw(`Sec-WebSocket-Protocol: ${'a,'.repeat(8000)}a\r\n`), /^HTTP\/1\.1 (4\d\d)/, 'a huge protocol list: an HTTP error')
  t.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'the server is alive')
})

t.test('TLS end to end: allocate over https://, chat over wss://; plain ws:// on the TLS port fails cleanly', async (t) => {
  const { mkdtempSync, writeFileSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join, resolve } = await import('node:path')
  const { execFileSync, execFile } = await import('node:child_process')
  const dir = mkdtempSync(join(tmpdir(), 'sb-tls-'))
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' })
  const port = await freePort()
  const server = runCli(t, 'standalone', { PORT: String(port), LOG_LEVEL: 'warn', TLS_CERT: cert, TLS_KEY: key })
  const root = resolve('.')
  // The client runs in its own process, trusting the test's certificate the way a real deployment trusts its CA.
  const client = join(dir, 'client.mjs')
  writeFileSync(client, `
    import WebSocket from ${JSON.stringify(join(root, 'node_modules/ws/wrapper.mjs'))}
    import { createClient } from ${JSON.stringify(join(root, 'dist/client/sdk/index.js'))}
    const base = process.argv[2]
    // Polls until the server answers (generously: a busy machine starts it slowly).
    for (const deadline = Date.now() + 60000; Date.now() < deadline;) { try { if ((await fetch(base + '/healthz')).ok) break } catch {} await new Promise((r) => setTimeout(r, 100)) }
    const allocation = await (await fetch(base + '/allocate?user=carol')).json()
    const alice = createClient({ registryUrl: base, auth: { user: 'alice' }, WebSocket })
    const bob = createClient({ registryUrl: base, auth: { user: 'bob' }, WebSocket })
    await alice.ready
    await bob.ready
    const got = new Promise((resolve) => bob.on('message', resolve))
    await alice.send('bob', { text: 'over tls' })
    const message = await got
    const plain = await new Promise((resolve) => {
      const ws = new WebSocket(base.replace('https:', 'ws:') + '/ws?token=x')
      ws.on('open', () => resolve('open'))
      ws.on('unexpected-response', (_q, res) => resolve('http ' + res.statusCode))
      ws.on('error', (e) => resolve('error ' + (e.code ?? e.message)))
    })
    alice.close(); bob.close()
    console.log(JSON.stringify({ allocated: allocation.url, text: message.data.text, plain }))
  `)
  const output = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [client, `https://127.0.0.1:${port}`], { env: { ...process.env, NODE_EXTRA_CA_CERTS: cert }, timeout: 90_000 },
      (err, stdout, stderr) => { if (err !== null) reject(new Error(`${err.message}\n${stderr}\n${server.output()}`)); else resolve(stdout) })
  })
  const result = JSON.parse(output.trim().split('\n').pop() ?? '{}') as { allocated: string, text: string, plain: string }
  t.match(result.allocated, /^wss:\/\/127\.0\.0\.1:\d+\/ws$/, 'the registry hands out a wss:// URL')
  t.equal(result.text, 'over tls', 'a direct message crossed over wss://')
  t.match(result.plain, /^(error|http 400)/, `plain ws:// on the TLS port fails cleanly (${result.plain})`)
  t.equal(server.child.exitCode, null, 'the server is still running')
})
