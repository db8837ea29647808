/**
 * The client side of a benchmark, the same logic for every system: connect a
 * user to a given server, send a direct message and wait for its ack, and
 * hand every delivered message to a callback.
 */
import WebSocket from 'ws'
import { io } from 'socket.io-client'

export interface BenchClient {
  /** which server it is connected to */
  readonly server: string
  send (to: string, data: unknown): Promise<void>
  join (room: string): Promise<void>
  publish (room: string, data: unknown): Promise<void>
  onMessage (handler: (data: unknown) => void): void
  close (): void
}

export interface System {
  readonly name: string
  /** connects `user`; `server` picks one of the system's socket servers (Switchboard allocates it) */
  connect (user: string, server: number): Promise<BenchClient>
  /** pids whose CPU counts as the system's (socket servers, then Redis last) */
  readonly pids: number[]
  /** the Redis processes among `pids` when there are several (a Redis Cluster's nodes); otherwise the last pid */
  readonly redisPids?: number[]
  stop (): Promise<void>
}

/** A raw `ws` client speaking docs/protocol.md, allocated through the registry. */
export async function switchboardClient (registryUrl: string, user: string): Promise<BenchClient> {
  const response = await fetch(`${registryUrl}/allocate?user=${user}`)
  if (response.status !== 200) throw new Error(`allocate answered ${response.status}: ${await response.text()}`)
  const allocation = await response.json() as { url: string, token: string, server: string }
  const ws = new WebSocket(`${allocation.url}?token=${encodeURIComponent(allocation.token)}`)
  const pending = new Map<number, { resolve: () => void, reject: (err: Error) => void }>()
  let handler: (data: unknown) => void = () => {}
  let nextId = 1
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject)
    ws.on('message', (raw) => {
      const frame = JSON.parse(raw.toString()) as { type: string, id?: number, from?: string, to?: string, data?: unknown, code?: string, message?: string }
      if (frame.type === 'welcome') resolve()
      // Deliveries: direct messages to this user, and room messages (not the copies of its own direct messages).
      else if (frame.type === 'message' && (frame.to === undefined || frame.to === user)) handler(frame.data)
      else if ((frame.type === 'ack' || frame.type === 'joined' || frame.type === 'error') && frame.id !== undefined) {
        // An error frame fails its request (the scenario counts or reports it), not the whole benchmark process.
        const waiting = pending.get(frame.id)
        pending.delete(frame.id)
        if (frame.type === 'error') waiting?.reject(new Error(`error frame ${frame.code ?? ''}: ${frame.message ?? ''}`))
        else waiting?.resolve()
      }
    })
  })
  const request = async (frame: Record<string, unknown>): Promise<void> => {
    const id = nextId++
    await new Promise<void>((resolve, reject) => {
      pending.set(id, { resolve, reject })
      ws.send(JSON.stringify({ ...frame, id }))
    })
  }
  return {
    server: allocation.server,
    send: async (to, data) => { await request({ type: 'send', to, data }) },
    join: async (room) => { await request({ type: 'join', room }) },
    publish: async (room, data) => { await request({ type: 'publish', channel: `room:${room}`, data }) },
    onMessage: (h) => { handler = h },
    close: () => { ws.terminate() }
  }
}

/** A socket.io-client connected to one Socket.IO server; acks with the emit callback. */
export async function socketioClient (url: string, user: string, server: string): Promise<BenchClient> {
  const socket = io(url, { transports: ['websocket'], auth: { user }, reconnection: false })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('connect_error', reject)
  })
  let handler: (data: unknown) => void = () => {}
  socket.on('message', (message: { data: unknown }) => handler(message.data))
  return {
    server,
    send: async (to, data) => { await socket.emitWithAck('send', { to, data }) },
    join: async (room) => { await socket.emitWithAck('join', { room }) },
    publish: async (room, data) => { await socket.emitWithAck('publish', { room, data }) },
    onMessage: (h) => { handler = h },
    close: () => { socket.disconnect() }
  }
}
