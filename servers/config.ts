/**
 * Configuration from the environment, one schema per role, validated once at
 * start. Every bad variable is reported by name with what it expects.
 */
import { Type } from '@sinclair/typebox'
import type { Static, TObject, TProperties } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { existsSync } from 'node:fs'
import { isIP } from 'node:net'
import { hostname } from 'node:os'
import { InvalidConfigError } from '../plugins/errors.js'
import { parseRedisUrl } from '../plugins/redis/url.js'
import { DEFAULT_HEARTBEAT_TIMEOUT_MS } from '../plugins/fleet-defaults.js'
import { HEALTH_DEFAULTS } from '../plugins/health/options.js'
import { DEFAULT_KEY_PREFIX, KEY_PREFIX_PATTERN } from '../plugins/names.js'
import { DEFAULT_LIMITS } from '../plugins/store/types.js'
import { DEFAULT_JWT_MAX_LIFETIME_MS } from '../plugins/registry/auth.js'
import { DEFAULT_USER_LIMITS } from '../plugins/registry/limits.js'
import { REGISTRY_DEFAULTS } from '../plugins/registry/options.js'
import { DEFAULT_CONNECTION_LIMITS } from '../plugins/socket/limits.js'
import { SOCKET_DEFAULTS } from '../plugins/socket/options.js'

/*
 * Every default below that a plugin option also has comes from that plugin's defaults (REGISTRY_DEFAULTS,
 * SOCKET_DEFAULTS, HEALTH_DEFAULTS, DEFAULT_LIMITS, …): a server started from the environment and an app
 * registering the plugins without options behave alike (test/defaults.test.ts). Literals here are the
 * settings only the command line has (ports, listen address, log level).
 */

const Port = (fallback: number) => Type.Integer({ minimum: 0, maximum: 65535, default: fallback, description: 'a TCP port, 0-65535' })
const Ms = (fallback: number, minimum: number) => Type.Integer({ minimum, default: fallback, description: `milliseconds, at least ${minimum}` })

const Common = {
  HOST: Type.String({ minLength: 1, default: '0.0.0.0', description: 'the address to listen on' }),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info', description: 'a pino level: fatal, error, warn, info, debug, trace or silent' }),
  SB_PREFIX: Type.String({ pattern: KEY_PREFIX_PATTERN, default: DEFAULT_KEY_PREFIX, description: 'a Redis key prefix, up to 32 of [A-Za-z0-9_.:{}-]' }),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'the bearer token GET /metrics requires, at least 16 characters' }))
}
const RedisUrl = Type.String({ minLength: 1, description: 'redis://host:port[/db] or redis+sentinel://h1:p1,h2:p2/masterName' })
const TokenSecret = Type.String({ minLength: 16, description: 'the connect-token HMAC secret, at least 16 characters, the same on registries and socket servers' })
const AdminToken = Type.Optional(Type.String({ minLength: 16, description: 'the bearer token for /admin and its API, at least 16 characters' }))
const History = {
  HISTORY_SIZE: Type.Integer({ minimum: 1, maximum: 1_000_000, default: DEFAULT_LIMITS.historySize, description: 'messages kept per channel, 1-1000000' }),
  HISTORY_TTL_MS: Type.Integer({ minimum: 1000, default: DEFAULT_LIMITS.historyTtlMs, description: 'ms a channel\'s history is kept after its last message, at least 1000' })
}
/** What one user's messages may make the store keep (docs/security.md): the store's defaults. */
const Quotas = {
  QUOTA_WINDOW_MS: Type.Integer({ minimum: 0, default: DEFAULT_LIMITS.quotaWindowMs, description: 'ms of one storage-quota window, 0 = no quotas' }),
  QUOTA_MESSAGES: Type.Integer({ minimum: 0, default: DEFAULT_LIMITS.quotaMessages, description: 'messages one user may store per quota window, 0 = no limit' }),
  QUOTA_BYTES: Type.Integer({ minimum: 0, default: DEFAULT_LIMITS.quotaBytes, description: 'bytes of messages one user may store per quota window, 0 = no limit' }),
  QUOTA_CHANNELS: Type.Integer({ minimum: 0, default: DEFAULT_LIMITS.quotaChannels, description: 'distinct conversations and rooms one user may write to per quota window, 0 = no limit' }),
  MAX_ROOMS_PER_USER: Type.Integer({ minimum: 1, default: DEFAULT_LIMITS.maxRoomsPerUser, description: 'rooms one user may be a member of, at least 1' })
}
const Jwt = {
  JWT_SECRET: Type.Optional(Type.String({ minLength: 16, description: 'the HS256 secret of your identity provider, at least 16 characters' })),
  JWT_PUBLIC_KEY: Type.Optional(Type.String({ minLength: 1, description: 'a PEM file with your identity provider\'s public key (RS256/ES256 tokens)' })),
  JWKS_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', description: 'your identity provider\'s JWKS URL (RS256/ES256 tokens, keys by kid)' })),
  JWT_ISSUER: Type.Optional(Type.String({ minLength: 1, description: 'the required iss claim' })),
  JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1, description: 'the required aud claim' })),
  JWT_MAX_LIFETIME_MS: Ms(DEFAULT_JWT_MAX_LIFETIME_MS, 1000)
}
const Auth = {
  AUTH_MODE: Type.Union([Type.Literal('dev'), Type.Literal('jwt')], { default: 'jwt', description: "'jwt' (bearer tokens from your identity provider) or 'dev' (?user=, demos only)" }),
  ...Jwt,
  HEARTBEAT_TIMEOUT_MS: Ms(DEFAULT_HEARTBEAT_TIMEOUT_MS, 100)
}
const Tls = {
  TLS_CERT: Type.Optional(Type.String({ minLength: 1, description: 'a PEM certificate (chain) file: serve https:// and wss://' })),
  TLS_KEY: Type.Optional(Type.String({ minLength: 1, description: 'the PEM private key file for TLS_CERT' }))
}
/** Proxies whose X-Forwarded-For is believed (Fastify's trustProxy); checked entry by entry in readEnv. */
const TrustedProxies = Type.Optional(Type.String({
  pattern: '^[0-9A-Fa-f.:/]+(,[0-9A-Fa-f.:/]+)*$',
  description: 'comma-separated IP addresses or CIDRs of the proxies in front (e.g. 127.0.0.1,10.0.0.0/8); none by default'
}))
const Limits = {
  ALLOWED_ORIGINS: Type.Optional(Type.String({ pattern: '^https?://[^\\s,]+(,https?://[^\\s,]+)*$', description: 'comma-separated browser origins allowed to connect, e.g. https://chat.example.com' })),
  MAX_CONNECTIONS_PER_USER: Type.Integer({
    minimum: 1,
    default: DEFAULT_USER_LIMITS.maxConnections,
    description: 'connections (plus unused allocations, on a registry) one user may hold, at least 1'
  }),
  FRAME_RATE: Type.Number({ exclusiveMinimum: 0, default: DEFAULT_CONNECTION_LIMITS.frameRate, description: 'frames per second a connection may send on average, above 0' }),
  FRAME_BURST: Type.Integer({ minimum: 1, default: DEFAULT_CONNECTION_LIMITS.frameBurst, description: 'frames a connection may send in a burst, at least 1' }),
  MAX_CHANNELS_PER_CONNECTION: Type.Integer({ minimum: 1, default: DEFAULT_CONNECTION_LIMITS.maxChannels, description: 'channels one connection may listen to, at least 1' }),
  MAX_BUFFERED_BYTES: Type.Integer({
    minimum: 1024,
    default: DEFAULT_CONNECTION_LIMITS.maxBufferedBytes,
    description: 'unsent bytes after which a slow client is closed (4009), at least 1024'
  }),
  PING_INTERVAL_MS: Ms(DEFAULT_CONNECTION_LIMITS.pingIntervalMs, 10),
  PING_TIMEOUT_MS: Ms(DEFAULT_CONNECTION_LIMITS.pingTimeoutMs, 10)
}

export const RegistryEnv = Type.Object({
  ...Common,
  ...Auth,
  ...Tls,
  PORT: Port(3000),
  REDIS_URL: RedisUrl,
  TOKEN_SECRET: TokenSecret,
  ALLOCATE_RATE_MAX: Type.Integer({ minimum: 0, default: REGISTRY_DEFAULTS.allocateRateLimit.max, description: '/allocate requests per client IP per window, 0 = no limit' }),
  ALLOCATE_USER_RATE_MAX: Type.Integer({ minimum: 0, default: DEFAULT_USER_LIMITS.allocateMax, description: '/allocate requests per user per window, 0 = no limit' }),
  ALLOCATE_RATE_WINDOW_MS: Ms(DEFAULT_USER_LIMITS.windowMs, 100),
  MAX_CONNECTIONS_PER_USER: Limits.MAX_CONNECTIONS_PER_USER,
  TRUSTED_PROXIES: TrustedProxies,
  ALLOWED_ORIGINS: Limits.ALLOWED_ORIGINS,
  ADMIN_TOKEN: AdminToken
})
export const SocketEnv = Type.Object({
  ...Common,
  PORT: Port(4000),
  REDIS_URL: RedisUrl,
  TOKEN_SECRET: TokenSecret,
  SERVER_ID: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'this server\'s unique id, 1-64 of [A-Za-z0-9_.-]' }),
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^wss?://[^\\s]+$', description: 'the ws:// or wss:// URL clients use to reach this server' })),
  CAPACITY: Type.Integer({ minimum: 1, default: SOCKET_DEFAULTS.capacity, description: 'maximum connections, at least 1' }),
  HEARTBEAT_MS: Ms(SOCKET_DEFAULTS.heartbeatMs, 50),
  HEARTBEAT_TIMEOUT_MS: Ms(SOCKET_DEFAULTS.heartbeatTimeoutMs, 100),
  ...History,
  ...Quotas,
  ADMIN_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'the bearer token for POST /drain, at least 16 characters' })),
  REDIS_WAIT_REPLICAS: Type.Integer({
    minimum: 0,
    maximum: 16,
    default: DEFAULT_LIMITS.waitReplicas,
    description: 'replicas that must hold a message before it is acknowledged (WAIT), 0-16'
  }),
  REDIS_WAIT_TIMEOUT_MS: Ms(DEFAULT_LIMITS.waitTimeoutMs, 10),
  DRAIN_TIMEOUT_MS: Ms(SOCKET_DEFAULTS.drain.timeoutMs, 100),
  MAX_PAYLOAD: Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024, default: SOCKET_DEFAULTS.maxPayload, description: 'largest accepted frame in bytes, 1024-16777216' }),
  ...Tls,
  ...Limits
})
export const HealthEnv = Type.Object({
  ...Common,
  PORT: Port(3100),
  REDIS_URL: RedisUrl,
  HEARTBEAT_TIMEOUT_MS: Ms(HEALTH_DEFAULTS.heartbeatTimeoutMs, 100),
  HEALTH_INTERVAL_MS: Ms(HEALTH_DEFAULTS.intervalMs, 10)
})
export const StandaloneEnv = Type.Object({
  ...Common,
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'the address to listen on' }),
  PORT: Port(3000),
  TOKEN_SECRET: Type.Optional(TokenSecret),
  AUTH_MODE: Type.Union([Type.Literal('dev'), Type.Literal('jwt')], { default: 'dev', description: Auth.AUTH_MODE.description }),
  ...Jwt,
  ...Tls,
  ...Limits,
  TRUSTED_PROXIES: TrustedProxies,
  CAPACITY: SocketEnv.properties.CAPACITY,
  MAX_PAYLOAD: SocketEnv.properties.MAX_PAYLOAD,
  ...History,
  ...Quotas,
  ADMIN_TOKEN: AdminToken
})

export type RegistryConfig = Static<typeof RegistryEnv>
export type SocketConfig = Static<typeof SocketEnv>
export type StandaloneConfig = Static<typeof StandaloneEnv>
export type HealthConfig = Static<typeof HealthEnv>
type Env = Record<string, string | undefined>

/** Reads the variables a schema names, applies defaults, and throws one error listing every bad one. */
export function readEnv<T extends TProperties> (schema: TObject<T>, env: Env): Static<TObject<T>> {
  const raw: Record<string, unknown> = {}
  for (const name of Object.keys(schema.properties)) {
    const value = env[name]
    if (value !== undefined && value !== '') raw[name] = value
  }
  const value = Value.Convert(schema, Value.Default(schema, raw)) as Record<string, unknown>
  const problems: string[] = []
  const seen = new Set<string>()
  for (const error of Value.Errors(schema, value)) {
    const name = error.path.split('/')[1] ?? ''
    if (seen.has(name)) continue
    seen.add(name)
    const described = (schema.properties[name] as { description?: string } | undefined)?.description ?? error.message
    problems.push(raw[name] === undefined
      ? `  ${name} is required: ${described}`
      : `  ${name} must be ${described} (got ${JSON.stringify(raw[name])})`)
  }
  if (typeof value.REDIS_URL === 'string' && !seen.has('REDIS_URL')) {
    try {
      parseRedisUrl(value.REDIS_URL)
    } catch (err) {
      problems.push(`  REDIS_URL: ${(err as Error).message}`)
    }
  }
  if (value.AUTH_MODE === 'jwt' && 'JWT_SECRET' in schema.properties && value.JWT_SECRET === undefined && value.JWT_PUBLIC_KEY === undefined &&
    value.JWKS_URL === undefined && !seen.has('JWT_SECRET')) {
    problems.push("  JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL is required when AUTH_MODE is 'jwt' (or set AUTH_MODE=dev for demos)")
  }
  if ((value.TLS_CERT === undefined) !== (value.TLS_KEY === undefined)) problems.push('  TLS_CERT and TLS_KEY go together: set both or neither')
  if (typeof value.TRUSTED_PROXIES === 'string' && !seen.has('TRUSTED_PROXIES')) {
    const bad = trustedProxies(value.TRUSTED_PROXIES).filter((entry) => !isAddressOrCidr(entry))
    if (bad.length > 0) problems.push(`  TRUSTED_PROXIES: not an IP address or CIDR: ${bad.join(', ')}`)
  }
  for (const name of ['TLS_CERT', 'TLS_KEY', 'JWT_PUBLIC_KEY']) {
    const file = value[name]
    if (typeof file === 'string' && !seen.has(name) && !existsSync(file)) problems.push(`  ${name}: no such file: ${file}`)
  }
  if (problems.length > 0) throw new InvalidConfigError(problems.join('\n'))
  return value as Static<TObject<T>>
}

/** TRUSTED_PROXIES as the list Fastify's trustProxy takes (none: trust no proxy). */
export function trustedProxies (value: string | undefined): string[] {
  return value === undefined ? [] : value.split(',')
}

function isAddressOrCidr (entry: string): boolean {
  const [address = '', prefix, ...rest] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return false
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128))
}

export function registryConfig (env: Env = process.env): RegistryConfig {
  return readEnv(RegistryEnv, env)
}

export function socketConfig (env: Env = process.env): SocketConfig {
  const port = env.PORT ?? String(SocketEnv.properties.PORT.default)
  const fallbackId = `${hostname()}-${port}`.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64)
  return readEnv(SocketEnv, { ...env, SERVER_ID: env.SERVER_ID ?? fallbackId })
}

export function healthConfig (env: Env = process.env): HealthConfig {
  return readEnv(HealthEnv, env)
}

export function standaloneConfig (env: Env = process.env): StandaloneConfig {
  return readEnv(StandaloneEnv, env)
}
