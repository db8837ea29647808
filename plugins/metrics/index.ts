/**
 * switchboard-metrics: Prometheus metrics for one Fastify app.
 *   GET /metrics   the text exposition format (optionally behind a bearer token)
 * Owns one prom-client Registry (never the global one, so several apps can
 * share a process), with the Switchboard families (families.ts) and Node.js
 * process metrics under the same prefix. Decorates `fastify.switchboardMetrics`.
 * The plugins that record (redis, store, registry, socket, health) declare it
 * in their `dependencies`: it is registered before them, or they fail to
 * register, so whether metrics are recorded never depends on the order.
 */
import fp from 'fastify-plugin'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { UnauthorizedError } from '../errors.js'
import { optionsValidator } from '../validate-options.js'
import { useJsonErrors } from '../http-errors.js'
import { bearerMatches } from '../token/bearer.js'
import { createFamilies } from './families.js'
import type { SwitchboardMetricFamilies } from './families.js'

export { ALLOCATION_OUTCOMES, RATE_LIMIT_KINDS, RELAY_LATENCY_BUCKETS } from './families.js'
export type { AllocationOutcome, SwitchboardMetricFamilies } from './families.js'

export interface SwitchboardMetricsOptions {
  /** prefix of every metric name, Node.js process metrics included (default `switchboard_`) */
  readonly prefix?: string
  /** labels on every series, e.g. `{ server: 's1' }` */
  readonly labels?: Readonly<Record<string, string>>
  /**
   * Node.js process metrics: CPU, memory, handles, event-loop delay, GC (default true).
   * prom-client watches the event loop and GC for the rest of the process once asked.
   */
  readonly defaultMetrics?: boolean
  /** bearer token that `GET /metrics` requires (at least 16 characters); absent = no authentication */
  readonly token?: string
  /** route path (default /metrics); false: no route, the app reads `registry` itself */
  readonly path?: string | false
}

export interface SwitchboardMetrics extends SwitchboardMetricFamilies {
  /** this app's registry: add your own metrics to it */
  readonly registry: Registry
}

declare module 'fastify' {
  interface FastifyInstance {
    switchboardMetrics: SwitchboardMetrics
  }
}

const Options = Type.Object({
  prefix: Type.String({ pattern: '^([a-zA-Z_:][a-zA-Z0-9_:]*)?$' }),
  labels: Type.Record(Type.String({ pattern: '^(?!__)[a-zA-Z_][a-zA-Z0-9_]*$' }), Type.String(), { additionalProperties: false }),
  defaultMetrics: Type.Boolean(),
  token: Type.Optional(Type.String({ minLength: 16 })),
  path: Type.Union([Type.String({ pattern: '^/[^\\s?#]*$' }), Type.Literal(false)])
})
const validate = optionsValidator('switchboard-metrics', Options)

/** The metrics plugin's defaults (it has no environment variables but METRICS_TOKEN, which has no default). */
export const METRICS_DEFAULTS = Object.freeze({ prefix: 'switchboard_', defaultMetrics: true, path: '/metrics' })

async function switchboardMetrics (fastify: FastifyInstance, options: SwitchboardMetricsOptions): Promise<void> {
  const config = validate({
    prefix: options.prefix ?? METRICS_DEFAULTS.prefix,
    labels: { ...options.labels },
    defaultMetrics: options.defaultMetrics ?? METRICS_DEFAULTS.defaultMetrics,
    ...(options.token !== undefined ? { token: options.token } : {}),
    path: options.path ?? METRICS_DEFAULTS.path
  })

  const registry = new Registry()
  registry.setDefaultLabels(config.labels)
  if (config.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: config.prefix })
  fastify.decorate('switchboardMetrics', { ...createFamilies(registry, config.prefix), registry })
  fastify.addHook('onClose', async () => { registry.clear() })

  const path = config.path
  if (path === false) return
  await fastify.register(async (routes) => {
    useJsonErrors(routes)
    // Scraped every few seconds: only failures are worth a log line.
    routes.get(path, { logLevel: 'warn' }, async (request, reply) => {
      if (config.token !== undefined && !bearerMatches(request.headers.authorization, config.token)) {
        throw new UnauthorizedError(`GET ${path} needs Authorization: Bearer <METRICS_TOKEN>`)
      }
      const text = await registry.metrics()
      return await reply.type(registry.contentType).send(text)
    })
  })
}

export const metricsPlugin = fp(switchboardMetrics, { name: 'switchboard-metrics', fastify: '5.x' })
export default metricsPlugin
