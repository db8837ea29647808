/**
 * An in-process Switchboard for tests: one registry and N socket servers on
 * real ports, over a memory store (shared by all apps, as one node would) or
 * over a private real Redis. Everything is closed in `t.teardown`.
 */
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import type { Cluster } from 'ioredis'
import { metricsPlugin } from '../../plugins/metrics/index.js'
import { createRedis, redisPlugin } from '../../plugins/redis/index.js'
import { registryPlugin } from '../../plugins/registry/index.js'
import type { SwitchboardRegistryOptions } from '../../plugins/registry/index.js'
import { socketPlugin } from '../../plugins/socket/index.js'
import type { SwitchboardSocketOptions } from '../../plugins/socket/index.js'
import { MemoryStore, RedisStore, storePlugin } from '../../plugins/store/index.js'
import type { Store, StoreLimits, SwitchboardStoreOptions } from '../../plugins/store/index.js'
import { heldStore } from './held-store.js'
import type { HeldStore } from './held-store.js'
import { sharedCluster, sharedRedis, uniquePrefix } from './redis.js'

export type Backend = 'memory' | 'redis' | 'cluster'
export const BACKENDS: Backend[] = ['memory', 'redis']
/** The suites that must also hold on Redis Cluster (6 redis-server processes, one cluster per test file). */
export const CLUSTER_BACKENDS: Backend[] = [...BACKENDS, 'cluster']
export const TOKEN_SECRET = 'test-secret-0123456789abcdef'

interface Teardown { teardown (fn: () => unknown): void }

/** Every Switchboard plugin that records needs switchboard-metrics; the process metrics would only slow a test's many apps. */
const TEST_METRICS = { defaultMetrics: false }

/** A store on a backend, plus how apps should register their store plugin to share it. */
export interface StoreHandle {
  readonly backend: Backend
  /** a store to inspect from the test (same data the apps see) */
  readonly store: Store
  readonly prefix: string
  /** direct Redis client (redis and cluster backends) */
  readonly redis: Redis | Cluster | null
  readonly redisUrl: string | null
  /** registers the metrics, store (and Redis) plugins on an app */
  register (app: FastifyInstance): Promise<void>
  /**
   * A store object on the same data, as an app registering the plugins would make (memory: the one
   * store; Redis: connections of its own), closed in teardown: for a test to wrap (held-store.ts)
   * and hand to one app with the store plugin's `{ store }` option (StackOptions.store).
   */
  ownStore (): Promise<Store>
}

/** `redisUrl`: a Redis of the test's own instead of the file's shared one (redis backend). */
export async function openStore (t: Teardown, backend: Backend, limits: Partial<StoreLimits> = {}, redisUrl?: string): Promise<StoreHandle> {
  if (backend === 'memory') {
    const store = new MemoryStore(limits)
    t.teardown(async () => { await store.close() })
    const options: SwitchboardStoreOptions = { store }
    return {
      backend,
      store,
      prefix: 'sb:',
      redis: null,
      redisUrl: null,
      register: async (app) => {
        await app.register(metricsPlugin, TEST_METRICS)
        await app.register(storePlugin, options)
      },
      ownStore: async () => store
    }
  }
  const server = backend === 'cluster' ? await sharedCluster() : redisUrl !== undefined ? { url: redisUrl } : await sharedRedis()
  const prefix = uniquePrefix()
  const connectStore = async (): Promise<{ store: RedisStore, client: Redis | Cluster }> => {
    const client = backend === 'cluster' ? createRedis(server.url) : new Redis(server.url)
    const subscriber = client.duplicate()
    if (backend === 'cluster') await Promise.all([client.connect(), subscriber.connect()])
    const store = new RedisStore({ client, subscriber, prefix, limits })
    t.teardown(async () => {
      await store.close()
      client.disconnect()
      subscriber.disconnect()
    })
    return { store, client }
  }
  const { store, client } = await connectStore()
  return {
    backend,
    store,
    prefix,
    redis: client,
    redisUrl: server.url,
    register: async (app) => {
      await app.register(metricsPlugin, TEST_METRICS)
      await app.register(redisPlugin, { url: server.url })
      await app.register(storePlugin, { type: 'redis', prefix, limits })
    },
    ownStore: async () => (await connectStore()).store
  }
}

export interface Stack {
  readonly handle: StoreHandle
  readonly registry: FastifyInstance
  readonly registryUrl: string
  readonly sockets: FastifyInstance[]
  /** with StackOptions.held: each socket server's store, same order as `sockets` */
  readonly held: HeldStore[]
}

export interface StackOptions {
  readonly sockets?: number
  readonly limits?: Partial<StoreLimits>
  readonly socket?: Partial<SwitchboardSocketOptions>
  /** a Redis of the test's own (redis backend) */
  readonly redisUrl?: string
  /** the socket servers' store object (StoreHandle.ownStore, wrapped by the test) instead of the plugins the handle registers */
  readonly store?: Store
  /** startStack: each socket server on a held store of its own (held-store.ts), in Stack.held, to see what it did */
  readonly held?: boolean
}

export async function startSocket (t: Teardown, handle: StoreHandle, serverId: string, options: StackOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: { level: process.env.TEST_LOG ?? 'silent' } })
  t.teardown(async () => { await app.close() })
  if (options.store === undefined) await handle.register(app)
  else {
    await app.register(metricsPlugin, TEST_METRICS)
    await app.register(storePlugin, { store: options.store })
  }
  // Tests send frames faster than a person would: the rate limit is tested on its own (security.test.ts).
  await app.register(socketPlugin, { tokenSecret: TOKEN_SECRET, serverId, heartbeatMs: 200, ...options.socket, limits: { frameRate: 10_000, frameBurst: 10_000, ...options.socket?.limits } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  return app
}

export async function startRegistry (t: Teardown, handle: StoreHandle, options: Partial<SwitchboardRegistryOptions> = {}): Promise<{ app: FastifyInstance, url: string }> {
  const app = Fastify({ logger: { level: process.env.TEST_LOG ?? 'silent' } })
  t.teardown(async () => { await app.close() })
  await handle.register(app)
  // Tests reconnect faster than the SDK's real backoff: the rate limits are tested on their own (security, fair-allocation); the per-user cap stays on.
  await app.register(registryPlugin, {
    tokenSecret: TOKEN_SECRET, auth: { mode: 'dev' }, heartbeatTimeoutMs: 3000, allocateRateLimit: false, userLimits: { allocateMax: 0 }, ...options
  })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, url }
}

export async function startStack (t: Teardown, backend: Backend, options: StackOptions = {}): Promise<Stack> {
  const handle = await openStore(t, backend, options.limits, options.redisUrl)
  const sockets: FastifyInstance[] = []
  const held: HeldStore[] = []
  for (let i = 1; i <= (options.sockets ?? 2); i++) {
    const store = options.held === true ? heldStore(await handle.ownStore()) : undefined
    if (store !== undefined) held.push(store)
    sockets.push(await startSocket(t, handle, `s${i}`, store === undefined ? options : { ...options, store: store.store }))
  }
  const registry = await startRegistry(t, handle)
  return { handle, registry: registry.app, registryUrl: registry.url, sockets, held }
}

/** The load the store counts for a server. */
export async function loadOf (store: Store, serverId: string): Promise<number | undefined> {
  return (await store.listServers()).find((s) => s.id === serverId)?.load
}
