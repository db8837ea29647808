/**
 * A raw `ws` client of Switchboard for scenarios that use more of the protocol
 * than BenchClient's send, join and publish (`conversations`, `read`): any
 * request, answered by its reply (a reply in parts is gathered until the part
 * without `more`), and every frame that answers no request (deliveries, `read`
 * and `receipt` events) handed to one listener.
 */
import WebSocket from 'ws'

/** A frame from the server, as parsed. */
export interface Frame {
  readonly type: string
  readonly id?: number
  readonly [field: string]: unknown
}

interface Pending {
  readonly parts: Frame[]
  readonly resolve: (parts: Frame[]) => void
  readonly reject: (err: Error) => void
}

export class ProtocolClient {
  readonly user: string
  /** the socket server the registry allocated */
  readonly server: string
  readonly #ws: WebSocket
  readonly #pending = new Map<number, Pending>()
  #nextId = 1
  #listener: (frame: Frame) => void = () => {}

  private constructor (user: string, server: string, ws: WebSocket) {
    this.user = user
    this.server = server
    this.#ws = ws
  }

  /** Allocates `user` through the registry, connects with the token, and resolves once `welcome` came. */
  static async connect (registryUrl: string, user: string): Promise<ProtocolClient> {
    const response = await fetch(`${registryUrl}/allocate?user=${encodeURIComponent(user)}`)
    if (response.status !== 200) throw new Error(`allocate answered ${response.status}: ${await response.text()}`)
    const allocation = await response.json() as { url: string, token: string, server: string }
    const ws = new WebSocket(`${allocation.url}?token=${encodeURIComponent(allocation.token)}`)
    const client = new ProtocolClient(user, allocation.server, ws)
    await new Promise<void>((resolve, reject) => {
      ws.once('error', reject)
      ws.once('close', (code) => { reject(new Error(`${user}: closed with ${code} before its welcome`)) })
      // Attached at once: frames that follow the welcome in the same read must not be missed.
      ws.on('message', (raw) => {
        const frame = JSON.parse(raw.toString()) as Frame
        if (frame.type === 'welcome') resolve()
        else client.#receive(frame)
      })
    })
    ws.on('error', () => {})
    return client
  }

  /** Sends `frame` with a fresh id; resolves with its reply (every part of it), rejects on an `error` frame. */
  async request (frame: Record<string, unknown>): Promise<Frame[]> {
    const id = this.#nextId++
    return await new Promise<Frame[]>((resolve, reject) => {
      this.#pending.set(id, { parts: [], resolve, reject })
      this.#ws.send(JSON.stringify({ ...frame, id }))
    })
  }

  /** Every frame that is not a reply: deliveries and events. */
  onEvent (listener: (frame: Frame) => void): void {
    this.#listener = listener
  }

  close (): void {
    for (const waiting of this.#pending.values()) waiting.reject(new Error(`${this.user}: closed`))
    this.#pending.clear()
    this.#ws.terminate()
  }

  #receive (frame: Frame): void {
    const waiting = frame.id === undefined ? undefined : this.#pending.get(frame.id)
    if (waiting === undefined) {
      this.#listener(frame)
      return
    }
    if (frame.type === 'error') {
      this.#pending.delete(frame.id as number)
      waiting.reject(new Error(`error frame ${String(frame.code)}: ${String(frame.message)}`))
      return
    }
    waiting.parts.push(frame)
    if (frame.more === true) return
    this.#pending.delete(frame.id as number)
    waiting.resolve(waiting.parts)
  }
}
