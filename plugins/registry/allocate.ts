/**
 * Allocation: pick the least-loaded eligible socket server and mint a connect
 * token bound to it. Used by `GET /allocate`, and by anything else that must
 * send a user somewhere (e.g. a draining socket server).
 */
import { NoCapacityError, StoreUnavailableError } from '../errors.js'
import type { Store } from '../store/types.js'
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

  /** Throws NoCapacityError when no server is eligible, StoreUnavailableError when the store fails. */
  async allocate (user: string): Promise<Allocation> {
    const { store, signer, tokenTtlMs, heartbeatTimeoutMs } = this.#options
    let server
    try {
      server = await store.pickServer(heartbeatTimeoutMs)
    } catch (err) {
      throw new StoreUnavailableError((err as Error).message, { cause: err })
    }
    if (server === null) throw new NoCapacityError()
    const { token, claims } = signer.sign(user, server.id, tokenTtlMs)
    return { url: server.url, token, server: server.id, expiresAt: claims.expiresAt }
  }
}
