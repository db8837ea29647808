/**
 * Frames written to one socket during one turn of the event loop leave in one
 * write: the socket is corked on its first frame and every corked socket is
 * uncorked after the turn's I/O, by one shared setImmediate (not one per socket).
 */
export interface Corkable {
  cork (): void
  uncork (): void
}

const corked = new Set<Corkable>()

function uncorkAll (): void {
  for (const socket of corked) socket.uncork()
  corked.clear()
}

export function corkForThisTurn (socket: Corkable): void {
  if (corked.has(socket)) return
  if (corked.size === 0) setImmediate(uncorkAll)
  corked.add(socket)
  socket.cork()
}
