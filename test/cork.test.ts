/**
 * Regression (issue 16): every socket corked in a turn is uncorked by one
 * shared setImmediate. When one uncork threw, the shared set was never
 * emptied, and as a frame only schedules an uncork when the set is empty,
 * every socket of the process stayed corked for good: a server-wide stall.
 * Real TCP sockets, and a real socket server with one socket made to fail.
 */
import t from 'tap'
import { connect, createServer } from 'node:net'
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import { corkForThisTurn } from '../plugins/socket/cork.js'
import { TestClient, eventually } from './helpers/client.js'
import { startStack } from './helpers/stack.js'

interface Pair { readonly server: Socket, readonly received: () => string }

/** `n` TCP connections on loopback; `server` is the accepting end, `received` what its peer read. */
async function pairs (t: { teardown (fn: () => unknown): void }, n: number): Promise<Pair[]> {
  const accepted: Socket[] = []
  let onAccept = (): void => {}
  const listener = createServer((socket) => { accepted.push(socket); onAccept() })
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  const port = (listener.address() as { port: number }).port
  const made: Pair[] = []
  const clients: Socket[] = []
  t.teardown(async () => {
    for (const s of [...accepted, ...clients]) s.destroy()
    await new Promise((resolve) => listener.close(resolve))
  })
  for (let i = 0; i < n; i++) {
    const accepting = new Promise<void>((resolve) => { onAccept = resolve })
    const client = connect(port, '127.0.0.1')
    clients.push(client)
    let text = ''
    client.on('data', (chunk: Buffer) => { text += chunk.toString() })
    await accepting // one at a time, so accepted[i] is client i's peer
    made.push({ server: accepted[i] as Socket, received: () => text })
  }
  return made
}

t.test('one uncork that throws: every other socket is uncorked, the owner is told, and later turns cork and uncork again', async (t) => {
  const [a, faulty, b, late] = await pairs(t, 4) as [Pair, Pair, Pair, Pair]
  const failures: unknown[] = []
  const owner = { uncorkFailed: (err: unknown) => { failures.push(err) } }
  const uncork = faulty.server.uncork.bind(faulty.server)
  faulty.server.uncork = () => { throw new Error('uncork failed') }

  for (const [i, pair] of [a, faulty, b].entries()) {
    corkForThisTurn(pair.server, owner)
    pair.server.write(`first ${i};`)
    t.equal(pair.server.writableCorked, 1, `socket ${i} is corked for the rest of the turn`)
  }
  await eventually(() => a.received() === 'first 0;' && b.received() === 'first 2;', 3000,
    () => `the healthy sockets to be uncorked (got ${JSON.stringify([a.received(), b.received()])})`)
  t.equal(a.server.writableCorked, 0, 'the socket before the failing one is uncorked')
  t.equal(b.server.writableCorked, 0, 'and the one after it')
  t.match(failures, [{ message: 'uncork failed' }], 'the failing socket\'s owner is told, once')

  // The next turn: a socket seen before, and one never corked yet, are corked and uncorked again.
  faulty.server.uncork = uncork
  for (const [i, pair] of [a, late].entries()) {
    corkForThisTurn(pair.server, owner)
    pair.server.write(`second ${i};`)
  }
  await eventually(() => a.received() === 'first 0;second 0;' && late.received() === 'second 1;', 3000,
    () => `the next turn's frames (got ${JSON.stringify([a.received(), late.received()])})`)
  t.equal(late.server.writableCorked, 0, 'a socket corked after the failure is uncorked at the end of its turn')
  t.equal(failures.length, 1, 'nothing else failed')
})

t.test('a socket server whose one client socket fails to uncork drops that client and keeps serving the others', async (t) => {
  const stack = await startStack(t, 'memory', { sockets: 1 })
  const [alice, bob, carol] = [
    await TestClient.connect(stack.registryUrl, 'alice'),
    await TestClient.connect(stack.registryUrl, 'bob'),
    await TestClient.connect(stack.registryUrl, 'carol')
  ]
  t.teardown(() => { alice.close(); bob.close(); carol.close() })
  for (const client of [alice, bob, carol]) await client.request({ type: 'join', room: 'general' })

  // Bob's socket on the server: the peer of his client's TCP socket.
  const server = stack.sockets[0]
  const bobPort = (bob.ws as unknown as { _socket: Socket })._socket.localPort
  const bobOnServer = [...(server?.websocketServer.clients ?? [])]
    .map((ws: WebSocket) => (ws as unknown as { _socket: Socket })._socket)
    .find((socket) => socket.remotePort === bobPort)
  if (bobOnServer === undefined) throw new Error('bob\'s socket is not on the server')
  bobOnServer.uncork = () => { throw new Error('uncork failed') }

  // One publish: its frame goes to the three members in the same turn, so all three sockets are corked together.
  await alice.request({ type: 'publish', channel: 'room:general', data: 'one' })
  t.match(await carol.next((f) => f.type === 'message' && f.data === 'one'), { from: 'alice' }, 'carol gets the frame written in the failing turn')
  t.match(await alice.next((f) => f.type === 'message' && f.data === 'one'), { from: 'alice' }, 'so does alice')
  t.equal((await bob.closed).code, 1006, 'bob\'s connection, whose frames may be stuck, is dropped so that he reconnects and recovers')

  await alice.request({ type: 'publish', channel: 'room:general', data: 'two' })
  t.match(await carol.next((f) => f.type === 'message' && f.data === 'two'), { from: 'alice' }, 'the next turn is delivered too')
  const dave = await TestClient.connect(stack.registryUrl, 'dave')
  t.teardown(() => dave.close())
  await dave.request({ type: 'join', room: 'general' })
  await carol.request({ type: 'publish', channel: 'room:general', data: 'three' })
  t.match(await dave.next((f) => f.type === 'message' && f.data === 'three'), { from: 'carol' }, 'and a connection made afterwards is served')
})
