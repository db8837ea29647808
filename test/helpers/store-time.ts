/**
 * Waiting for time that is the behaviour under test (a TTL, a window) on a real Redis, whose clock
 * (TIME, key expiry) no test can step: wait until the store's own clock has passed the deadline,
 * however long that takes on a busy machine, rather than sleeping a chosen number of ms. Only for
 * what is true for good once the deadline has passed (expired, forgotten), never to race a deadline
 * that has not come yet.
 */
import type { Store } from '../../plugins/store/index.js'
import { eventually } from './client.js'

/** Resolves once the store clock is more than `ms` past what it reads now (call it after the write whose deadline it is). */
export async function storeTimePasses (store: Store, ms: number): Promise<void> {
  const deadline = await store.clock() + ms
  await eventually(async () => await store.clock() > deadline, `the store clock to pass ${ms} ms from now`)
}
