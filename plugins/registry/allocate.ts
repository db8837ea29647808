/**
 * Allocation: reserve a place on the least-loaded eligible socket server and
 * mint a connect token bound to it. The reservation is counted in the load at
 * once (so a storm of concurrent allocations spreads out instead of piling
 * onto the server that looked emptiest), and the token's nonce names it: the
 * socket server claims it on connect, so each token connects once.
 * Used by `GET /allocate`, and by a draining socket server moving its clients.
 */
import { NoCapacityError, StoreUnavailableError } from '../errors.js'
import type { Store } from '../store/types.js'
import { MAX_TOKEN_TTL_MS, newNonce } from '../token/index.js'
import type { TokenSigner } from '../token/index.js'

export interface Allocation {
  readonly url: string
  readonly token: string
  readonly server: string
  readonly expiresAt: number
}

export interface AllocatorOptions {
  readonly store: Store
  readonly signer: TokenSigner
  readonly tokenTtlMs: number
  /** a server whose last heartbeat is older than this is not offered */
  readonly heartbeatTimeoutMs: number
}

export class Allocator {
  readonly #options: AllocatorOptions

  constructor (options: AllocatorOptions) {
    this.#options = options
  }

  /**
   * `exclude`: a server not to pick (the one a client is being moved off).
   * Throws NoCapacityError when no server is eligible, StoreUnavailableError when the store fails.
   */
  async allocate (user: string, exclude?: string): Promise<Allocation> {
    const { store, signer, tokenTtlMs, heartbeatTimeoutMs } = this.#options
    const now = Date.now()
    const nonce = newNonce()
    const expiresAt = now + Math.min(tokenTtlMs, MAX_TOKEN_TTL_MS)
    let server
    try {
      server = await store.reserve(heartbeatTimeoutMs, nonce, expiresAt, exclude)
    } catch (err) {
      throw new StoreUnavailableError((err as Error).message, { cause: err })
    }
    if (server === null) throw new NoCapacityError()
    const { token } = signer.sign(user, server.id, tokenTtlMs, now, nonce)
    return { url: server.url, token, server: server.id, expiresAt }
  }
}
