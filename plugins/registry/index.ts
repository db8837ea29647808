/**
 * switchboard-registry: the stateless service registry.
 *   GET /allocate   least-loaded live socket server + a connect token for it
 *   GET /servers    the fleet as the registry sees it
 *   GET /healthz    the store answers
 * Decorates `fastify.switchboardRegistry` ({ allocator }) for host apps.
 */
import fp from 'fastify-plugin'
import { Type } from '@sinclair/typebox'
import type { Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import fastifyCors from '@fastify/cors'
import fastifyRateLimit from '@fastify/rate-limit'
import { InvalidOptionsError, NoCapacityError, RateLimitedError, StoreUnavailableError } from '../errors.js'
import { allocationMeter } from './meter.js'
import { useJsonErrors } from '../http-errors.js'
import { MAX_TOKEN_TTL_MS, TokenSigner } from '../token/index.js'
import { Allocator } from './allocate.js'
import type { RetryHint } from './allocate.js'
import { authenticator } from './auth.js'
import { DEFAULT_USER_LIMITS } from './limits.js'
import type { UserLimits } from './limits.js'
import { rateLimitStore } from './rate-store.js'
import type { Authenticate, AuthOptions } from './auth.js'
import { AllocateQuery, Allocation, ErrorBody, HealthBody, ServersBody } from './schemas.js'

export { Allocator } from './allocate.js'
export type { Allocation } from './allocate.js'
export type { Authenticate, AuthOptions, JwtOptions } from './auth.js'
export { DEFAULT_USER_LIMITS } from './limits.js'
export type { UserLimits } from './limits.js'

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
   * `/allocate` requests per client IP per window (default 60 a minute; false = off).
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

const NumericOptions = Type.Object({
  tokenSecret: Type.String({ minLength: 16 }),
  tokenTtlMs: Type.Integer({ minimum: 1000, maximum: MAX_TOKEN_TTL_MS }),
  heartbeatTimeoutMs: Type.Integer({ minimum: 100 }),
  retryAfterSeconds: Type.Integer({ minimum: 1, maximum: 3600 }),
  userLimits: Type.Union([Type.Literal(false), Type.Object({
    maxConnections: Type.Integer({ minimum: 1 }),
    allocateMax: Type.Integer({ minimum: 0 }),
    windowMs: Type.Integer({ minimum: 1 })
  })])
})
const checkOptions = TypeCompiler.Compile(NumericOptions)
type Resolved = Static<typeof NumericOptions> & { readonly authenticate: Authenticate }

export interface SwitchboardRegistry {
  readonly allocator: Allocator
}

declare module 'fastify' {
  interface FastifyInstance {
    switchboardRegistry: SwitchboardRegistry
  }
}

function resolve (options: SwitchboardRegistryOptions): Resolved {
  const numeric = {
    tokenSecret: options.tokenSecret,
    tokenTtlMs: options.tokenTtlMs ?? 30_000,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 3000,
    retryAfterSeconds: options.retryAfterSeconds ?? 1,
    userLimits: options.userLimits === false ? false as const : { ...DEFAULT_USER_LIMITS, ...options.userLimits }
  }
  const error = checkOptions.Errors(numeric).First()
  if (error !== undefined) throw new InvalidOptionsError('switchboard-registry', `${error.path.slice(1)} ${error.message}`)
  let authenticate = options.authenticate
  if (authenticate === undefined) {
    if (options.auth === undefined) throw new InvalidOptionsError('switchboard-registry', "give authenticate(request) or auth: { mode: 'dev' | 'jwt' }")
    if (options.auth.mode === 'jwt') {
      const { secret, publicKey, jwksUrl } = options.auth
      if (secret === undefined && publicKey === undefined && jwksUrl === undefined) {
        throw new InvalidOptionsError('switchboard-registry', 'jwt auth needs secret, publicKey or jwksUrl')
      }
      if (secret !== undefined && secret.length < 16) throw new InvalidOptionsError('switchboard-registry', 'auth.secret (the JWT secret) must be at least 16 characters')
      const { maxLifetimeMs } = options.auth
      if (maxLifetimeMs !== undefined && (!Number.isInteger(maxLifetimeMs) || maxLifetimeMs < 1000)) {
        throw new InvalidOptionsError('switchboard-registry', 'auth.maxLifetimeMs must be a whole number of ms, at least 1000')
      }
    }
    authenticate = authenticator(options.auth)
  } else if (typeof authenticate !== 'function') {
    throw new InvalidOptionsError('switchboard-registry', 'authenticate must be a function')
  }
  return Object.freeze({ ...numeric, authenticate })
}

async function switchboardRegistry (fastify: FastifyInstance, options: SwitchboardRegistryOptions): Promise<void> {
  const config = resolve(options)
  const store = fastify.switchboardStore
  const { userLimits } = config
  const allocator = new Allocator({
    store,
    signer: new TokenSigner(config.tokenSecret),
    tokenTtlMs: config.tokenTtlMs,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    ...(userLimits !== false
      ? { budget: { maxHolds: userLimits.maxConnections, rateMax: userLimits.allocateMax, rateWindowMs: userLimits.windowMs } }
      : {})
  })
  fastify.decorate('switchboardRegistry', { allocator })
  const meter = allocationMeter(fastify.hasDecorator('switchboardMetrics') ? fastify.switchboardMetrics : undefined)

  const rateLimit = options.allocateRateLimit ?? { max: 60, timeWindowMs: 60_000 }
  if (rateLimit !== false && (!Number.isInteger(rateLimit.max) || rateLimit.max < 1 || !Number.isInteger(rateLimit.timeWindowMs) || rateLimit.timeWindowMs < 1)) {
    throw new InvalidOptionsError('switchboard-registry', 'allocateRateLimit needs whole numbers max ≥ 1 and timeWindowMs ≥ 1, or false')
  }

  const allowedOrigins = options.allowedOrigins
  if (allowedOrigins !== undefined && (!Array.isArray(allowedOrigins) || allowedOrigins.some((o) => typeof o !== 'string' || !/^https?:\/\/[^\s/]+$/.test(o)))) {
    throw new InvalidOptionsError('switchboard-registry', 'allowedOrigins must be origins like https://chat.example.com (scheme and host, no path)')
  }

  // Routes live in their own encapsulated context so their error handler is ours alone.
  await fastify.register(async (routes) => {
    useJsonErrors(routes)
    if (allowedOrigins !== undefined) {
      // Pages on other origins call /allocate with fetch (a bearer JWT, or cookies for a custom authenticate).
      await routes.register(fastifyCors, {
        origin: [...allowedOrigins],
        methods: ['GET'],
        allowedHeaders: ['authorization', 'content-type'],
        exposedHeaders: ['retry-after'],
        credentials: true,
        maxAge: 600
      })
    }
    if (rateLimit !== false) {
      await routes.register(fastifyRateLimit, {
        global: false,
        store: rateLimitStore(store, 'allocate:ip', rateLimit.timeWindowMs),
        errorResponseBuilder: (_request, context) => new RateLimitedError(context.after)
      })
    }
    const app = routes.withTypeProvider<TypeBoxTypeProvider>()

    app.get('/allocate', {
      ...(rateLimit !== false ? { config: { rateLimit: { max: rateLimit.max, timeWindow: rateLimit.timeWindowMs } } } : {}),
      schema: {
        querystring: AllocateQuery,
        response: { 200: Allocation, 401: ErrorBody, 429: ErrorBody, 503: ErrorBody }
      },
      // Every refusal, whichever step made it (the per-IP limit's hook, identity, the reservation): counted, and told when to come back.
      onError: async (_request, reply, err) => {
        if ((err as { validation?: unknown }).validation !== undefined) return
        meter.failed(err)
        const hint = (err as RetryHint).retryAfterMs
        if (hint !== undefined) {
          reply.header('retry-after', String(Math.max(1, Math.ceil(hint / 1000))))
        } else if (err instanceof NoCapacityError || err instanceof StoreUnavailableError) {
          const base = config.retryAfterSeconds
          reply.header('retry-after', String(base + Math.floor(Math.random() * (base + 1))))
        }
      }
    }, async (request) => {
      const allocation = await allocator.allocate(await config.authenticate(request))
      meter.allocated()
      return allocation
    })

    app.get('/servers', { schema: { response: { 200: ServersBody } } }, async () => {
      const servers = await store.listServers()
      const now = Date.now()
      return {
        servers: servers.map((s) => ({
          ...s,
          alive: s.lastHeartbeat !== null && s.lastHeartbeat >= now - config.heartbeatTimeoutMs
        }))
      }
    })

    app.get('/healthz', { schema: { response: { 200: HealthBody, 503: ErrorBody } } }, async () => {
      try {
        await store.ping()
      } catch (err) {
        throw new StoreUnavailableError((err as Error).message)
      }
      return { status: 'ok' as const }
    })
  })
}

export const registryPlugin = fp(switchboardRegistry, {
  name: 'switchboard-registry',
  fastify: '5.x',
  dependencies: ['switchboard-store']
})
export default registryPlugin
