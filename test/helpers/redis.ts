/**
 * Real Redis for tests: a private redis-server on a free port, started once
 * per test process and killed when the process's tests end. Never the shared
 * instance on 6379.
 */
import { startRedisCluster, startRedisServer } from '../../infra/redis/local.js'
import type { RedisClusterHandle, RedisServer } from '../../infra/redis/local.js'

export { freePort, startRedisCluster, startRedisServer } from '../../infra/redis/local.js'
export type { RedisClusterHandle, RedisServer } from '../../infra/redis/local.js'

/** Starts `start()` once per test file; tap's root teardown stops what it made. */
function perFile<T extends { stop: () => Promise<void> }> (start: () => Promise<T>): () => Promise<T> {
  let started: Promise<T> | undefined
  return async () => {
    if (started === undefined) {
      const made = started = start()
      const { default: tap } = await import('tap')
      tap.teardown(async () => { await (await made).stop() })
    }
    return await started
  }
}

/** One redis-server for the whole test file. */
export const sharedRedis: () => Promise<RedisServer> = perFile(async () => await startRedisServer())

/** One Redis Cluster (3 primaries + 3 replicas) for the whole test file. */
export const sharedCluster: () => Promise<RedisClusterHandle> = perFile(async () => await startRedisCluster())

/** A fresh key prefix, so tests sharing one Redis never see each other's keys. */
export function uniquePrefix (): string {
  return `t${Math.random().toString(36).slice(2, 10)}:`
}
