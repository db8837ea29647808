/** The systems under test, each started with its own Redis and stopped after. */
import { startRedisCluster, startRedisServer } from '../../infra/redis/local.js'
import type { RedisServer } from '../../infra/redis/local.js'
import { socketioClient, switchboardClient } from './clients.js'
import type { System } from './clients.js'
import { startNode } from './proc.js'
import type { Server } from './proc.js'

export type SystemName = 'switchboard' | 'socketio' | 'socketio-streams'

/**
 * Starts a Redis, then the processes `start` launches into `servers`; stops
 * everything if any of it fails. The result's `stop` stops it all.
 */
async function withRedis<T> (start: (redis: RedisServer, servers: Server[]) => Promise<T>): Promise<T & { redis: RedisServer, servers: Server[], stop (): Promise<void> }> {
  const redis = await startRedisServer()
  const servers: Server[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map(async (s) => { await s.stop() }))
    await redis.stop()
  }
  try {
    return { ...await start(redis, servers), redis, servers, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** How benchmarks configure Switchboard processes on `redisUrl`. */
export function switchboardEnv (redisUrl: string): Record<string, string> {
  return {
    REDIS_URL: redisUrl,
    TOKEN_SECRET: 'benchmark-secret-0123456789',
    AUTH_MODE: 'dev',
    // Benchmarks drive far more traffic per client and per IP than the protective defaults allow.
    ALLOCATE_RATE_MAX: '0',
    FRAME_RATE: '1000000',
    FRAME_BURST: '1000000'
  }
}

/** Switchboard: a registry and N socket servers (real processes, history on). */
export async function startSwitchboard (sockets: number, extraEnv: Record<string, string> = {}): Promise<System & { registryUrl: string, redis: RedisServer, servers: Server[] }> {
  return await withRedis(async (redis, servers) => {
    const launched = await launchSwitchboard(redis.url, sockets, extraEnv, servers)
    return { ...launched, pids: [...launched.pids, redis.process.pid ?? 0] }
  })
}

/**
 * Switchboard on a local Redis Cluster of `shards` primaries (no replicas, like the one Redis it is compared
 * with): every process gets `REDIS_URL=redis+cluster://…`, and every node's CPU counts as Redis's.
 */
export async function startSwitchboardOnCluster (sockets: number, shards = 3): Promise<System & { registryUrl: string, servers: Server[] }> {
  const cluster = await startRedisCluster({ primaries: shards, replicasPerPrimary: 0 })
  const servers: Server[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map(async (s) => { await s.stop() }))
    await cluster.stop()
  }
  try {
    const launched = await launchSwitchboard(cluster.url, sockets, {}, servers)
    const redisPids = cluster.nodes.map((n) => n.process.pid ?? 0)
    return { ...launched, name: 'switchboard-cluster', pids: [...launched.pids, ...redisPids], redisPids, servers, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** Adds socket server `id` to a running Switchboard (stopped with it), and waits until the registry offers it. */
export async function addSocketServer (system: { registryUrl: string, redis: RedisServer, servers: Server[] }, id: string, extraEnv: Record<string, string> = {}): Promise<Server> {
  const server = await startNode('dist/servers/cli.js', ['socket'], { ...switchboardEnv(system.redis.url), ...extraEnv, SERVER_ID: id })
  system.servers.push(server)
  await untilAlive(system.registryUrl, (fleet) => fleet.some((s) => s.id === id && s.alive), `socket server ${id} did not join the fleet within 60 s`)
  return server
}

/** Polls GET /servers until `done` holds (generously: a busy machine starts servers slowly). */
async function untilAlive (registryUrl: string, done: (fleet: Array<{ id: string, alive: boolean }>) => boolean, failure: string): Promise<void> {
  const deadline = Date.now() + 60_000
  for (;;) {
    const { servers: fleet } = await (await fetch(`${registryUrl}/servers`)).json() as { servers: Array<{ id: string, alive: boolean }> }
    if (done(fleet)) return
    if (Date.now() > deadline) throw new Error(failure)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Starts a registry and N socket servers on `redisUrl` into `servers`, and waits until the fleet is complete. */
async function launchSwitchboard (redisUrl: string, sockets: number, extraEnv: Record<string, string>, servers: Server[]): Promise<Omit<System, 'stop'> & { registryUrl: string }> {
  const env = { ...switchboardEnv(redisUrl), ...extraEnv }
  const registry = await startNode('dist/servers/cli.js', ['registry'], env)
  servers.push(registry)
  for (let n = 1; n <= sockets; n++) servers.push(await startNode('dist/servers/cli.js', ['socket'], { ...env, SERVER_ID: `s${n}` }))
  const registryUrl = `http://127.0.0.1:${registry.port}`
  await untilAlive(registryUrl, (fleet) => fleet.filter((s) => s.alive).length === sockets, `not all ${sockets} socket servers joined the fleet within 60 s`)
  return {
    name: 'switchboard',
    registryUrl,
    pids: servers.slice(1).map((s) => s.pid),
    connect: async (user: string) => await switchboardClient(registryUrl, user)
  }
}

/**
 * Socket.IO: N server processes with @socket.io/redis-adapter, or with
 * @socket.io/redis-streams-adapter and connection state recovery (`streams`).
 */
export async function startSocketio (count: number, adapter: 'redis' | 'streams' = 'redis'): Promise<System & { redis: RedisServer, servers: Server[] }> {
  return await withRedis(async (redis, servers) => {
    for (let n = 0; n < count; n++) servers.push(await startNode('dist/bench/peers/socketio/server.js', [], { REDIS_URL: redis.url, ADAPTER: adapter }))
    return {
      name: adapter === 'streams' ? 'socketio-streams' : 'socketio',
      pids: [...servers.map((s) => s.pid), redis.process.pid ?? 0],
      connect: async (user: string, server: number) => {
        const index = server % servers.length
        return await socketioClient(`http://127.0.0.1:${servers[index]?.port ?? 0}`, user, String(index))
      }
    }
  })
}

export async function startSystem (name: SystemName, servers: number): Promise<System & { servers: Server[] }> {
  if (name === 'switchboard') return await startSwitchboard(servers)
  return await startSocketio(servers, name === 'socketio-streams' ? 'streams' : 'redis')
}
