/**
 * The upgrade of a websocket, as the socket server accounts for it.
 *
 * Claims: a connect token's reservation is claimed before the upgrade, which
 * uses it up. From the claim until the connection opens, the place is counted
 * here (the heartbeat adds these to its connections: the reservation is gone,
 * the connection not yet there). An upgrade can fail after the claim (the
 * client went away during it, or `ws` refused the handshake): its place, and
 * its user's hold, are given back as soon as its TCP socket closes, and one
 * that neither opens nor closes within a grace period is given up on too.
 *
 * What an upgraded websocket should stop holding on to: @fastify/websocket
 * (11.3) routes the upgrade request through Fastify with a ServerResponse
 * assigned to the TCP socket (so that a refusal can be answered over HTTP),
 * and guards the websocket with an 'error' listener that closes over the
 * request and reply. Both outlive the upgrade: the request, the reply, their
 * raw objects and a child logger stay reachable as long as the connection,
 * several kB per idle client. forgetUpgradeRequest drops both references once
 * the socket is ours; the caller attaches its own 'error' listener right after.
 */
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'

export function forgetUpgradeRequest (socket: WebSocket): void {
  const raw = (socket as unknown as { _socket?: Socket & { _httpMessage?: { detachSocket (s: Socket): void } | null } })._socket
  raw?._httpMessage?.detachSocket(raw)
  socket.removeAllListeners('error')
}

/** A claimed upgrade that has neither opened nor closed after this long is not coming. */
export const UPGRADE_GRACE_MS = 10_000

/** One upgrade's claim, from before it is sent until its connection opens (or its place is given back). */
export interface Claim {
  readonly nonce: string
  readonly user: string
  readonly at: number
  /** the TCP socket and the listener that gives the place back when it closes (once claimed) */
  watched?: { readonly socket: Socket, readonly onClose: () => void }
}

export interface ClaimsOptions {
  /** gives a claimed place back: -1 on the server's load, and the user's hold released */
  readonly release: (nonce: string, user: string) => void
  readonly graceMs?: number
  readonly now?: () => number
}

/**
 * Reservations claimed (or being claimed) whose connection is not open yet. Each upgrade has its
 * own entry, not one per nonce: a replayed token (same nonce) whose claim is refused must not
 * remove the entry of the upgrade that did claim it.
 */
export class PendingClaims {
  readonly #claims = new Set<Claim>()
  readonly #release: (nonce: string, user: string) => void
  readonly #graceMs: number
  readonly #now: () => number

  constructor (options: ClaimsOptions) {
    this.#release = options.release
    this.#graceMs = options.graceMs ?? UPGRADE_GRACE_MS
    this.#now = options.now ?? Date.now
  }

  /**
   * Before the claim is sent: counted from now, so that a heartbeat sent after the claim (on the
   * same store connection, so executed after it) counts the client exactly once, either here or as
   * a reservation.
   */
  claiming (nonce: string, user: string): Claim {
    const claim: Claim = { nonce, user, at: this.#now() }
    this.#claims.add(claim)
    return claim
  }

  /** The claim was refused or failed: the reservation was not used here, nothing to give back. */
  refused (claim: Claim): void {
    this.#claims.delete(claim)
  }

  /** The claim succeeded for an upgrade on `socket`: if that socket closes before the connection opens, the place is given back. */
  claimed (claim: Claim, socket: Socket): void {
    if (!this.#claims.has(claim)) return
    // Closed during the claim: no 'close' event is coming any more.
    if (socket.destroyed) {
      this.#giveBack(claim)
      return
    }
    const onClose = (): void => { if (this.#claims.has(claim)) this.#giveBack(claim) }
    claim.watched = { socket, onClose }
    socket.once('close', onClose)
  }

  /** The connection opened: from now on it is counted as a connection, and released when it closes. */
  opened (claim: Claim): void {
    if (!this.#claims.delete(claim)) return
    claim.watched?.socket.removeListener('close', claim.watched.onClose)
  }

  /** Upgrades under way; those older than the grace period are given up on (their places given back) first. */
  count (): number {
    const oldest = this.#now() - this.#graceMs
    for (const claim of this.#claims) {
      if (claim.at < oldest) this.#giveBack(claim)
    }
    return this.#claims.size
  }

  // Deleted and released in one synchronous step: a heartbeat counts it, or the release undoes it, never both.
  #giveBack (claim: Claim): void {
    this.#claims.delete(claim)
    claim.watched?.socket.removeListener('close', claim.watched.onClose)
    this.#release(claim.nonce, claim.user)
  }
}
