/**
 * Real Redis for tests: a private redis-server on a free port, started once
 * per test process and killed when the process's tests end. Never the shared
 * instance on 6379.
 */
import { startRedisServer } from '../../infra/redis/local.js'
import type { RedisServer } from '../../infra/redis/local.js'

export { freePort, startRedisServer } from '../../infra/redis/local.js'
export type { RedisServer } from '../../infra/redis/local.js'

let shared: Promise<RedisServer> | undefined

/** One redis-server for the whole test file; tap's root teardown stops it. */
export async function sharedRedis (): Promise<RedisServer> {
  if (shared === undefined) {
    shared = startRedisServer()
    const { default: tap } = await import('tap')
    tap.teardown(async () => { await (await shared)?.stop() })
  }
  return await shared
}

/** A fresh key prefix, so tests sharing one Redis never see each other's keys. */
export function uniquePrefix (): string {
  return `t${Math.random().toString(36).slice(2, 10)}:`
}
