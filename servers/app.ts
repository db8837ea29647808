/**
 * Building blocks shared by the entry points: the logger, and one function
 * per role that composes the plugins into a Fastify app (not yet listening).
 */
import Fastify from 'fastify'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { requestSerializer } from '../plugins/log.js'
import { lazyChildLogger } from '../plugins/request-logger.js'
import { redisPlugin } from '../plugins/redis/index.js'
import { registryPlugin } from '../plugins/registry/index.js'
import { socketPlugin } from '../plugins/socket/index.js'
import { readFileSync } from 'node:fs'
import { storePlugin } from '../plugins/store/index.js'
import { webPlugin } from '../plugins/web/index.js'
import { randomBytes } from 'node:crypto'
import { healthPlugin } from '../plugins/health/index.js'
import { healthDetails } from '../plugins/health/beacon.js'
import { beaconPlugin } from '../plugins/beacon/index.js'
import { adminPlugin } from '../plugins/admin/index.js'
import { metricsPlugin } from '../plugins/metrics/index.js'
import { trustedProxies } from './config.js'
import type { HealthConfig, RegistryConfig, SocketConfig, StandaloneConfig } from './config.js'
import {
  healthOptions, metricsOptions, registryOptions, socketOptions, socketStoreLimits, standaloneRegistryOptions, standaloneSocketOptions, storageLimits
} from './options.js'

type TlsConfig = Pick<RegistryConfig, 'TLS_CERT' | 'TLS_KEY'>

/** Fastify's https option when TLS_CERT and TLS_KEY are set: the server then speaks https:// and wss://. */
function tls (config: TlsConfig): Partial<FastifyServerOptions> {
  if (config.TLS_CERT === undefined || config.TLS_KEY === undefined) return {}
  return { https: { cert: readFileSync(config.TLS_CERT), key: readFileSync(config.TLS_KEY) } } as Partial<FastifyServerOptions>
}

/** The dashboard (every /admin path answers 404 ADMIN_DISABLED without a token), and this registry's row on it. */
async function admin (app: FastifyInstance, token: string | undefined, heartbeatTimeoutMs?: number): Promise<void> {
  await app.register(beaconPlugin, { role: 'registry' })
  await app.register(adminPlugin, { ...(heartbeatTimeoutMs !== undefined ? { heartbeatTimeoutMs } : {}), ...(token !== undefined ? { token } : {}) })
}

/** The health checker's row on the dashboard, in a context of its own (standalone has a registry's beacon too). */
async function healthBeacon (app: FastifyInstance): Promise<void> {
  const details = healthDetails(app.switchboardHealth)
  await app.register(async (scope) => { await scope.register(beaconPlugin, { role: 'health', details }) })
}

/**
 * `trusted`: the proxies (IPs, CIDRs) whose X-Forwarded-For is believed, so `request.ip` (the per-IP
 * `/allocate` limit, logs) is the real client behind them. None by default: a registry reached
 * directly must not let each request name its own address.
 */
export function serverOptions (level: string, role: string, trusted: readonly string[] = []): FastifyServerOptions {
  return {
    logger: {
      level,
      base: { role },
      serializers: { req: requestSerializer },
      // Belt and braces: a token field logged by mistake is still hidden.
      redact: ['token', '*.token', 'req.headers.authorization']
    },
    // A request's logger is made when it first writes a line: most requests write none.
    childLoggerFactory: lazyChildLogger,
    trustProxy: trusted.length > 0 ? [...trusted] : false
  }
}

export async function buildRegistry (config: RegistryConfig, extra: Partial<FastifyServerOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify({ ...serverOptions(config.LOG_LEVEL, 'registry', trustedProxies(config.TRUSTED_PROXIES)), ...tls(config), ...extra })
  await app.register(metricsPlugin, metricsOptions(config))
  await app.register(redisPlugin, { url: config.REDIS_URL })
  await app.register(storePlugin, { type: 'redis', prefix: config.SB_PREFIX, limits: { aliveWithinMs: config.HEARTBEAT_TIMEOUT_MS } })
  await app.register(registryPlugin, registryOptions(config))
  await app.register(webPlugin)
  await admin(app, config.ADMIN_TOKEN, config.HEARTBEAT_TIMEOUT_MS)
  return app
}

export async function buildSocket (config: SocketConfig, extra: Partial<FastifyServerOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify({ ...serverOptions(config.LOG_LEVEL, 'socket'), ...tls(config), ...extra })
  await app.register(metricsPlugin, metricsOptions(config, { server: config.SERVER_ID }))
  await app.register(redisPlugin, { url: config.REDIS_URL })
  await app.register(storePlugin, { type: 'redis', prefix: config.SB_PREFIX, limits: socketStoreLimits(config) })
  await app.register(socketPlugin, socketOptions(config))
  app.get('/healthz', async () => ({ status: 'ok' }))
  return app
}

/** The health checker: evicts socket servers that stopped heartbeating. */
export async function buildHealth (config: HealthConfig, extra: Partial<FastifyServerOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify({ ...serverOptions(config.LOG_LEVEL, 'health'), ...extra })
  await app.register(metricsPlugin, metricsOptions(config))
  await app.register(redisPlugin, { url: config.REDIS_URL })
  await app.register(storePlugin, { type: 'redis', prefix: config.SB_PREFIX, limits: { aliveWithinMs: config.HEARTBEAT_TIMEOUT_MS } })
  await app.register(healthPlugin, healthOptions(config))
  await healthBeacon(app)
  app.get('/healthz', async () => {
    await app.switchboardStore.ping()
    return { status: 'ok', evictions: app.switchboardHealth.evictions }
  })
  return app
}

/** Registry + one socket server + health checker + the web page in one process, on the memory store. */
export async function buildStandalone (config: StandaloneConfig, extra: Partial<FastifyServerOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify({ ...serverOptions(config.LOG_LEVEL, 'standalone', trustedProxies(config.TRUSTED_PROXIES)), ...tls(config), ...extra })
  const tokenSecret = config.TOKEN_SECRET ?? randomBytes(24).toString('base64url')
  await app.register(metricsPlugin, metricsOptions(config))
  await app.register(storePlugin, { type: 'memory', limits: storageLimits(config) })
  await app.register(registryPlugin, standaloneRegistryOptions(config, tokenSecret))
  await app.register(socketPlugin, standaloneSocketOptions(config, tokenSecret))
  await app.register(healthPlugin)
  await healthBeacon(app)
  await app.register(webPlugin)
  await admin(app, config.ADMIN_TOKEN)
  return app
}
