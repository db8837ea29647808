/**
 * A TCP proxy in front of a Redis that a test can cut: every connection
 * through it is closed, and new ones are refused, until it is restored. A
 * socket server whose subscriber connection goes through it loses its live
 * delivery exactly when the test says, while its commands (appends, reads) go
 * to Redis directly: the window of a relay gap, held open for as long as the
 * test needs, instead of hoping a reconnect is slow enough.
 */
import { connect, createServer } from 'node:net'
import type { Socket } from 'node:net'

interface Teardown { teardown (fn: () => unknown): void }

export interface CuttableProxy {
  readonly port: number
  readonly url: string
  /** closes every connection through the proxy and refuses new ones */
  cut (): void
  /** accepts connections again */
  restore (): void
}

export async function cuttableProxy (t: Teardown, port: number): Promise<CuttableProxy> {
  const sockets = new Set<Socket>()
  let cut = false
  const server = createServer((downstream) => {
    if (cut) {
      downstream.destroy()
      return
    }
    const upstream = connect(port, '127.0.0.1')
    sockets.add(downstream).add(upstream)
    downstream.pipe(upstream)
    upstream.pipe(downstream)
    const close = (): void => {
      downstream.destroy()
      upstream.destroy()
      sockets.delete(downstream)
      sockets.delete(upstream)
    }
    downstream.on('close', close).on('error', close)
    upstream.on('close', close).on('error', close)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  const address = server.address()
  const listening = typeof address === 'object' && address !== null ? address.port : 0
  return {
    port: listening,
    url: `redis://127.0.0.1:${listening}`,
    cut: () => {
      cut = true
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    },
    restore: () => { cut = false }
  }
}
