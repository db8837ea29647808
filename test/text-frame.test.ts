/**
 * Frames the socket server writes straight to the TCP socket (plugins/socket/text-frame.ts)
 * are byte for byte the frames `ws` would write, at every length boundary, and a real
 * `ws` client reads them.
 */
import t from 'tap'
import { once } from 'node:events'
import WebSocket, { WebSocketServer } from 'ws'
import * as wsModule from 'ws'
import { sharedTextFrame, textFrame } from '../plugins/socket/text-frame.js'

const payloads = [
  '', 'x', 'a'.repeat(125), 'a'.repeat(126), 'a'.repeat(127), 'é'.repeat(63), 'é'.repeat(64), '😀'.repeat(40),
  'b'.repeat(65_535), 'b'.repeat(65_536), `{"type":"message","data":"${'c'.repeat(70_000)}"}`
]

t.test('the same bytes as ws', async (t) => {
  // ws's own frame builder (its Sender, not in its type declarations)
  const frame = (wsModule as unknown as { Sender: { frame (data: Buffer, options: object): Buffer[] } }).Sender.frame
  for (const payload of payloads) {
    const expected = Buffer.concat(frame(Buffer.from(payload), { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false }))
    t.ok(textFrame(payload).equals(expected), `${Buffer.byteLength(payload)} bytes`)
  }
})

t.test('a ws client reads them, in order, between frames ws itself sent', async (t) => {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  t.teardown(() => { server.close() })
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  server.on('connection', (socket) => {
    const raw = (socket as unknown as { _socket: { write (chunk: Buffer): boolean } })._socket
    socket.send('first, by ws')
    for (const payload of payloads) raw.write(textFrame(payload))
    socket.send('last, by ws')
  })
  const client = new WebSocket(`ws://127.0.0.1:${port}`)
  t.teardown(() => { client.terminate() })
  const received: string[] = []
  await new Promise<void>((resolve, reject) => {
    client.on('message', (data, isBinary) => {
      if (isBinary) reject(new Error('a binary frame'))
      received.push(data.toString())
      if (received.length === payloads.length + 2) resolve()
    })
    client.on('error', reject)
  })
  t.same(received, ['first, by ws', ...payloads, 'last, by ws'])
})

t.test('a fan-out encodes once: the same payload gives the same buffer, another payload a new one', async (t) => {
  const payload = `{"type":"message","n":${Date.now()}}`
  const first = sharedTextFrame(payload)
  t.equal(sharedTextFrame(payload), first, 'the same string: the same bytes, not a copy')
  t.ok(first.equals(textFrame(payload)))
  const other = sharedTextFrame(`${payload} `)
  t.not(other, first)
  t.ok(other.equals(textFrame(`${payload} `)))
  t.ok(sharedTextFrame(payload).equals(first), 'and back')
})
