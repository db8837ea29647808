/** The registry plugin's options: their types, their defaults, and their check, done once at registration. */
import { Type } from '@sinclair/typebox'
import { InvalidOptionsError } from '../errors.js'
import { DEFAULT_HEARTBEAT_TIMEOUT_MS } from '../fleet-defaults.js'
import { DEFAULT_TOKEN_TTL_MS, MAX_TOKEN_TTL_MS } from '../token/index.js'
import { optionsValidator } from '../validate-options.js'
import { authenticator } from './auth.js'
import type { Authenticate, AuthOptions } from './auth.js'
import { DEFAULT_USER_LIMITS } from './limits.js'
import type { UserLimits } from './limits.js'

export interface SwitchboardRegistryOptions {
  /** HMAC secret shared with the socket servers (at least 16 characters) */
  readonly tokenSecret: string
  /** who is calling: return a user id or throw (UnauthorizedError → 401) */
  readonly authenticate?: Authenticate
  /** built-in identity, used when `authenticate` is not given */
  readonly auth?: AuthOptions
  /** connect token lifetime, ms (default 30 000, at most 60 000) */
  readonly tokenTtlMs?: number
  /** servers whose heartbeat is older are not offered, ms (default 3000) */
  readonly heartbeatTimeoutMs?: number
  /** base of the jittered Retry-After on 503, seconds (default 1) */
  readonly retryAfterSeconds?: number
  /**
   * `/allocate` requests per client IP per window (default 600 a minute; false = off).
   * Counted in the store (on Redis, across registries). The client IP is Fastify's `request.ip`:
   * behind a proxy, list the proxy in Fastify's `trustProxy` (and only it), or every client picks its own IP.
   */
  readonly allocateRateLimit?: { readonly max: number, readonly timeWindowMs: number } | false
  /**
   * What one user may take from the fleet, checked in the store atomically with each reservation
   * (fleet-wide on Redis): connections plus unused allocations, and `/allocate` requests per window
   * (see UserLimits for the defaults). false = no per-user limit.
   */
  readonly userLimits?: Partial<UserLimits> | false
  /**
   * Browser origins whose pages may call the registry from another origin (CORS), e.g.
   * `['https://chat.example.com']`. Without it no CORS headers are sent: only pages served from the
   * registry's own origin can read `/allocate`.
   */
  readonly allowedOrigins?: readonly string[]
}

/**
 * The registry's defaults, used by the plugin and by the environment schema (servers/config.ts) alike.
 * The per-IP rate is ten times the per-user one (DEFAULT_USER_LIMITS): many users can share one
 * address (an office, a mobile carrier's NAT), and one of them alone must not use up its budget.
 */
export const REGISTRY_DEFAULTS = Object.freeze({
  tokenTtlMs: DEFAULT_TOKEN_TTL_MS,
  heartbeatTimeoutMs: DEFAULT_HEARTBEAT_TIMEOUT_MS,
  retryAfterSeconds: 1,
  allocateRateLimit: Object.freeze({ max: 600, timeWindowMs: DEFAULT_USER_LIMITS.windowMs }),
  userLimits: DEFAULT_USER_LIMITS
})

const Options = Type.Object({
  tokenSecret: Type.String({ minLength: 16 }),
  tokenTtlMs: Type.Integer({ minimum: 1000, maximum: MAX_TOKEN_TTL_MS }),
  heartbeatTimeoutMs: Type.Integer({ minimum: 100 }),
  retryAfterSeconds: Type.Integer({ minimum: 1, maximum: 3600 }),
  allocateRateLimit: Type.Union([Type.Literal(false), Type.Object({
    max: Type.Integer({ minimum: 1 }),
    timeWindowMs: Type.Integer({ minimum: 1 })
  })], { description: 'whole numbers { max ≥ 1, timeWindowMs ≥ 1 }, or false' }),
  userLimits: Type.Union([Type.Literal(false), Type.Object({
    maxConnections: Type.Integer({ minimum: 1 }),
    allocateMax: Type.Integer({ minimum: 0 }),
    windowMs: Type.Integer({ minimum: 1 })
  })]),
  allowedOrigins: Type.Optional(Type.Array(Type.String({ pattern: '^https?://[^\\s/]+$', description: 'origins like https://chat.example.com (scheme and host, no path)' })))
})
const validate = optionsValidator('switchboard-registry', Options)

/** The options as the registry runs with them: every default applied, `authenticate` made from `auth` when not given. */
export function resolveRegistryOptions (options: SwitchboardRegistryOptions) {
  const checked = validate({
    tokenSecret: options.tokenSecret,
    tokenTtlMs: options.tokenTtlMs ?? REGISTRY_DEFAULTS.tokenTtlMs,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? REGISTRY_DEFAULTS.heartbeatTimeoutMs,
    retryAfterSeconds: options.retryAfterSeconds ?? REGISTRY_DEFAULTS.retryAfterSeconds,
    allocateRateLimit: options.allocateRateLimit === undefined ? REGISTRY_DEFAULTS.allocateRateLimit : options.allocateRateLimit === false ? false : { ...options.allocateRateLimit },
    userLimits: options.userLimits === false ? false : { ...REGISTRY_DEFAULTS.userLimits, ...options.userLimits },
    ...(options.allowedOrigins !== undefined ? { allowedOrigins: [...options.allowedOrigins] } : {})
  })
  return Object.freeze({ ...checked, authenticate: authenticateOf(options) })
}

export type ResolvedRegistryOptions = ReturnType<typeof resolveRegistryOptions>

function authenticateOf (options: SwitchboardRegistryOptions): Authenticate {
  const { authenticate, auth } = options
  if (authenticate !== undefined) {
    if (typeof authenticate !== 'function') throw new InvalidOptionsError('switchboard-registry', 'authenticate must be a function')
    return authenticate
  }
  if (auth === undefined) throw new InvalidOptionsError('switchboard-registry', "give authenticate(request) or auth: { mode: 'dev' | 'jwt' }")
  if (auth.mode === 'jwt') {
    const { secret, publicKey, jwksUrl, maxLifetimeMs } = auth
    if (secret === undefined && publicKey === undefined && jwksUrl === undefined) {
      throw new InvalidOptionsError('switchboard-registry', 'jwt auth needs secret, publicKey or jwksUrl')
    }
    if (secret !== undefined && secret.length < 16) throw new InvalidOptionsError('switchboard-registry', 'auth.secret (the JWT secret) must be at least 16 characters')
    if (maxLifetimeMs !== undefined && (!Number.isInteger(maxLifetimeMs) || maxLifetimeMs < 1000)) {
      throw new InvalidOptionsError('switchboard-registry', 'auth.maxLifetimeMs must be a whole number of ms, at least 1000')
    }
  }
  return authenticator(auth)
}
