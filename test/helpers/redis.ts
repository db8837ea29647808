/**
 * Real Redis for tests: a private redis-server on a free port, started once
 * per test process and killed when the process's tests end. Never the shared
 * instance on 6379.
 */
import type { ChildProcess } from 'node:child_process'
import { Redis } from 'ioredis'
import { spawnOwned } from '../../infra/process/owned.js'
import { startRedisCluster, startRedisServer } from '../../infra/redis/local.js'
import type { RedisClusterHandle, RedisServer } from '../../infra/redis/local.js'
import { eventually } from './client.js'

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

/** A redis-server without persistence that can be killed and started again, empty, on the same port. */
export interface RestartableRedis {
  readonly port: number
  readonly url: string
  /** kill -9, then a new, empty redis-server on the same port: a master that restarted without persistence */
  restartEmpty (): Promise<void>
}

export async function restartableRedis (t: { teardown (fn: () => unknown): void }): Promise<RestartableRedis> {
  const first = await startRedisServer()
  const { port } = first
  let child: ChildProcess = first.process
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }
  t.teardown(stop)
  return {
    port,
    url: first.url,
    restartEmpty: async () => {
      await stop()
      child = spawnOwned('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
      await eventually(async () => {
        const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
        client.on('error', () => {})
        try {
          await client.connect()
          return await client.ping() === 'PONG'
        } catch {
          return false
        } finally {
          client.disconnect()
        }
      }, `redis-server to start again on ${port}`)
    }
  }
}
