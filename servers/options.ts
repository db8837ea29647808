/**
 * A role's configuration (servers/config.ts) as the options of the plugins it
 * registers. Pure, so that a test can compare what the command line runs
 * with against what the plugins do with no options (test/defaults.test.ts).
 */
import { readFileSync } from 'node:fs'
import type { SwitchboardHealthOptions } from '../plugins/health/options.js'
import type { SwitchboardMetricsOptions } from '../plugins/metrics/index.js'
import type { AuthOptions } from '../plugins/registry/auth.js'
import type { SwitchboardRegistryOptions } from '../plugins/registry/options.js'
import type { SwitchboardSocketOptions } from '../plugins/socket/options.js'
import type { StoreLimits } from '../plugins/store/types.js'
import type { HealthConfig, RegistryConfig, SocketConfig, StandaloneConfig } from './config.js'

type StorageConfig = Pick<SocketConfig, 'HISTORY_SIZE' | 'HISTORY_TTL_MS' | 'QUOTA_WINDOW_MS' | 'QUOTA_MESSAGES' | 'QUOTA_BYTES' | 'QUOTA_CHANNELS' |
'MAX_ROOMS_PER_USER'>
type JwtConfig = Pick<RegistryConfig, 'AUTH_MODE' | 'JWT_SECRET' | 'JWT_PUBLIC_KEY' | 'JWKS_URL' | 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_MAX_LIFETIME_MS'>
type LimitsConfig = Pick<SocketConfig, 'ALLOWED_ORIGINS' | 'MAX_CONNECTIONS_PER_USER' | 'FRAME_RATE' | 'FRAME_BURST' | 'MAX_CHANNELS_PER_CONNECTION' |
'MAX_BUFFERED_BYTES' | 'PING_INTERVAL_MS' | 'PING_TIMEOUT_MS' | 'MAX_PAYLOAD'>

/** GET /metrics on every role, behind METRICS_TOKEN when it is set. */
export function metricsOptions (config: Pick<RegistryConfig, 'METRICS_TOKEN'>, labels: Record<string, string> = {}): SwitchboardMetricsOptions {
  return { labels, ...(config.METRICS_TOKEN !== undefined ? { token: config.METRICS_TOKEN } : {}) }
}

export function authOptions (config: JwtConfig): AuthOptions {
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

function origins (config: Pick<LimitsConfig, 'ALLOWED_ORIGINS'>): { allowedOrigins?: string[] } {
  return config.ALLOWED_ORIGINS !== undefined ? { allowedOrigins: config.ALLOWED_ORIGINS.split(',') } : {}
}

/** Per connection; `floodTolerance` is left to the plugin, which makes it FRAME_BURST. */
function socketLimits (config: LimitsConfig): Partial<SwitchboardSocketOptions> {
  return {
    maxPayload: config.MAX_PAYLOAD,
    maxConnectionsPerUser: config.MAX_CONNECTIONS_PER_USER,
    ...origins(config),
    limits: {
      frameRate: config.FRAME_RATE,
      frameBurst: config.FRAME_BURST,
      maxChannels: config.MAX_CHANNELS_PER_CONNECTION,
      maxBufferedBytes: config.MAX_BUFFERED_BYTES,
      pingIntervalMs: config.PING_INTERVAL_MS,
      pingTimeoutMs: config.PING_TIMEOUT_MS
    }
  }
}

/** What the store keeps, and what one user may make it keep. */
export function storageLimits (config: StorageConfig): Partial<StoreLimits> {
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

export function registryOptions (config: RegistryConfig): SwitchboardRegistryOptions {
  return {
    tokenSecret: config.TOKEN_SECRET,
    auth: authOptions(config),
    heartbeatTimeoutMs: config.HEARTBEAT_TIMEOUT_MS,
    allocateRateLimit: config.ALLOCATE_RATE_MAX === 0 ? false : { max: config.ALLOCATE_RATE_MAX, timeWindowMs: config.ALLOCATE_RATE_WINDOW_MS },
    userLimits: { maxConnections: config.MAX_CONNECTIONS_PER_USER, allocateMax: config.ALLOCATE_USER_RATE_MAX, windowMs: config.ALLOCATE_RATE_WINDOW_MS },
    ...origins(config)
  }
}

export function socketOptions (config: SocketConfig): SwitchboardSocketOptions {
  return {
    ...socketLimits(config),
    tokenSecret: config.TOKEN_SECRET,
    serverId: config.SERVER_ID,
    capacity: config.CAPACITY,
    heartbeatMs: config.HEARTBEAT_MS,
    heartbeatTimeoutMs: config.HEARTBEAT_TIMEOUT_MS,
    drain: { timeoutMs: config.DRAIN_TIMEOUT_MS },
    ...(config.PUBLIC_URL !== undefined ? { publicUrl: config.PUBLIC_URL } : {}),
    ...(config.ADMIN_TOKEN !== undefined ? { adminToken: config.ADMIN_TOKEN } : {})
  }
}

/** The socket server's store: the storage limits, and presence and WAIT as its heartbeat timeout and Redis settings say. */
export function socketStoreLimits (config: SocketConfig): Partial<StoreLimits> {
  return {
    ...storageLimits(config),
    aliveWithinMs: config.HEARTBEAT_TIMEOUT_MS,
    waitReplicas: config.REDIS_WAIT_REPLICAS,
    waitTimeoutMs: config.REDIS_WAIT_TIMEOUT_MS
  }
}

export function healthOptions (config: HealthConfig): SwitchboardHealthOptions {
  return { intervalMs: config.HEALTH_INTERVAL_MS, heartbeatTimeoutMs: config.HEARTBEAT_TIMEOUT_MS }
}

/**
 * Standalone: one process, so the fleet settings (heartbeats, the health checker, the per-IP and per-user
 * `/allocate` rates) are the plugins' defaults; only what the standalone environment names is passed.
 */
export function standaloneRegistryOptions (config: StandaloneConfig, tokenSecret: string): SwitchboardRegistryOptions {
  return { tokenSecret, auth: authOptions(config), userLimits: { maxConnections: config.MAX_CONNECTIONS_PER_USER }, ...origins(config) }
}

export function standaloneSocketOptions (config: StandaloneConfig, tokenSecret: string): SwitchboardSocketOptions {
  return { ...socketLimits(config), tokenSecret, serverId: 'standalone', capacity: config.CAPACITY }
}
