/**
 * The per-IP `/allocate` limit of @fastify/rate-limit, counted by the
 * Switchboard store (`Store.rateHit`) instead of the plugin's own Redis script:
 * - the count is fleet-wide on Redis (every registry shares it), and in-process on the memory store;
 * - it keeps counting while Redis is at maxmemory (the store's rate script runs with `allow-oom`),
 *   where the plugin's script would be refused and `/allocate` would stop with it;
 * - when the store does not answer at all, the request fails with 503 STORE_UNAVAILABLE (and
 *   Retry-After), never 500. The plugin's `skipOnError` stays off: failing open would drop the
 *   limit exactly when the store is in trouble, and the allocation itself needs the store anyway.
 */
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import { StoreUnavailableError } from '../errors.js'
import type { Store } from '../store/types.js'

type Callback = Parameters<FastifyRateLimitStore['incr']>[1]

/** A store class for @fastify/rate-limit's `store` option; keys are counted under `${bucket}:${key}`. */
export function rateLimitStore (store: Store, bucket: string, windowMs: number): FastifyRateLimitStoreCtor {
  class StoreCounted implements FastifyRateLimitStore {
    // The plugin passes the route's window as a third argument (its typings omit it).
    incr (key: string, callback: Callback, timeWindow?: number): void {
      store.rateHit(`${bucket}:${key}`, typeof timeWindow === 'number' ? timeWindow : windowMs).then(
        ({ count, resetInMs }) => { callback(null, { current: count, ttl: resetInMs }) },
        (err: unknown) => { callback(new StoreUnavailableError((err as Error).message, { cause: err })) }
      )
    }

    child (): FastifyRateLimitStore {
      return new StoreCounted()
    }
  }
  return StoreCounted
}
