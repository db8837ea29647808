/**
 * A load-generator process of the `churn` benchmark (bench/scenarios/churn.ts
 * runs it as `node dist/bench/lib/churn-worker.js '<ChurnConfig JSON>'`).
 * It holds its share of clients, each its own user and a member of one room,
 * all on the server about to be killed, and once armed reports when every one
 * of them is back on another server:
 *   switchboard: the real SDK (allocate, connect, recover); back = welcomed by
 *     another server, and the room's marker message (published while it was
 *     away) received exactly once, from the replay or live;
 *   socketio: socket.io-client with its default reconnection, pointed at a
 *     surviving server once its own is gone (an ideal load balancer that costs
 *     nothing); back = reconnected and the room joined again (it keeps no history).
 * The parent is told everything over IPC.
 */
import WebSocket from 'ws'
import { io } from 'socket.io-client'
import type { Socket } from 'socket.io-client'
import { createClient } from '../../client/sdk/index.js'
import type { SwitchboardClient } from '../../client/sdk/index.js'

export interface ChurnConfig {
  readonly system: 'switchboard' | 'socketio'
  /** switchboard: where the SDK allocates */
  readonly registryUrl: string
  /** socketio: the server every client starts on (the one to be killed) */
  readonly victimUrl: string
  /** socketio: where clients reconnect, client n to survivors[n % length] */
  readonly survivorUrls: readonly string[]
  /** switchboard: the id of the server to be killed (a welcome from any other is a client back) */
  readonly victim: string
  /** the local address every websocket binds (127.0.0.x: each has its own ephemeral ports) */
  readonly sourceAddress: string
  /** users are `${userPrefix}-${n}` for n in [0, count); user n is in room `churn-${n % rooms}` */
  readonly userPrefix: string
  readonly count: number
  readonly rooms: number
  /** clients connecting at once during setup */
  readonly inFlight: number
}

export type ChurnParentMessage = { readonly type: 'connect' } | { readonly type: 'arm' }

export type ChurnWorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'connected', readonly connected: number, readonly failed: number, readonly onVictim: number, readonly errors: Record<string, number> }
  | { readonly type: 'armed' }
  | { readonly type: 'progress', readonly back: number, readonly away: number }
  /** `at`: Date.now() when the last client came back */
  | { readonly type: 'back', readonly at: number, readonly back: number, readonly resets: number, readonly duplicates: number }

const config = JSON.parse(process.argv[2] ?? '{}') as ChurnConfig
const errors: Record<string, number> = {}
let armed = false
let back = 0
let away = 0
let resets = 0
let duplicates = 0

function send (message: ChurnWorkerMessage): void {
  if (process.connected) process.send?.(message)
}

function count (err: unknown): void {
  const key = String((err as Error).message ?? err).slice(0, 80)
  errors[key] = (errors[key] ?? 0) + 1
}

const roomOf = (n: number): string => `churn-${n % config.rooms}`

/** One client's way back after the kill: away (its connection is gone), then back once both halves are done. */
class Return {
  #gone = false
  #reconnected = false
  #marker = 0
  #done = false
  constructor (readonly needsMarker: boolean) {}

  gone (): void {
    if (!armed || this.#gone) return
    this.#gone = true
    away++
  }

  reconnected (): void {
    if (!armed) return
    this.#reconnected = true
    this.#check()
  }

  marker (): void {
    if (!armed) return
    if (++this.#marker > 1) duplicates++
    this.#check()
  }

  #check (): void {
    if (this.#done || !this.#reconnected || (this.needsMarker && this.#marker === 0)) return
    this.#done = true
    if (++back === config.count) send({ type: 'back', at: Date.now(), back, resets, duplicates })
  }
}

const returns: Return[] = []
const closers: Array<() => void> = []
let onVictim = 0

/** A `ws` bound to this worker's source address, as the SDK's WebSocket. */
class BoundWebSocket extends WebSocket {
  constructor (url: string) { super(url, { localAddress: config.sourceAddress }) }
}

async function switchboardClient (n: number): Promise<void> {
  const ret = new Return(true)
  returns.push(ret)
  const client: SwitchboardClient = createClient({ registryUrl: config.registryUrl, auth: { user: `${config.userPrefix}-${n}` }, WebSocket: BoundWebSocket })
  closers.push(() => { client.close() })
  client.on('state', (state) => {
    if (state === 'reconnecting') ret.gone()
    else if (state === 'connected' && client.server !== config.victim) ret.reconnected()
  })
  client.on('reset', () => { if (armed) resets++ })
  client.on('message', (message) => { if ((message.data as { marker?: boolean }).marker === true) ret.marker() })
  await client.ready
  await client.join(roomOf(n))
  if (client.server === config.victim) onVictim++
}

async function socketioClient (n: number): Promise<void> {
  const ret = new Return(false)
  returns.push(ret)
  const socket: Socket = io(config.victimUrl, {
    transports: ['websocket'], auth: { user: `${config.userPrefix}-${n}` }, localAddress: config.sourceAddress, forceNew: true
  } as Parameters<typeof io>[1])
  closers.push(() => { socket.disconnect() })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('connect_error', reject)
  })
  await socket.emitWithAck('join', { room: roomOf(n) })
  onVictim++
  socket.on('disconnect', () => {
    ret.gone()
    // Where a load balancer would send it: a surviving server (socket.io-client reconnects to its manager's uri).
    ;(socket.io as unknown as { uri: string }).uri = config.survivorUrls[n % config.survivorUrls.length] ?? ''
  })
  socket.on('connect', () => {
    socket.emitWithAck('join', { room: roomOf(n) }).then(() => { ret.reconnected() }, count)
  })
}

async function connectAll (): Promise<number> {
  let next = 0
  let failed = 0
  const one = config.system === 'switchboard' ? switchboardClient : socketioClient
  await Promise.all(Array.from({ length: Math.min(config.inFlight, config.count) }, async () => {
    while (next < config.count) {
      try {
        await one(next++)
      } catch (err) {
        count(err)
        failed++
      }
    }
  }))
  return failed
}

process.on('message', (message: ChurnParentMessage) => {
  if (message.type === 'connect') {
    connectAll().then((failed) => {
      send({ type: 'connected', connected: config.count - failed, failed, onVictim, errors })
    }, (err: unknown) => {
      process.stderr.write(`churn worker: ${(err as Error).stack ?? String(err)}\n`)
      process.exit(1)
    })
  } else if (message.type === 'arm') {
    armed = true
    setInterval(() => send({ type: 'progress', back, away }), 1000).unref()
    send({ type: 'armed' })
  }
})
// Orphaned (the parent died): let the connections go with the process.
process.on('disconnect', () => {
  for (const close of closers) close()
  process.exit(0)
})
send({ type: 'ready' })
