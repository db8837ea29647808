/**
 * switchboard-admin: the operator's dashboard, served beside the registry.
 *   GET  /admin/                          the page (client/admin); it asks for the token itself
 *   GET  /admin/api/fleet                 socket servers, registries, health checkers (FleetBody)
 *   POST /admin/api/servers/:id/drain     ask a socket server to drain (it starts at its next heartbeat)
 * The API needs `Authorization: Bearer <token>`. Without a token configured
 * every /admin path answers 404 `ADMIN_DISABLED`: there is never an open admin.
 * Decorates `fastify.switchboardAdmin` ({ enabled, fleet() }).
 */
import fp from 'fastify-plugin'
import fastifyStatic from '@fastify/static'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../package-root.js'
import { AdminDisabledError, InvalidOptionsError, UnauthorizedError, UnknownServerError } from '../errors.js'
import { DEFAULT_HEARTBEAT_TIMEOUT_MS } from '../fleet-defaults.js'
import { optionsValidator } from '../validate-options.js'
import { useJsonErrors } from '../http-errors.js'
import { ErrorBody } from '../registry/schemas.js'
import { bearerMatches } from '../token/bearer.js'
import { readFleet } from './fleet.js'
import { DrainBody, FleetBody, ServerParams } from './schemas.js'
import type { FleetView } from './schemas.js'

export type { FleetView } from './schemas.js'

export interface SwitchboardAdminOptions {
  /** bearer token for the admin API, at least 16 characters; without it /admin answers 404 ADMIN_DISABLED */
  readonly token?: string
  /** servers whose heartbeat is older are shown as not alive, ms (default 3000; use the fleet's HEARTBEAT_TIMEOUT_MS) */
  readonly heartbeatTimeoutMs?: number
  /** folder with the dashboard's index.html (default: client/admin) */
  readonly root?: string
}

export interface SwitchboardAdmin {
  /** a token is configured */
  readonly enabled: boolean
  /** what GET /admin/api/fleet answers */
  fleet (): Promise<FleetView>
}

declare module 'fastify' {
  interface FastifyInstance {
    switchboardAdmin: SwitchboardAdmin
  }
}

const validate = optionsValidator('switchboard-admin', Type.Object({
  token: Type.Optional(Type.String({ minLength: 16 })),
  heartbeatTimeoutMs: Type.Integer({ minimum: 100 }),
  root: Type.String({ minLength: 1 })
}))

/** client/admin in the package, whether running from the sources (tests) or from dist/. */
export function adminRoot (): string {
  return join(packageRoot(), 'client', 'admin')
}

/** The page holds a button that drains servers: never framed by another site, and nothing but its own scripts. */
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff'
}

async function switchboardAdmin (fastify: FastifyInstance, options: SwitchboardAdminOptions): Promise<void> {
  const config = validate({
    ...(options.token !== undefined ? { token: options.token } : {}),
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS,
    root: options.root ?? adminRoot()
  })
  const { token } = config
  if (token !== undefined && !existsSync(join(config.root, 'index.html'))) throw new InvalidOptionsError('switchboard-admin', `no index.html in ${config.root}`)
  const store = fastify.switchboardStore
  const log = fastify.log.child({ component: 'admin' })
  const fleet = async (): Promise<FleetView> => await readFleet(store, config.heartbeatTimeoutMs)
  fastify.decorate('switchboardAdmin', { enabled: token !== undefined, fleet })

  await fastify.register(async (routes) => {
    useJsonErrors(routes)
    if (token === undefined) {
      const disabled = async (): Promise<never> => { throw new AdminDisabledError() }
      routes.all('/admin', disabled)
      routes.all('/admin/*', disabled)
      return
    }

    routes.get('/admin', async (_request, reply) => await reply.redirect('admin/'))
    await routes.register(fastifyStatic, {
      root: config.root,
      prefix: '/admin/',
      wildcard: false,
      index: ['index.html'],
      decorateReply: false,
      setHeaders: (res) => { for (const [name, value] of Object.entries(PAGE_HEADERS)) res.setHeader(name, value) }
    })

    await routes.register(async (api) => {
      api.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
        reply.header('cache-control', 'no-store')
        if (!bearerMatches(request.headers.authorization, token)) {
          reply.header('www-authenticate', 'Bearer realm="switchboard-admin"')
          throw new UnauthorizedError('the admin API needs Authorization: Bearer <ADMIN_TOKEN>')
        }
      })
      const app = api.withTypeProvider<TypeBoxTypeProvider>()
      app.get('/admin/api/fleet', { schema: { response: { 200: FleetBody, 401: ErrorBody } } }, fleet)
      app.post('/admin/api/servers/:id/drain', {
        schema: { params: ServerParams, response: { 202: DrainBody, 401: ErrorBody, 404: ErrorBody } }
      }, async (request, reply) => {
        const { id } = request.params
        if (!await store.requestDrain(id)) throw new UnknownServerError(id)
        log.warn({ server: id, ip: request.ip }, 'drain requested from the admin dashboard')
        return await reply.code(202).send({ server: id, status: 'requested', message: 'the server starts draining at its next heartbeat' })
      })
    })
  })
}

export const adminPlugin = fp(switchboardAdmin, {
  name: 'switchboard-admin',
  fastify: '5.x',
  dependencies: ['switchboard-store']
})
export default adminPlugin
