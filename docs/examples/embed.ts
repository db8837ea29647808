/**
 * Switchboard inside an ordinary Fastify app: the app keeps its own routes,
 * its own logger and its own idea of who the user is; Switchboard adds
 * allocation and the websocket endpoint. This file is type-checked with the
 * project and exercised by test/embed.test.ts.
 */
import Fastify from 'fastify'
import type { FastifyInstance, FastifyRequest, FastifyServerOptions } from 'fastify'
import type { Redis } from 'ioredis'
import {
  UnauthorizedError,
  metricsPlugin,
  redisPlugin,
  registryPlugin,
  socketPlugin,
  storePlugin
} from '../../plugins/index.js'

export interface EmbedOptions {
  /** the app's own session lookup: API key → user id */
  readonly sessions: ReadonlyMap<string, string>
  readonly tokenSecret: string
  /** a Redis connection pair the app already owns, or none for the memory store */
  readonly redis?: { client: Redis, subscriber: Redis }
  /** the app's own logger options */
  readonly logger?: FastifyServerOptions['logger']
}

export async function buildChatApp (options: EmbedOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false })

  // The app's own routes and hooks are untouched by Switchboard.
  app.get('/api/hello', async () => ({ hello: 'world' }))

  // Identity comes from the app: here an API key header that maps to a user.
  const authenticate = (request: FastifyRequest): string => {
    const key = request.headers['x-api-key']
    const user = typeof key === 'string' ? options.sessions.get(key) : undefined
    if (user === undefined) throw new UnauthorizedError('unknown API key')
    return user
  }

  // First: the plugins below record into it, and fail to register without it.
  await app.register(metricsPlugin, { labels: { server: 'app-1' } })

  if (options.redis !== undefined) {
    // Clients handed in are used, never closed, by Switchboard.
    await app.register(redisPlugin, options.redis)
    await app.register(storePlugin, { type: 'redis', prefix: 'chat:' })
  } else {
    await app.register(storePlugin, { type: 'memory' })
  }

  // Everything under /chat: GET /chat/allocate, /chat/servers, /chat/healthz, /chat/ws.
  await app.register(async (chat) => {
    await chat.register(registryPlugin, { tokenSecret: options.tokenSecret, authenticate })
    await chat.register(socketPlugin, { tokenSecret: options.tokenSecret, serverId: 'app-1', capacity: 5000 })

    // Decorators are typed; they live in the context the plugins were registered in.
    chat.get('/stats', async () => ({
      connections: chat.switchboardSocket.connections,
      server: chat.switchboardSocket.serverId
    }))
  }, { prefix: '/chat' })

  return app
}
