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
import type { SwitchboardSocketOptions } from '../plugins/socket/index.js'
import type { AuthOptions } from '../plugins/registry/index.js'
import { readFileSync } from 'node:fs'
import { storePlugin } from '../plugins/store/index.js'
import type { StoreLimits } from '../plugins/store/index.js'
import { webPlugin } from '../plugins/web/index.js'
import { randomBytes } from 'node:crypto'
import { healthPlugin } from '../plugins/health/index.js'
import { healthDetails } from '../plugins/health/beacon.js'
import { beaconPlugin } from '../plugins/beacon/index.js'
import { adminPlugin } from '../plugins/admin/index.js'
import { metricsPlugin } from '../plugins/metrics/index.js'
import type { SwitchboardMetricsOptions } from '../plugins/metrics/index.js'
import { trustedProxies } from './config.js'
import type { HealthConfig, RegistryConfig, SocketConfig, StandaloneConfig } from './config.js'

type TlsConfig = Pick<RegistryConfig, 'TLS_CERT' | 'TLS_KEY'>
type StorageConfig = Pick<SocketConfig, 'HISTORY_SIZE' | 'HISTORY_TTL_MS' | 'QUOTA_WINDOW_MS' | 'QUOTA_MESSAGES' | 'QUOTA_BYTES' | 'QUOTA_CHANNELS' |
'MAX_ROOMS_PER_USER'>
type JwtConfig = Pick<RegistryConfig, 'AUTH_MODE' | 'JWT_SECRET' | 'JWT_PUBLIC_KEY' | 'JWKS_URL' | 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_MAX_LIFETIME_MS'>
type LimitsConfig = Pick<SocketConfig, 'ALLOWED_ORIGINS' | 'MAX_CONNECTIONS_PER_USER' | 'FRAME_RATE' | 'FRAME_BURST' | 'MAX_CHANNELS_PER_CONNECTION' |
'MAX_BUFFERED_BYTES' | 'PING_INTERVAL_MS' | 'PING_TIMEOUT_MS' | 'MAX_PAYLOAD'>

/** GET /metrics on every role, behind METRICS_TOKEN when it is set; registered first so the other plugins record into it. */
function metrics (config: Pick<RegistryConfig, 'METRICS_TOKEN'>, labels: Record<string, string> = {}): SwitchboardMetricsOptions {
  return { labels, ...(config.METRICS_TOKEN !== undefined ? { token: config.METRICS_TOKEN } : {}) }
}

/** Fastify's https option when TLS_CERT and TLS_KEY are set: the server then speaks https:// and wss://. */
function tls (config: TlsConfig): Partial<FastifyServerOptions> {
  if (config.TLS_CERT === undefined || config.TLS_KEY === undefined) return {}
  return { https: { cert: readFileSync(config.TLS_CERT), key: readFileSync(config.TLS_KEY) } } as Partial<FastifyServerOptions>
}

function auth (config: JwtConfig): AuthOptions {
  if (config.AUTH_MODE === 'dev') return { mode: 'dev' }
  return {
    mode: 'jwt',
    maxLifetimeMs: config.JWT_MAX_LIFETIME_MS,
    ...(config.JWT_SECRET !== undefined ? { secret: config.JWT_SECRET } : {}),
    ...(config.JWT_PUBLIC_KEY !== undefined ? { publicKey: readFileSync(config.JWT_PUBLIC_KEY, 'utf8') } : {}),
    ...(config.JWKS_URL !== undefined ? { jwksUrl: config.JWKS_URL } : {}),
    ...(config.JWT_ISSUER !== undefined ? { issuer: config.JWT_ISSUER } : {}),
    ...(config.JWT_AUDIENCE !== undefined ? { audience: config.JWT_AUDIENCE } : {})
  }
}

function socketLimits (config: LimitsConfig): Partial<SwitchboardSocketOptions> {
  return {
    maxPayload: config.MAX_PAYLOAD,
    maxConnectionsPerUser: config.MAX_CONNECTIONS_PER_USER,
    ...(config.ALLOWED_ORIGINS !== undefined ? { allowedOrigins: config.ALLOWED_ORIGINS.split(',') } : {}),
    limits: {
      frameRate: config.FRAME_RATE,
      frameBurst: config.FRAME_BURST,
      floodTolerance: config.FRAME_BURST,
      maxChannels: config.MAX_CHANNELS_PER_CONNECTION,
      maxBufferedBytes: config.MAX_BUFFERED_BYTES,
      pingIntervalMs: config.PING_INTERVAL_MS,
      pingTimeoutMs: config.PING_TIMEOUT_MS
    }
  }
}

/** What the store keeps, and what one user may make it keep. */
function storage (config: StorageConfig): Partial<StoreLimits> {
  return {
    historySize: config.HISTORY_SIZE,
    historyTtlMs: config.HISTORY_TTL_MS,
    quotaWindowMs: config.QUOTA_WINDOW_MS,
    quotaMessages: config.QUOTA_MESSAGES,
    quotaBytes: config.QUOTA_BYTES,
    quotaChannels: config.QUOTA_CHANNELS,
    maxRoomsPerUser: config.MAX_ROOMS_PER_USER
  }
}

/** The dashboard (every /admin path answers 404 ADMIN_DISABLED without a token), and this registry's row on it. */
async function admin (app: FastifyInstance, token: string | undefined, heartbeatTimeoutMs: number): Promise<void> {
  await app.register(beaconPlugin, { role: 'registry' })
  await app.register(adminPlugin, { heartbeatTimeoutMs, ...(token !== undefined ? { token } : {}) })
}

/** The health checker's row on the dashboard, in a context of its own (standalone has a registry's beacon too). */
async function healthBeacon (app: FastifyInstance, intervalMs: number, heartbeatTimeoutMs: number): Promise<void> {
  const details = healthDetails(app.switchboardHealth, intervalMs, heartbeatTimeoutMs)
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
  await app.register(metricsPlugin, metrics(config))
  await app.register(redisPlugin, { url: config.REDIS_URL })
  await app.register(storePlugin, { type: 'redis', prefix: config.SB_PREFIX, limits: { aliveWithinMs: config.HEARTBEAT_TIMEOUT_MS } })
  await app.register(registryPlugin, {
    tokenSecret: config.TOKEN_SECRET,
    auth: auth(config),
    heartbeatTimeoutMs: config.HEARTBEAT_TIMEOUT_MS,
    allocateRateLimit: config.ALLOCATE_RATE_MAX === 0 ? false : { max: config.ALLOCATE_RATE_MAX, timeWindowMs: config.ALLOCATE_RATE_WINDOW_MS },
    userLimits: { maxConnections: config.MAX_CONNECTIONS_PER_USER, allocateMax: config.ALLOCATE_USER_RATE_MAX, windowMs: config.ALLOCATE_RATE_WINDOW_MS },
    ...(config.ALLOWED_ORIGINS !== undefined ? { allowedOrigins: config.ALLOWED_ORIGINS.split(',') } : {})
  })
  await app.register(webPlugin)
  await admin(app, config.ADMIN_TOKEN, config.HEARTBEAT_TIMEOUT_MS)
  return app
}

export async function buildSocket (config: SocketConfig, extra: Partial<FastifyServerOptions> = {}): Promise<FastifyInstance> {
  const app = Fastify({ ...serverOptions(config.LOG_LEVEL, 'socket'), ...tls(config), ...extra })
  await app.register(metricsPlugin, metrics(config, { server: config.SERVER_ID }))
  await app.register(redisPlugin, { url: config.REDIS_URL })
  await app.register(storePlugin, {
    type: 'redis',
    prefix: config.SB_PREFIX,
    limits: {
      ...storage(config),
      aliveWithinMs: config.HEARTBEAT_TIMEOUT_MS,
      waitReplicas: config.REDIS_WAIT_REPLICAS,
      waitTimeoutMs: config.REDIS_WAIT_TIMEOUT_MS
    }
  })
  await app.register(socketPlugin, {
    ...socketLimits(config),
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
  await app.register(metricsPlugin, metrics(config))
  await app.register(redisPlugin, { url: config.REDIS_URL })
  await app.register(storePlugin, { type: 'redis', prefix: config.SB_PREFIX, limits: { aliveWithinMs: config.HEARTBEAT_TIMEOUT_MS } })
  await app.register(healthPlugin, { intervalMs: config.HEALTH_INTERVAL_MS, heartbeatTimeoutMs: config.HEARTBEAT_TIMEOUT_MS })
  await healthBeacon(app, config.HEALTH_INTERVAL_MS, config.HEARTBEAT_TIMEOUT_MS)
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
  await app.register(metricsPlugin, metrics(config))
  await app.register(storePlugin, { type: 'memory', limits: storage(config) })
  await app.register(registryPlugin, {
    tokenSecret,
    auth: auth(config),
    userLimits: { maxConnections: config.MAX_CONNECTIONS_PER_USER },
    ...(config.ALLOWED_ORIGINS !== undefined ? { allowedOrigins: config.ALLOWED_ORIGINS.split(',') } : {})
  })
  await app.register(socketPlugin, { ...socketLimits(config), tokenSecret, serverId: 'standalone', capacity: config.CAPACITY })
  await app.register(healthPlugin)
  await healthBeacon(app, 1000, 3000)
  await app.register(webPlugin)
  await admin(app, config.ADMIN_TOKEN, 3000)
  return app
}
