/**
 * The Socket.IO peer: what a Node team would build instead, the idiomatic
 * way. One process per server; a user's sockets join room `user:{id}`; a
 * direct message is `io.to('user:bob').emit(...)`, a room message
 * `io.to('room:x').emit(...)`, relayed between servers by
 * @socket.io/redis-adapter.
 * Env: PORT, HOST, REDIS_URL.
 */
import { createServer } from 'node:http'
import { Server } from 'socket.io'
import { createAdapter } from '@socket.io/redis-adapter'
import { Redis } from 'ioredis'

const port = Number(process.env.PORT)
const pub = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const sub = pub.duplicate()
const http = createServer((request, response) => {
  if (request.url === '/healthz') {
    response.writeHead(200, { 'content-type': 'application/json' })
    response.end('{"status":"ok"}')
    return
  }
  response.writeHead(404)
  response.end()
})
const io = new Server(http, { adapter: createAdapter(pub, sub), transports: ['websocket'], serveClient: false })

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
