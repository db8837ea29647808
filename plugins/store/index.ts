/**
 * switchboard-store: decorates `fastify.switchboardStore`.
 *   { type: 'memory' }                 a MemoryStore (one process)
 *   { type: 'redis', prefix? }         a RedisStore on `fastify.switchboardRedis`
 *   { store }                          a store you made (left open on close)
 */
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { InvalidOptionsError } from '../errors.js'
import { KEY_PREFIX_PATTERN } from '../names.js'
import { MemoryStore } from './memory.js'
import { RedisStore } from './redis.js'
import type { Store, StoreLimits } from './types.js'

export type {
  Store, ServerRecord, ServerStatus, HeartbeatReply, ComponentRole, ComponentRecord, ComponentStatus, MessageHandler, AppendInput, AppendResult, StoreLimits,
  ConversationEntry, ConversationCursor, QuotaBudget, PageLimits, ReadRange, HistorySpan
} from './types.js'
export { MemoryStore } from './memory.js'
export { RedisStore } from './redis.js'

export type SwitchboardStoreOptions =
  | { readonly store: Store }
  | { readonly type: 'memory', readonly limits?: Partial<StoreLimits> }
  | { readonly type: 'redis', readonly prefix?: string, readonly limits?: Partial<StoreLimits> }

declare module 'fastify' {
  interface FastifyInstance {
    switchboardStore: Store
  }
}

async function switchboardStore (fastify: FastifyInstance, options: SwitchboardStoreOptions): Promise<void> {
  if ('store' in options) {
    fastify.decorate('switchboardStore', options.store)
    return
  }
  let store: Store
  if (options.type === 'memory') {
    store = new MemoryStore(options.limits)
  } else if (options.type === 'redis') {
    // Only this form needs switchboard-redis, so it cannot be in `dependencies`; it fails here, at registration, without it.
    if (!fastify.hasDecorator('switchboardRedis')) {
      throw new InvalidOptionsError('switchboard-store', "type 'redis' needs the switchboard-redis plugin registered first")
    }
    if (options.prefix !== undefined && !new RegExp(KEY_PREFIX_PATTERN).test(options.prefix)) {
      throw new InvalidOptionsError('switchboard-store', `prefix must be up to 32 of [A-Za-z0-9_.:{}-], got ${JSON.stringify(options.prefix)}`)
    }
    // On Redis Cluster, the per-shard subscription connections count with the other Redis connections.
    const errors = fastify.switchboardMetrics.redisErrors.labels('shard')
    const reconnects = fastify.switchboardMetrics.redisReconnects.labels('shard')
    store = new RedisStore({
      ...fastify.switchboardRedis,
      prefix: options.prefix,
      limits: options.limits,
      onShardConnection: (event, node, err) => {
        if (event === 'error') {
          errors.inc()
          fastify.log.warn({ err, node, role: 'shard' }, 'redis shard connection error')
        } else {
          reconnects.inc()
          fastify.log.info({ node, role: 'shard' }, 'redis shard connection lost; subscribing again')
        }
      }
    })
  } else {
    throw new InvalidOptionsError('switchboard-store', "expected { store } or { type: 'memory' | 'redis' }")
  }
  fastify.decorate('switchboardStore', store)
  fastify.addHook('onClose', async () => { await store.close() })
}

export const storePlugin = fp(switchboardStore, { name: 'switchboard-store', fastify: '5.x', dependencies: ['switchboard-metrics'] })
export default storePlugin
