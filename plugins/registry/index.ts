/**
 * switchboard-registry: the stateless service registry.
 *   GET /allocate   least-loaded live socket server + a connect token for it (?avoid=<server id>: not that one, if others have room)
 *   GET /servers    the fleet as the registry sees it
 *   GET /healthz    the store answers
 * Decorates `fastify.switchboardRegistry` ({ allocator }) for host apps.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import fastifyCors from '@fastify/cors'
import fastifyRateLimit from '@fastify/rate-limit'
import { NoCapacityError, RateLimitedError, StoreUnavailableError } from '../errors.js'
import { allocationMeter } from './meter.js'
import { useJsonErrors } from '../http-errors.js'
import { TokenSigner } from '../token/index.js'
import { Allocator } from './allocate.js'
import type { RetryHint } from './allocate.js'
import { resolveRegistryOptions } from './options.js'
import type { SwitchboardRegistryOptions } from './options.js'
import { rateLimitStore } from './rate-store.js'
import { AllocateQuery, Allocation, ErrorBody, HealthBody, ServersBody } from './schemas.js'

export { Allocator } from './allocate.js'
export type { Allocation } from './allocate.js'
export type { Authenticate, AuthOptions, JwtOptions } from './auth.js'
export { DEFAULT_USER_LIMITS } from './limits.js'
export type { UserLimits } from './limits.js'
export { REGISTRY_DEFAULTS, resolveRegistryOptions } from './options.js'
export type { SwitchboardRegistryOptions, ResolvedRegistryOptions } from './options.js'

export interface SwitchboardRegistry {
  readonly allocator: Allocator
}

declare module 'fastify' {
  interface FastifyInstance {
    switchboardRegistry: SwitchboardRegistry
  }
}

async function switchboardRegistry (fastify: FastifyInstance, options: SwitchboardRegistryOptions): Promise<void> {
  const config = resolveRegistryOptions(options)
  const store = fastify.switchboardStore
  const { userLimits, allocateRateLimit: rateLimit, allowedOrigins } = config
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
  const meter = allocationMeter(fastify.switchboardMetrics)

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
      const { avoid } = request.query
      const allocation = await allocator.allocate(await config.authenticate(request), avoid !== undefined ? { avoid } : {})
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
  dependencies: ['switchboard-metrics', 'switchboard-store']
})
export default registryPlugin
