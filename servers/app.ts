/**
 * Building blocks shared by the entry points: the logger, and one function
 * per role that composes the plugins into a Fastify app (not yet listening).
 */
import Fastify from 'fastify'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { requestSerializer } from '../plugins/log.js'
import { redisPlugin } from '../plugins/redis/index.js'
import { registryPlugin } from '../plugins/registry/index.js'
import { socketPlugin } from '../plugins/socket/index.js'
import { storePlugin } from '../plugins/store/index.js'
import { webPlugin } from '../plugins/web/index.js'
import { randomBytes } from 'node:crypto'
import { healthPlugin } from '../plugins/health/index.js'
import type { HealthConfig, RegistryConfig, SocketConfig, StandaloneConfig } from './config.js'

export function serverOptions (level: string, role: string): FastifyServerOptions {
  return {
    logger: {
      level,
      base: { role },
      serializers: { req: requestSerializer },
      // Belt and braces: a token field logged by mistake is still hidden.
      redact: ['token', '*.token', 'req.headers.authorization']
    },
    // Registries sit behind nginx: take the client address from X-Forwarded-For.
    trustProxy: role === 'registry'
  }
}

export async function buildRegistry (config: RegistryConfig, extra: Partial<FastifyServerOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify({ ...serverOptions(config.LOG_LEVEL, 'registry'), ...extra })
  await app.register(redisPlugin, { url: config.REDIS_URL })
  await app.register(storePlugin, { type: 'redis', prefix: config.SB_PREFIX, limits: { aliveWithinMs: config.HEARTBEAT_TIMEOUT_MS } })
  await app.register(registryPlugin, {
    tokenSecret: config.TOKEN_SECRET,
    auth: config.AUTH_MODE === 'dev' ? { mode: 'dev' } : { mode: 'jwt', secret: config.JWT_SECRET ?? '' },
    heartbeatTimeoutMs: config.HEARTBEAT_TIMEOUT_MS
  })
  await app.register(webPlugin)
  return app
}

export async function buildSocket (config: SocketConfig, extra: Partial<FastifyServerOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify({ ...serverOptions(config.LOG_LEVEL, 'socket'), ...extra })
  await app.register(redisPlugin, { url: config.REDIS_URL })
  await app.register(storePlugin, {
    type: 'redis',
    prefix: config.SB_PREFIX,
    limits: {
      aliveWithinMs: config.HEARTBEAT_TIMEOUT_MS,
      historySize: config.HISTORY_SIZE,
      historyTtlMs: config.HISTORY_TTL_MS,
      waitReplicas: config.REDIS_WAIT_REPLICAS,
      waitTimeoutMs: config.REDIS_WAIT_TIMEOUT_MS
    }
  })
  await app.register(socketPlugin, {
    maxPayload: config.MAX_PAYLOAD,
    tokenSecret: config.TOKEN_SECRET,
    serverId: config.SERVER_ID,
    capacity: config.CAPACITY,
    heartbeatMs: config.HEARTBEAT_MS,
    heartbeatTimeoutMs: config.HEARTBEAT_TIMEOUT_MS,
    drain: { timeoutMs: config.DRAIN_TIMEOUT_MS },
    ...(config.PUBLIC_URL !== undefined ? { publicUrl: config.PUBLIC_URL } : {}),
    ...(config.ADMIN_TOKEN !== undefined ? { adminToken: config.ADMIN_TOKEN } : {})
  })
  app.get('/healthz', async () => ({ status: 'ok' }))
  return app
}

/** The health checker: evicts socket servers that stopped heartbeating. */
export async function buildHealth (config: HealthConfig, extra: Partial<FastifyServerOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify({ ...serverOptions(config.LOG_LEVEL, 'health'), ...extra })
  await app.register(redisPlugin, { url: config.REDIS_URL })
  await app.register(storePlugin, { type: 'redis', prefix: config.SB_PREFIX, limits: { aliveWithinMs: config.HEARTBEAT_TIMEOUT_MS } })
  await app.register(healthPlugin, { intervalMs: config.HEALTH_INTERVAL_MS, heartbeatTimeoutMs: config.HEARTBEAT_TIMEOUT_MS })
  app.get('/healthz', async () => {
    await app.switchboardStore.ping()
    return { status: 'ok', evictions: app.switchboardHealth.evictions }
  })
  return app
}

/** Registry + one socket server + health checker + the web page in one process, on the memory store. */
export async function buildStandalone (config: StandaloneConfig, extra: Partial<FastifyServerOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify({ ...serverOptions(config.LOG_LEVEL, 'standalone'), ...extra })
  const tokenSecret = config.TOKEN_SECRET ?? randomBytes(24).toString('base64url')
  await app.register(storePlugin, { type: 'memory', limits: { historySize: config.HISTORY_SIZE, historyTtlMs: config.HISTORY_TTL_MS } })
  await app.register(registryPlugin, {
    tokenSecret,
    auth: config.AUTH_MODE === 'dev' ? { mode: 'dev' } : { mode: 'jwt', secret: config.JWT_SECRET ?? '' }
  })
  await app.register(socketPlugin, { tokenSecret, serverId: 'standalone', capacity: config.CAPACITY, maxPayload: config.MAX_PAYLOAD })
  await app.register(healthPlugin)
  await app.register(webPlugin)
  return app
}
