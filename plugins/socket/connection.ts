/**
 * One client connection: its identity, the channels it listens to, and the
 * handling of its frames. Kept to a few fields: a server holds many.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket, RawData } from 'ws'
import { CloseCode, FrameErrorCodes } from '../errors.js'
import { userChannel } from '../names.js'
import type { Store } from '../store/types.js'
import { ackFrame, errorFrame, messagePrefix } from './frames.js'
import type { Hub, Listener } from './hub.js'
import { parseFrame } from './protocol.js'
import type { FrameError, SendFrame } from './protocol.js'

/** What every connection of one server shares. */
export interface ConnectionContext {
  readonly store: Store
  readonly hub: Hub
  readonly log: FastifyBaseLogger
  /** consecutive invalid frames after which the connection is closed with 4400 */
  readonly maxViolations: number
}

export class Connection implements Listener {
  readonly user: string
  readonly socket: WebSocket
  readonly channels = new Set<string>()
  readonly #context: ConnectionContext
  #violations = 0

  constructor (context: ConnectionContext, socket: WebSocket, user: string) {
    this.#context = context
    this.socket = socket
    this.user = user
  }

  deliver (payload: string): void {
    if (this.socket.readyState === 1) this.socket.send(payload)
  }

  send (frame: string): void {
    if (this.socket.readyState === 1) this.socket.send(frame)
  }

  async listen (channel: string): Promise<void> {
    this.channels.add(channel)
    await this.#context.hub.add(channel, this)
  }

  /** Called once when the socket closes: stop listening everywhere. */
  release (): void {
    for (const channel of this.channels) this.#context.hub.remove(channel, this)
    this.channels.clear()
  }

  onFrame (data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.#reject({ code: FrameErrorCodes.INVALID_FRAME, message: 'binary frames are not supported; send JSON text frames' })
      return
    }
    const parsed = parseFrame(data.toString())
    if (!parsed.ok) {
      this.#reject(parsed.error)
      return
    }
    this.#violations = 0
    const frame = parsed.frame
    switch (frame.type) {
      case 'send':
        this.#send(frame).catch((err: unknown) => this.#failed(frame.id, err))
        break
    }
  }

  async #send (frame: SendFrame): Promise<void> {
    const { store } = this.#context
    const from = this.user
    const to = frame.to
    const dataJson = JSON.stringify(frame.data)
    const ts = Date.now()
    const target = userChannel(to)
    const delivered = store.append({ channel: target, framePrefix: messagePrefix(target, from, to, dataJson, ts), sender: from, mid: frame.mid })
    if (to !== from) {
      // The sender's own channel gets a copy, for their other devices and their history.
      const own = userChannel(from)
      store.append({ channel: own, framePrefix: messagePrefix(own, from, to, dataJson, ts), sender: from, mid: frame.mid })
        .catch((err: unknown) => this.#context.log.warn({ err, channel: own }, 'sender copy of a direct message failed'))
    }
    const { offset } = await delivered
    this.send(ackFrame(frame.id, target, offset))
  }

  #failed (id: SendFrame['id'], err: unknown): void {
    this.#context.log.warn({ err, user: this.user }, 'request failed')
    this.send(errorFrame(FrameErrorCodes.UNAVAILABLE, 'the message could not be stored; resend it with the same mid', id))
  }

  #reject (error: FrameError): void {
    this.send(errorFrame(error.code, error.message, error.id))
    if (++this.#violations >= this.#context.maxViolations) {
      this.socket.close(CloseCode.PROTOCOL_VIOLATIONS, 'too many invalid frames')
    }
  }
}
