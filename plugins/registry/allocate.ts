/**
 * Allocation: reserve a place on the least-loaded eligible socket server and
 * mint a connect token bound to it. The reservation is counted in the load at
 * once (so a storm of concurrent allocations spreads out instead of piling
 * onto the server that looked emptiest), and the token's nonce names it: the
 * socket server claims it on connect, so each token connects once.
 * With a per-user budget (the registry's), the same atomic step refuses a user
 * who already holds too much of the fleet or asks too often.
 * Used by `GET /allocate`, and by a draining socket server moving its clients
 * (without a budget: the connections it moves are already counted).
 */
import { NoCapacityError, RateLimitedError, StoreUnavailableError, TooManyAllocationsError } from '../errors.js'
import type { Store, UserBudget } from '../store/types.js'
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
  /** what one user may hold and ask for, fleet-wide; absent = no limit */
  readonly budget?: UserBudget
}

/** A refusal that says when to come back: the registry sends it as `Retry-After`. */
export interface RetryHint {
  readonly retryAfterMs?: number
}

export class Allocator {
  readonly #options: AllocatorOptions

  constructor (options: AllocatorOptions) {
    this.#options = options
  }

  /**
   * `exclude`: a server not to pick (the one a client is being moved off); `avoid`: a server to pick only
   * when no other is eligible (the one the client just lost: a server killed keeps its heartbeat fresh for
   * up to HEARTBEAT_TIMEOUT_MS, and would otherwise be offered to its own clients all that time).
   * Throws NoCapacityError when no server is eligible, StoreUnavailableError when the store fails,
   * TooManyAllocationsError or RateLimitedError (with a RetryHint) when the user is over their budget.
   */
  async allocate (user: string, { exclude, avoid }: { exclude?: string, avoid?: string } = {}): Promise<Allocation> {
    const { store, signer, tokenTtlMs, heartbeatTimeoutMs, budget } = this.#options
    const now = Date.now()
    const nonce = newNonce()
    const expiresAt = now + Math.min(tokenTtlMs, MAX_TOKEN_TTL_MS)
    let result
    try {
      result = await store.reserve({
        aliveWithinMs: heartbeatTimeoutMs, nonce, expiresAt, user, ...(exclude !== undefined ? { exclude } : {}), ...(avoid !== undefined ? { avoid } : {}), ...(budget !== undefined ? { budget } : {})
      })
    } catch (err) {
      throw new StoreUnavailableError((err as Error).message, { cause: err })
    }
    switch (result.status) {
      case 'reserved': {
        const { token } = signer.sign(user, result.server.id, tokenTtlMs, now, nonce)
        return { url: result.server.url, token, server: result.server.id, expiresAt }
      }
      case 'no_capacity': throw new NoCapacityError()
      case 'over_cap': throw hinted(new TooManyAllocationsError(String(budget?.maxHolds)), result.retryAfterMs)
      case 'rate_limited': throw hinted(new RateLimitedError(`${Math.ceil(result.retryAfterMs / 1000)} s`), result.retryAfterMs)
    }
  }
}

function hinted<E extends Error> (err: E, retryAfterMs: number): E & RetryHint {
  return retryAfterMs > 0 ? Object.assign(err, { retryAfterMs }) : err
}
