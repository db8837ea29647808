/**
 * `allocate`: autocannon -c 50 against GET /allocate (a registry with 4
 * registered socket servers) and against a bare Fastify route on the same
 * machine.
 */
import autocannon from 'autocannon'
import { RedisStore } from '../../plugins/store/index.js'
import { Redis } from 'ioredis'
import { startSwitchboard } from '../lib/systems.js'
import { startNode } from '../lib/proc.js'
import { round } from '../lib/stats.js'

export interface AllocateResult {
  readonly requestsPerSecond: number
  readonly p99Ms: number
  readonly errors: number
  readonly non2xx: number
}

async function cannon (url: string, durationSec: number): Promise<AllocateResult> {
  const result = await autocannon({ url, connections: 50, duration: durationSec })
  return {
    requestsPerSecond: round(result.requests.average),
    p99Ms: round(result.latency.p99, 2),
    errors: result.errors,
    non2xx: result.non2xx
  }
}

export async function allocateScenario (durationSec: number): Promise<{ switchboard: AllocateResult, bare: AllocateResult }> {
  const system = await startSwitchboard(0)
  const client = new Redis(system.redis.url)
  const subscriber = client.duplicate()
  const store = new RedisStore({ client, subscriber })
  // Four socket servers that never fill up (capacity far above what the run reserves).
  const beat = async (): Promise<void> => {
    for (let n = 1; n <= 4; n++) await store.heartbeat({ id: `s${n}`, url: `ws://127.0.0.1:1/s${n}`, capacity: 1e9, draining: false, startedAt: 0 }, 0)
  }
  await beat()
  const beating = setInterval(() => { beat().catch(() => {}) }, 500)
  const bare = await startNode('dist/bench/peers/bare/server.js', [], {})
  try {
    const switchboard = await cannon(`${system.registryUrl}/allocate?user=bench`, durationSec)
    const bareResult = await cannon(`http://127.0.0.1:${bare.port}/bare`, durationSec)
    return { switchboard, bare: bareResult }
  } finally {
    clearInterval(beating)
    client.disconnect()
    subscriber.disconnect()
    await bare.stop()
    await system.stop()
  }
}
