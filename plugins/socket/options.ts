/** The socket plugin's options: their types, their schema, and the defaults, validated once. */
import { Type } from '@sinclair/typebox'
import { DEFAULT_HEARTBEAT_TIMEOUT_MS } from '../fleet-defaults.js'
import { NAME_PATTERN } from '../names.js'
import { DEFAULT_USER_LIMITS } from '../registry/limits.js'
import { DEFAULT_TOKEN_TTL_MS, MAX_TOKEN_TTL_MS } from '../token/index.js'
import { optionsValidator } from '../validate-options.js'
import type { AuthorizeJoin } from './connection.js'
import type { DrainOptions } from './lifecycle.js'
import { DEFAULT_CONNECTION_LIMITS } from './limits.js'
import type { ConnectionLimits } from './limits.js'

export interface SwitchboardSocketOptions {
  /** HMAC secret shared with the registries (at least 16 characters) */
  readonly tokenSecret: string
  /** this server's id: 1-64 of [A-Za-z0-9_.-], unique in the fleet */
  readonly serverId: string
  /** URL clients are given (ws:// or wss://); default: derived from the listening address */
  readonly publicUrl?: string
  /** maximum connections (default 10 000) */
  readonly capacity?: number
  /** heartbeat period, ms (default 1000) */
  readonly heartbeatMs?: number
  /** websocket route path (default /ws) */
  readonly path?: string
  /** consecutive invalid frames before close 4400 (default 10) */
  readonly maxViolations?: number
  /** largest accepted frame, bytes; larger ones close the connection with 1009 (default 65 536) */
  readonly maxPayload?: number
  /** who may join which room (default: anyone, any room) */
  readonly authorizeJoin?: AuthorizeJoin
  /** servers whose heartbeat is older are not offered to clients moved off this one, ms (default 3000) */
  readonly heartbeatTimeoutMs?: number
  /** bearer token for POST /drain; without it the route is not registered */
  readonly adminToken?: string
  /** how a drain proceeds (see DrainOptions for the defaults) */
  readonly drain?: DrainOptions
  /** lifetime of the connect tokens a drain gives the clients it moves, ms (default 30 000 like the registry's, at most 60 000) */
  readonly tokenTtlMs?: number
  /** browser origins allowed to connect (exact `scheme://host[:port]`); absent = any. Clients that send no Origin (not browsers) are always allowed */
  readonly allowedOrigins?: readonly string[]
  /** connections one user may hold on this server (default 10; the registry caps them fleet-wide too) */
  readonly maxConnectionsPerUser?: number
  /** per-connection limits: frame rate, channels, unsent bytes, ping/pong (see ConnectionLimits; `floodTolerance` defaults to `frameBurst`) */
  readonly limits?: Partial<ConnectionLimits>
}

/** How a drain proceeds unless told otherwise (DRAIN_TIMEOUT_MS is `timeoutMs`). */
export const DRAIN_DEFAULTS = Object.freeze({ batchSize: 50, intervalMs: 100, timeoutMs: 30_000 })

/** The socket plugin's defaults, used by the plugin and by the environment schema (servers/config.ts) alike. */
export const SOCKET_DEFAULTS = Object.freeze({
  capacity: 10_000,
  heartbeatMs: 1000,
  path: '/ws',
  maxViolations: 10,
  maxPayload: 65_536,
  heartbeatTimeoutMs: DEFAULT_HEARTBEAT_TIMEOUT_MS,
  maxConnectionsPerUser: DEFAULT_USER_LIMITS.maxConnections,
  tokenTtlMs: DEFAULT_TOKEN_TTL_MS,
  drain: DRAIN_DEFAULTS,
  limits: DEFAULT_CONNECTION_LIMITS
})

const Options = Type.Object({
  tokenSecret: Type.String({ minLength: 16 }),
  serverId: Type.String({ pattern: NAME_PATTERN }),
  publicUrl: Type.Optional(Type.String({ pattern: '^wss?://[^\\s]+$' })),
  capacity: Type.Integer({ minimum: 1 }),
  heartbeatMs: Type.Integer({ minimum: 50 }),
  path: Type.String({ pattern: '^/[^\\s?#]*$' }),
  maxViolations: Type.Integer({ minimum: 1 }),
  maxPayload: Type.Integer({ minimum: 256, maximum: 100 * 1024 * 1024 }),
  heartbeatTimeoutMs: Type.Integer({ minimum: 100 }),
  adminToken: Type.Optional(Type.String({ minLength: 16 })),
  allowedOrigins: Type.Optional(Type.Array(Type.String({ pattern: '^https?://[^/\\s]+$' }))),
  maxConnectionsPerUser: Type.Integer({ minimum: 1 }),
  tokenTtlMs: Type.Integer({ minimum: 1000, maximum: MAX_TOKEN_TTL_MS }),
  drain: Type.Object({
    batchSize: Type.Integer({ minimum: 1 }),
    intervalMs: Type.Integer({ minimum: 0 }),
    timeoutMs: Type.Integer({ minimum: 0 })
  }),
  limits: Type.Object({
    frameRate: Type.Number({ exclusiveMinimum: 0 }),
    frameBurst: Type.Integer({ minimum: 1 }),
    floodTolerance: Type.Integer({ minimum: 1 }),
    maxChannels: Type.Integer({ minimum: 1 }),
    maxBufferedBytes: Type.Integer({ minimum: 1024 }),
    pingIntervalMs: Type.Integer({ minimum: 10 }),
    pingTimeoutMs: Type.Integer({ minimum: 10 })
  })
})
const validate = optionsValidator('switchboard-socket', Options)

/** The options as the socket plugin runs with them, every default applied. */
export function resolveSocketOptions (options: SwitchboardSocketOptions) {
  const frameBurst = options.limits?.frameBurst ?? SOCKET_DEFAULTS.limits.frameBurst
  return validate({
    tokenSecret: options.tokenSecret,
    serverId: options.serverId,
    ...(options.publicUrl !== undefined ? { publicUrl: options.publicUrl } : {}),
    capacity: options.capacity ?? SOCKET_DEFAULTS.capacity,
    heartbeatMs: options.heartbeatMs ?? SOCKET_DEFAULTS.heartbeatMs,
    path: options.path ?? SOCKET_DEFAULTS.path,
    maxViolations: options.maxViolations ?? SOCKET_DEFAULTS.maxViolations,
    maxPayload: options.maxPayload ?? SOCKET_DEFAULTS.maxPayload,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? SOCKET_DEFAULTS.heartbeatTimeoutMs,
    ...(options.adminToken !== undefined ? { adminToken: options.adminToken } : {}),
    ...(options.allowedOrigins !== undefined ? { allowedOrigins: [...options.allowedOrigins] } : {}),
    maxConnectionsPerUser: options.maxConnectionsPerUser ?? SOCKET_DEFAULTS.maxConnectionsPerUser,
    tokenTtlMs: options.tokenTtlMs ?? SOCKET_DEFAULTS.tokenTtlMs,
    drain: { ...SOCKET_DEFAULTS.drain, ...options.drain },
    // A connection may be refused as many frames in a row as it may send in a burst before it is closed.
    limits: { ...SOCKET_DEFAULTS.limits, floodTolerance: frameBurst, ...options.limits }
  })
}

export type ResolvedSocketOptions = ReturnType<typeof resolveSocketOptions>
