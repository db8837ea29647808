/**
 * switchboard-socket: the socket server.
 *   GET /ws?token=…   websocket upgrade, token checked (and its reservation claimed) before the upgrade
 *   POST /drain       move every client to other servers, then stop (with `adminToken`)
 * Joins the fleet once listening (lifecycle.ts); subscribes every connection
 * to its user's channel; relays through the store's pub/sub (hub.ts).
 * Registers @fastify/websocket itself (with `maxPayload`) unless the app
 * already did; its own pre-close step closes clients with 1001 "going away".
 */
import fp from 'fastify-plugin'
import { Type } from '@sinclair/typebox'
import type { Static } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AddressInfo } from 'node:net'
import websocket from '@fastify/websocket'
import type { RawData, WebSocket } from 'ws'
import {
  BadTokenError, CloseCode, InvalidOptionsError, NoCapacityError, OriginNotAllowedError, ShuttingDownError, TooManyConnectionsError, UnauthorizedError
} from '../errors.js'
import { Allocator } from '../registry/allocate.js'
import { bearerMatches } from '../token/bearer.js'
import { Lifecycle } from './lifecycle.js'
import type { DrainOptions } from './lifecycle.js'
import { useJsonErrors } from '../http-errors.js'
import { requestSerializer } from '../log.js'
import { userChannel } from '../names.js'
import { TokenSigner } from '../token/index.js'
import { Connection } from './connection.js'
import type { ConnectionContext } from './connection.js'
import { welcomeFrame } from './frames.js'
import type { WelcomeLimits } from './frames.js'
import { outboxLimits } from './outbox.js'
import { SUBSCRIBE_BATCH } from './protocol.js'
import { Hub } from './hub.js'
import { socketMeter } from './meter.js'
import { PresenceTracker } from './presence.js'
import { OFFSET_PATTERN } from '../store/types.js'

import { resolveSocketOptions } from './options.js'
import { PendingClaims, forgetUpgradeRequest } from './upgrade.js'
import type { Claim } from './upgrade.js'
import type { SwitchboardSocketOptions } from './options.js'

export { DRAIN_DEFAULTS, SOCKET_DEFAULTS, resolveSocketOptions } from './options.js'
export type { SwitchboardSocketOptions, ResolvedSocketOptions } from './options.js'
export type { AuthorizeJoin } from './connection.js'
export type { DrainOptions } from './lifecycle.js'
export { DEFAULT_CONNECTION_LIMITS } from './limits.js'
export type { ConnectionLimits } from './limits.js'

/** GET {path}?token=…[&offset=…&epoch=…]: offset and epoch recover the personal channel. */
const ConnectQuery = Type.Object({
  token: Type.Optional(Type.String()),
  offset: Type.Optional(Type.String({ pattern: OFFSET_PATTERN })),
  epoch: Type.Optional(Type.String({ minLength: 1, maxLength: 32 }))
})

export interface SwitchboardSocket {
  readonly serverId: string
  /** open connections on this server */
  readonly connections: number
  /** the URL clients are given (known once listening) */
  readonly url: string
  /** write a heartbeat now (also done every heartbeatMs) */
  heartbeat (): Promise<void>
  /** move every client to other servers (see DrainOptions); resolves when done */
  drain (options?: DrainOptions): Promise<void>
  readonly draining: boolean
  /** resolves once a drain has finished, however it was started */
  readonly drained: Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    switchboardSocket: SwitchboardSocket
  }
  interface FastifyRequest {
    switchboardUser: string | null
    /** the connect token's reservation, claimed before the upgrade */
    switchboardNonce: string | null
  }
}

function listeningUrl (fastify: FastifyInstance, path: string): string {
  const address = fastify.server.address() as AddressInfo | null
  if (address === null || typeof address === 'string') throw new Error('server is not listening on TCP')
  const wildcard = address.address === '0.0.0.0' || address.address === '::'
  const host = wildcard ? 'localhost' : address.family === 'IPv6' ? `[${address.address}]` : address.address
  const scheme = 'encrypted' in fastify.server || fastify.initialConfig.https !== undefined ? 'wss' : 'ws'
  return `${scheme}://${host}:${address.port}${path}`
}

async function switchboardSocket (fastify: FastifyInstance, options: SwitchboardSocketOptions): Promise<void> {
  const config = resolveSocketOptions(options)
  const store = fastify.switchboardStore
  const signer = new TokenSigner(config.tokenSecret)
  const log = fastify.log.child({ server: config.serverId })
  const meter = socketMeter(fastify.switchboardMetrics)
  const hub = new Hub(store, log, { relayed: meter.relayed, healed: meter.relayGap })
  // Gaps in live delivery are healed from history by the hub, not by closing clients (hub.ts).
  const stopGaps = hub.watchGaps()
  const byUser = new Map<string, Set<Connection>>()
  const authorizeJoin = options.authorizeJoin ?? (() => true)
  if (typeof authorizeJoin !== 'function') throw new InvalidOptionsError('switchboard-socket', 'authorizeJoin must be a function')
  const context: ConnectionContext = {
    store,
    hub,
    log,
    byUser,
    authorizeJoin,
    presence: new PresenceTracker(store, config.serverId, log),
    maxViolations: config.maxViolations,
    limits: config.limits,
    outbox: outboxLimits(config.limits.maxBufferedBytes),
    meter
  }
  // Told to every client in its welcome, so that it paces and batches its frames within them.
  const welcomeLimits: WelcomeLimits = Object.freeze({
    frameRate: config.limits.frameRate,
    frameBurst: config.limits.frameBurst,
    maxChannels: config.limits.maxChannels,
    maxPayload: config.maxPayload,
    subscribeBatch: SUBSCRIBE_BATCH
  })
  const allowedOrigins = config.allowedOrigins === undefined ? undefined : new Set(config.allowedOrigins)
  const connections = new Set<Connection>()
  /** each open connection's reservation nonce: its user's hold in the store is released when it closes */
  const nonces = new WeakMap<Connection, string>()
  const release = (nonce: string, user: string): void => {
    store.release(config.serverId, nonce, user).catch((err: unknown) => log.warn({ err }, 'load accounting failed'))
  }
  /** reservations claimed for upgrades whose connection has not opened yet (upgrade.ts) */
  const claims = new PendingClaims({ release })
  /** each upgrade request's claim, until its connection opens */
  const claimOf = new WeakMap<object, Claim>()
  const countUpgrading = (): number => claims.count()
  const lifecycle = new Lifecycle({
    upgrading: countUpgrading,
    store,
    log,
    serverId: config.serverId,
    capacity: config.capacity,
    heartbeatMs: config.heartbeatMs,
    presence: context.presence,
    connections,
    activity: () => hub.received,
    meter,
    onDrainRequested: () => { lifecycle.drain(config.drain).catch((err: unknown) => log.error({ err }, 'drain failed')) },
    allocator: new Allocator({ store, signer, tokenTtlMs: config.tokenTtlMs, heartbeatTimeoutMs: config.heartbeatTimeoutMs })
  })
  let closing = false

  fastify.decorate('switchboardSocket', {
    serverId: config.serverId,
    get connections () { return connections.size },
    get url () { return lifecycle.url },
    heartbeat: async () => { await lifecycle.heartbeat() },
    drain: async (drainOptions?: DrainOptions) => { await lifecycle.drain({ ...config.drain, ...drainOptions }) },
    get draining () { return lifecycle.draining },
    drained: lifecycle.drained
  })
  fastify.decorateRequest('switchboardUser', null)
  fastify.decorateRequest('switchboardNonce', null)

  // The listeners of every connection's socket (`this`), shared.
  const bySocket = new WeakMap<WebSocket, Connection>()
  function onMessage (this: WebSocket, data: RawData, isBinary: boolean): void {
    bySocket.get(this)?.onFrame(data, isBinary)
  }
  function onPong (this: WebSocket): void {
    const connection = bySocket.get(this)
    if (connection !== undefined) connection.pingedAt = 0
  }
  function onError (this: WebSocket, err: Error): void {
    log.debug({ err, user: bySocket.get(this)?.user }, 'socket error')
  }
  function onClose (this: WebSocket): void {
    const connection = bySocket.get(this)
    if (connection === undefined || !connections.delete(connection)) return
    meter.closed()
    const mine = byUser.get(connection.user)
    mine?.delete(connection)
    if (mine?.size === 0) byUser.delete(connection.user)
    connection.release()
    release(nonces.get(connection) ?? '', connection.user)
  }

  const closeAll = async (): Promise<void> => {
    closing = true
    clearInterval(pinger)
    stopGaps()
    await lifecycle.stop()
    for (const connection of connections) connection.socket.close(CloseCode.GOING_AWAY, 'server shutting down')
  }
  // @fastify/websocket can be registered once per app. An app that needs its own `ws` options (permessage-deflate,
  // say) registers it first, and then owns it: its options and its pre-close apply. Registered after this plugin it
  // throws FST_ERR_DEC_ALREADY_PRESENT, which stops the app at start: the order is never a silent switch (docs/plugins.md).
  if (!fastify.hasDecorator('websocketServer')) {
    await fastify.register(websocket, {
      options: { maxPayload: config.maxPayload },
      // Replaces the default pre-close, which closes clients without a code (1005).
      preClose: async () => {
        await closeAll()
        await new Promise((resolve) => fastify.websocketServer.close(resolve))
      }
    })
  }

  // Joins the fleet only once listening: before that, the URL it would advertise refuses connections.
  fastify.addHook('onListen', async () => {
    await lifecycle.start(config.publicUrl ?? listeningUrl(fastify, `${fastify.prefix}${config.path}`))
    pinger = setInterval(ping, Math.min(config.limits.pingIntervalMs, config.limits.pingTimeoutMs) / 2).unref()
  })

  // Dead peers: ping every pingIntervalMs; one that has not answered within pingTimeoutMs is dropped.
  let pinger: NodeJS.Timeout | undefined
  let lastPing = 0
  const ping = (): void => {
    const now = Date.now()
    const due = now - lastPing >= config.limits.pingIntervalMs
    if (due) lastPing = now
    for (const connection of connections) {
      if (connection.pingedAt !== 0 && now - connection.pingedAt > config.limits.pingTimeoutMs) {
        log.info({ user: connection.user }, 'peer did not answer ping; dropped')
        connection.socket.terminate()
      } else if (due && connection.pingedAt === 0) {
        connection.pingedAt = now
        connection.socket.ping()
      }
    }
  }
  fastify.addHook('preClose', closeAll)
  fastify.addHook('onClose', async () => { await lifecycle.leave() })

  async function checkToken (request: FastifyRequest): Promise<void> {
    const origin = request.headers.origin
    // Browsers always send Origin on a websocket upgrade; a page from another site must not use a victim's token.
    if (allowedOrigins !== undefined && origin !== undefined && !allowedOrigins.has(origin)) throw new OriginNotAllowedError(origin.slice(0, 100))
    const token = (request.query as { token?: unknown }).token
    if (typeof token !== 'string' || token === '') throw new BadTokenError('missing ?token= (get one from the registry: GET /allocate)')
    const result = signer.verify(token, config.serverId)
    if (!result.ok) throw new BadTokenError(result.reason)
    if (closing || lifecycle.draining) throw new ShuttingDownError()
    if (connections.size >= config.capacity) throw new NoCapacityError()
    if ((byUser.get(result.claims.user)?.size ?? 0) >= config.maxConnectionsPerUser) throw new TooManyConnectionsError(String(config.maxConnectionsPerUser))
    // The allocation reserved (and counted) this place; using it up also makes the token single-use.
    const { nonce, user } = result.claims
    const claim = claims.claiming(nonce, user)
    let claimed = false
    try {
      claimed = await store.claim(config.serverId, nonce, user)
    } finally {
      if (!claimed) claims.refused(claim)
    }
    if (!claimed) throw new BadTokenError('already used, or its reservation is gone (allocate again)')
    // If the upgrade fails from here on (the client left, the handshake is refused), the place is given back when the socket closes.
    claims.claimed(claim, request.raw.socket)
    claimOf.set(request.raw, claim)
    request.switchboardUser = result.claims.user
    request.switchboardNonce = nonce
  }

  // The route lives in its own context so that its error handler (JSON bodies) is ours alone.
  await fastify.register(async (routes) => {
    useJsonErrors(routes)
    const adminToken = config.adminToken
    if (adminToken !== undefined) {
      routes.post('/drain', async (request, reply) => {
        if (!bearerMatches(request.headers.authorization, adminToken)) throw new UnauthorizedError('POST /drain needs Authorization: Bearer <ADMIN_TOKEN>')
        lifecycle.drain(config.drain).catch((err: unknown) => log.error({ err }, 'drain failed'))
        return await reply.code(202).send({ status: 'draining', connections: connections.size })
      })
    }
    routes.get(config.path, {
      websocket: true,
      schema: { querystring: ConnectQuery },
      // preHandler runs after the query is validated (a bad offset must not use up the token) and before the upgrade.
      preHandler: checkToken,
      logSerializers: { req: requestSerializer }
    }, (socket, request) => {
      const user = request.switchboardUser as string
      const query = request.query as Static<typeof ConnectQuery>
      const since = query.offset !== undefined && query.epoch !== undefined ? { offset: query.offset, epoch: query.epoch } : undefined
      const connection = new Connection(context, socket, user)
      forgetUpgradeRequest(socket)
      // Attach synchronously, or frames that arrive early are lost. The listeners are shared by every
      // connection (a server holds many; per-connection closures would cost each a few hundred bytes).
      bySocket.set(socket, connection)
      socket.on('message', onMessage)
      socket.on('close', onClose)
      socket.on('error', onError)
      socket.on('pong', onPong)
      connections.add(connection) // already counted in the load by its reservation
      meter.opened()
      const nonce = request.switchboardNonce ?? ''
      nonces.set(connection, nonce)
      const claim = claimOf.get(request.raw)
      if (claim !== undefined) claims.opened(claim)
      let mine = byUser.get(user)
      if (mine === undefined) byUser.set(user, mine = new Set())
      mine.add(connection)
      const channel = userChannel(user)
      const rooms = store.roomsOf(user)
      rooms.catch(() => {}) // awaited in the welcome; this only prevents an unhandled rejection in between
      connection.attach(channel, since, async (position, recovered) =>
        welcomeFrame(user, config.serverId, channel, position, await rooms, recovered, welcomeLimits)
      ).catch((err: unknown) => {
        log.error({ err, user }, 'could not set up a new connection')
        socket.close(CloseCode.INTERNAL, 'connection setup failed')
      })
    })
  })
}

export const socketPlugin = fp(switchboardSocket, {
  name: 'switchboard-socket',
  fastify: '5.x',
  dependencies: ['switchboard-metrics', 'switchboard-store']
})
export default socketPlugin
