/**
 * switchboard-redis: turns a `REDIS_URL` into two ioredis connections, one for
 * commands and one for pub/sub, decorated as `fastify.switchboardRedis`.
 * Resolves only when both are ready; quits only the clients it created.
 */
import fp from 'fastify-plugin'
import { Cluster, Redis } from 'ioredis'
import type { RedisOptions } from 'ioredis'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { InvalidOptionsError } from '../errors.js'
import type { SwitchboardMetrics } from '../metrics/index.js'
import { quitWithin } from './quit.js'
import { parseRedisUrl, redact } from './url.js'

export interface SwitchboardRedis {
  /** command connection (auto-pipelined); a Cluster client for `redis+cluster://` */
  readonly client: Redis | Cluster
  /** pub/sub connection; for `redis+cluster://` a second Cluster client, whose slot map places the sharded subscriptions */
  readonly subscriber: Redis | Cluster
}

export type SwitchboardRedisOptions =
  | { readonly url: string, readonly redisOptions?: RedisOptions }
  | { readonly client: Redis | Cluster, readonly subscriber: Redis | Cluster }

declare module 'fastify' {
  interface FastifyInstance {
    switchboardRedis: SwitchboardRedis
  }
}

/** Options every Switchboard connection uses; see DESIGN.md "Sentinel with ioredis". */
export const BASE_OPTIONS: RedisOptions = {
  enableAutoPipelining: true,
  maxRetriesPerRequest: 3,
  lazyConnect: true,
  // During a failover the old master answers READONLY: reconnect (to the new one) and resend.
  reconnectOnError: (err) => err.message.startsWith('READONLY') ? 2 : false
}

export function createRedis (url: string, extra: RedisOptions = {}): Redis | Cluster {
  const parsed = parseRedisUrl(url)
  if (parsed.mode === 'cluster') {
    return new Cluster(parsed.nodes, {
      enableAutoPipelining: true,
      lazyConnect: true,
      scaleReads: 'master',
      // Failovers and slot moves are learned from MOVED replies, and every few seconds anyway (the sharded relay checks its placements against it).
      slotsRefreshInterval: 2000,
      redisOptions: { maxRetriesPerRequest: 3, ...parsed.options, ...extra }
    })
  }
  return parsed.mode === 'single'
    ? new Redis(parsed.url, { ...BASE_OPTIONS, ...extra })
    : new Redis({ ...BASE_OPTIONS, ...parsed.options, ...extra })
}

function watch (client: Redis | Cluster, log: FastifyBaseLogger, role: 'command' | 'subscriber', metrics: SwitchboardMetrics): void {
  const errors = metrics.redisErrors.labels(role)
  const reconnects = metrics.redisReconnects.labels(role)
  client.on('error', (err: Error) => {
    errors.inc()
    log.warn({ err, role }, 'redis connection error')
  })
  client.on('reconnecting', (delay: number) => {
    reconnects.inc()
    log.info({ role, delay }, 'redis reconnecting')
  })
}

async function switchboardRedis (fastify: FastifyInstance, options: SwitchboardRedisOptions): Promise<void> {
  if ('client' in options) {
    fastify.decorate('switchboardRedis', { client: options.client, subscriber: options.subscriber })
    return
  }
  if (typeof options.url !== 'string') throw new InvalidOptionsError('switchboard-redis', 'url or client+subscriber is required')
  let client: Redis | Cluster
  try {
    client = createRedis(options.url, options.redisOptions)
  } catch (err) {
    throw new InvalidOptionsError('switchboard-redis', (err as Error).message)
  }
  const subscriber = client.duplicate()
  // Counted in switchboard-metrics (a dependency). Connections handed in are the app's to watch.
  watch(client, fastify.log, 'command', fastify.switchboardMetrics)
  watch(subscriber, fastify.log, 'subscriber', fastify.switchboardMetrics)
  fastify.addHook('onClose', async () => { await quitWithin([client, subscriber]) })
  try {
    await Promise.all([client.connect(), subscriber.connect()])
  } catch (err) {
    client.disconnect()
    subscriber.disconnect()
    throw new Error(`cannot connect to Redis at ${redact(options.url)}: ${(err as Error).message}`, { cause: err })
  }
  fastify.decorate('switchboardRedis', { client, subscriber })
}

export const redisPlugin = fp(switchboardRedis, { name: 'switchboard-redis', fastify: '5.x', dependencies: ['switchboard-metrics'] })
export default redisPlugin
