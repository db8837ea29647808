/**
 * `allocate`: autocannon -c 50 against GET /allocate (a registry with 4
 * registered socket servers) and against a bare Fastify route on the same
 * machine; then against /allocate through nginx in front of 2 registries.
 */
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import { startNginx } from '../../infra/nginx/run.js'
import { RedisStore } from '../../plugins/store/index.js'
import { startNode } from '../lib/proc.js'
import { startSwitchboard, switchboardEnv } from '../lib/systems.js'
import { round } from '../lib/stats.js'

export interface AllocateResult {
  readonly requestsPerSecond: number
  readonly p99Ms: number
  readonly errors: number
  readonly non2xx: number
}

/** `path`: the same for every request, or (for /allocate) made per request: one user each, as real traffic (a user may hold 10 places). */
async function cannon (url: string, durationSec: number, path?: () => string): Promise<AllocateResult> {
  const result = await autocannon({
    url, connections: 50, duration: durationSec, ...(path !== undefined ? { requests: [{ setupRequest: (request) => ({ ...request, path: path() }) }] } : {})
  })
  return {
    requestsPerSecond: round(result.requests.average),
    p99Ms: round(result.latency.p99, 2),
    errors: result.errors,
    non2xx: result.non2xx
  }
}

export async function allocateScenario (durationSec: number): Promise<{ switchboard: AllocateResult, bare: AllocateResult, nginx: AllocateResult }> {
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
  const stops: Array<() => Promise<void>> = []
  try {
    const bare = await startNode('dist/bench/peers/bare/server.js', [], {})
    stops.push(bare.stop)
    let user = 0
    const newUser = (): string => `/allocate?user=bench-${user++}`
    const switchboard = await cannon(`${system.registryUrl}/allocate`, durationSec, newUser)
    const bareResult = await cannon(`http://127.0.0.1:${bare.port}/bare`, durationSec)
    // The scaled-out tier: a second registry on the same Redis, both behind nginx.
    const second = await startNode('dist/servers/cli.js', ['registry'], switchboardEnv(system.redis.url))
    stops.push(second.stop)
    // autocannon keeps writing on a connection nginx closes after its 1000th response (keepalive_requests) and
    // counts the reset as an error; a real client sees "Connection: close" and reconnects.
    const nginx = await startNginx([Number(new URL(system.registryUrl).port), second.port], { keepaliveRequests: 1_000_000 })
    stops.push(nginx.stop)
    const nginxResult = await cannon(`${nginx.url}/allocate`, durationSec, newUser)
    return { switchboard, bare: bareResult, nginx: nginxResult }
  } finally {
    clearInterval(beating)
    client.disconnect()
    subscriber.disconnect()
    for (const stop of stops.reverse()) await stop()
    await system.stop()
  }
}
