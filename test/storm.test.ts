/**
 * Allocation under a connect storm: 4,000 clients allocate and connect at
 * once across 4 socket server processes; reservations keep them balanced.
 * (A correctness property of allocation, not a speed test.)
 */
import t from 'tap'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { startProcessCluster } from './helpers/processes.js'
import { keys } from '../plugins/names.js'
import { sharedRedis, uniquePrefix } from './helpers/redis.js'

const CLIENTS = 4000

interface Allocation { url: string, token: string, server: string }

async function connectOne (registryUrl: string, user: string): Promise<{ ws: WebSocket, server: string }> {
  const response = await fetch(`${registryUrl}/allocate?user=${user}`, { signal: AbortSignal.timeout(30_000) })
  if (response.status !== 200) throw new Error(`allocate ${response.status}: ${await response.text()}`)
  const allocation = await response.json() as Allocation
  const ws = new WebSocket(`${allocation.url}?token=${encodeURIComponent(allocation.token)}`)
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve()) // the welcome
    ws.once('error', reject)
    ws.once('close', (code) => reject(new Error(`closed with ${code} before the welcome`)))
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade ${res.statusCode}`)))
  })
  return { ws, server: allocation.server }
}

t.test(`${CLIENTS} concurrent clients over 4 servers: the largest holds at most 1.10 × the smallest`, async (t) => {
  const server = await sharedRedis()
  const prefix = uniquePrefix()
  const { registryUrl } = await startProcessCluster(t, { redisUrl: server.url, prefix, sockets: 4, env: { LOG_LEVEL: 'warn' } })
  const sockets: WebSocket[] = []
  t.teardown(() => { for (const ws of sockets) ws.terminate() })

  const results = await Promise.allSettled(Array.from({ length: CLIENTS }, async (_, i) => {
    const connected = await connectOne(registryUrl, `storm${i}`)
    sockets.push(connected.ws)
    return connected.server
  }))
  const failed = results.filter((r) => r.status === 'rejected')
  t.equal(failed.length, 0, `every client connected${failed.length > 0 ? `; first failure: ${String((failed[0] as PromiseRejectedResult).reason)}` : ''}`)

  const perServer: Record<string, number> = {}
  for (const r of results) if (r.status === 'fulfilled') perServer[r.value] = (perServer[r.value] ?? 0) + 1
  const counts = Object.values(perServer)
  t.equal(counts.length, 4, 'all four servers got clients')
  const ratio = Math.max(...counts) / Math.min(...counts)
  t.ok(ratio <= 1.10, `largest/smallest = ${ratio.toFixed(3)} (${JSON.stringify(perServer)})`)

  const redis = new Redis(server.url)
  t.teardown(() => redis.disconnect())
  const flat = await redis.zrange(keys(prefix).load, 0, -1, 'WITHSCORES')
  const loads: Record<string, number> = {}
  for (let i = 0; i < flat.length; i += 2) loads[flat[i] as string] = Number(flat[i + 1])
  t.same(loads, perServer, 'the load set counts exactly the connections each server holds')
})
