/**
 * The Socket.IO peer: what a Node team would build instead, the idiomatic
 * way. One process per server; a user's sockets join room `user:{id}`; a
 * direct message is `io.to('user:bob').emit(...)`, a room message
 * `io.to('room:x').emit(...)`, relayed between servers by
 * @socket.io/redis-adapter (ADAPTER=redis, the default, no history) or by
 * @socket.io/redis-streams-adapter with connection state recovery
 * (ADAPTER=streams: every broadcast goes through a Redis stream, the
 * history-keeping setup).
 * Env: PORT, HOST, REDIS_URL, ADAPTER.
 */
import { createServer } from 'node:http'
import { Server } from 'socket.io'
import type { ServerOptions } from 'socket.io'
import { createAdapter } from '@socket.io/redis-adapter'
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter'
import { Redis } from 'ioredis'

const port = Number(process.env.PORT)
const streams = process.env.ADAPTER === 'streams'
// The name marks this process's connections (duplicates inherit it), so readiness can find its stream reader.
const connectionName = `sio-${port}`
const pub = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { connectionName })
const options: Partial<ServerOptions> = streams
  ? { adapter: createStreamsAdapter(pub), connectionStateRecovery: {} }
  : { adapter: createAdapter(pub, pub.duplicate()) }

/**
 * The streams adapter reads from `$` once its reader connects: anything
 * broadcast before that is never seen here. Ready once that reader blocks in XREAD.
 */
let ready = !streams
async function readerBlocked (): Promise<boolean> {
  const clients = String(await pub.client('LIST')).split('\n')
  return clients.some((line) => line.includes(` name=${connectionName} `) && line.includes(' cmd=xread'))
}

const http = createServer((request, response) => {
  if (request.url === '/healthz') {
    const answer = (ok: boolean): void => {
      response.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
      response.end(ok ? '{"status":"ok"}' : '{"status":"starting"}')
    }
    if (ready) return answer(true)
    readerBlocked().then((blocked) => { ready = blocked; answer(blocked) }, () => answer(false))
    return
  }
  response.writeHead(404)
  response.end()
})
const io = new Server(http, { ...options, transports: ['websocket'], serveClient: false })

io.on('connection', (socket) => {
  const user = String((socket.handshake.auth as { user?: unknown }).user ?? '')
  socket.join(`user:${user}`)
  socket.on('send', (message: { to: string, data: unknown }, ack: (reply: unknown) => void) => {
    io.to(`user:${message.to}`).emit('message', { from: user, to: message.to, data: message.data, ts: Date.now() })
    ack({ ok: true })
  })
  socket.on('join', (message: { room: string }, ack: (reply: unknown) => void) => {
    socket.join(`room:${message.room}`)
    ack({ ok: true })
  })
  socket.on('publish', (message: { room: string, data: unknown }, ack: (reply: unknown) => void) => {
    io.to(`room:${message.room}`).emit('message', { from: user, data: message.data, ts: Date.now() })
    ack({ ok: true })
  })
})

http.listen(port, process.env.HOST ?? '127.0.0.1')
