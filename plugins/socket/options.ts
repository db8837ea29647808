/** The socket plugin's options: their types, their schema, and the defaults, validated once. */
import { Type } from '@sinclair/typebox'
import type { Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { InvalidOptionsError } from '../errors.js'
import { NAME_PATTERN } from '../names.js'
import type { AuthorizeJoin } from './connection.js'
import type { DrainOptions } from './lifecycle.js'
import { DEFAULT_CONNECTION_LIMITS } from './limits.js'
import { DEFAULT_USER_LIMITS } from '../registry/limits.js'
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
  /** how a drain proceeds */
  readonly drain?: DrainOptions
  /** browser origins allowed to connect (exact `scheme://host[:port]`); absent = any. Clients that send no Origin (not browsers) are always allowed */
  readonly allowedOrigins?: readonly string[]
  /** connections one user may hold on this server (default 10; the registry caps them fleet-wide too) */
  readonly maxConnectionsPerUser?: number
  /** per-connection limits: frame rate, channels, unsent bytes, ping/pong (see ConnectionLimits) */
  readonly limits?: Partial<ConnectionLimits>
}

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
const checkOptions = TypeCompiler.Compile(Options)

export type ResolvedSocketOptions = Readonly<Static<typeof Options>>

export function resolveSocketOptions (options: SwitchboardSocketOptions): ResolvedSocketOptions {
  const resolved = {
    tokenSecret: options.tokenSecret,
    serverId: options.serverId,
    ...(options.publicUrl !== undefined ? { publicUrl: options.publicUrl } : {}),
    capacity: options.capacity ?? 10_000,
    heartbeatMs: options.heartbeatMs ?? 1000,
    path: options.path ?? '/ws',
    maxViolations: options.maxViolations ?? 10,
    maxPayload: options.maxPayload ?? 65_536,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 3000,
    ...(options.adminToken !== undefined ? { adminToken: options.adminToken } : {}),
    ...(options.allowedOrigins !== undefined ? { allowedOrigins: [...options.allowedOrigins] } : {}),
    maxConnectionsPerUser: options.maxConnectionsPerUser ?? DEFAULT_USER_LIMITS.maxConnections,
    limits: { ...DEFAULT_CONNECTION_LIMITS, ...options.limits }
  }
  const error = checkOptions.Errors(resolved).First()
  if (error !== undefined) throw new InvalidOptionsError('switchboard-socket', `${error.path.slice(1)} ${error.message}`)
  return Object.freeze(resolved)
}
