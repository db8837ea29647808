/**
 * Frames written to one socket during one turn of the event loop leave in one
 * write: the socket is corked on its first frame and every corked socket is
 * uncorked after the turn's I/O, by one shared setImmediate (not one per socket).
 *
 * The set is shared by every connection of the process, so one socket whose
 * uncork throws must not cost the others: the set is emptied before anyone is
 * uncorked (a throw would otherwise leave it full, and as the next frame only
 * schedules an uncork when the set is empty, every socket would stay corked
 * for good), every socket is uncorked whatever the others do, and the error
 * goes to the socket's owner.
 */
export interface Corkable {
  cork (): void
  uncork (): void
}

/** Whose socket it is: told when its uncork threw (its frames may be stuck; it must not throw itself). */
export interface CorkOwner {
  uncorkFailed (err: unknown): void
}

/** corked socket → its owner (an object the owner already is, rather than a closure per socket) */
const corked = new Map<Corkable, CorkOwner>()

function uncorkAll (): void {
  const sockets = [...corked]
  corked.clear()
  for (const [socket, owner] of sockets) {
    try {
      socket.uncork()
    } catch (err) {
      owner.uncorkFailed(err)
    }
  }
}

/** Corks `socket` until the end of this turn. */
export function corkForThisTurn (socket: Corkable, owner: CorkOwner): void {
  if (corked.has(socket)) return
  if (corked.size === 0) setImmediate(uncorkAll)
  corked.set(socket, owner)
  socket.cork()
}
