/**
 * A socket server's life in the fleet, with real processes and real Redis (test/lifecycle*.test.ts,
 * one or two scenarios a file, so that each fits tap's per-file timeout on a busy machine).
 */
import type { Test } from 'tap'
import { Redis } from 'ioredis'
import { keys } from '../../plugins/names.js'
import { eventually } from './client.js'
import { startProcessCluster } from './processes.js'
import type { ProcessCluster } from './processes.js'
import { sharedRedis, uniquePrefix } from './redis.js'

/**
 * Heartbeats every 200 ms (startProcessCluster), evicted after 3 s of silence: long enough that a
 * busy machine's pauses do not evict a live server, short enough to wait out where eviction is the point.
 */
export const FAST = { HEARTBEAT_TIMEOUT_MS: '3000', HEALTH_INTERVAL_MS: '100', LOG_LEVEL: 'warn' }

export async function cluster (t: Test, sockets: number, env: Record<string, string> = {}): Promise<{ c: ProcessCluster, redis: Redis, prefix: string }> {
  const server = await sharedRedis()
  const prefix = uniquePrefix()
  const c = await startProcessCluster(t, { redisUrl: server.url, prefix, sockets, health: true, env: { ...FAST, ...env } })
  const redis = new Redis(server.url)
  t.teardown(() => redis.disconnect())
  return { c, redis, prefix }
}

export async function loads (redis: Redis, prefix: string): Promise<Record<string, number>> {
  const flat = await redis.zrange(keys(prefix).load, 0, -1, 'WITHSCORES')
  const out: Record<string, number> = {}
  for (let i = 0; i < flat.length; i += 2) out[flat[i] as string] = Number(flat[i + 1])
  return out
}

/** Resolves at s1's next heartbeat (its time in the alive set moves on). */
export async function nextHeartbeat (redis: Redis, prefix: string, server: string): Promise<void> {
  const last = await redis.zscore(keys(prefix).alive, server)
  await eventually(async () => (await redis.zscore(keys(prefix).alive, server)) !== last, `a heartbeat of ${server}`)
}

/** `got` minus the markers. */
export function numbered (messages: Array<{ data: unknown }>, field: 'n' | 'r'): number[] {
  return messages.filter((m) => m.data !== 'marker').map((m) => (m.data as Record<string, number>)[field] ?? -1)
}

export async function allocatedServer (registryUrl: string, user: string): Promise<string | null> {
  const response = await fetch(`${registryUrl}/allocate?user=${user}`)
  return response.status === 200 ? ((await response.json()) as { server: string }).server : null
}
