/**
 * The one error registry. Every error Switchboard raises or answers with is
 * listed here: HTTP errors are @fastify/error classes (code `SB_ERR_*`, status
 * code), and each carries the public code that appears on the wire, in HTTP
 * bodies (`{"code":"NO_CAPACITY"}`) and in websocket `error` frames.
 */
import createError from '@fastify/error'

/** Codes a client may see in a websocket `error` frame. */
export const FrameErrorCodes = {
  INVALID_JSON: 'INVALID_JSON',
  INVALID_FRAME: 'INVALID_FRAME',
  UNKNOWN_TYPE: 'UNKNOWN_TYPE',
  INVALID_CHANNEL: 'INVALID_CHANNEL',
  FORBIDDEN: 'FORBIDDEN',
  UNAVAILABLE: 'UNAVAILABLE',
  RATE_LIMITED: 'RATE_LIMITED',
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  QUOTA_EXCEEDED: 'QUOTA_EXCEEDED',
  NOT_FOUND: 'NOT_FOUND'
} as const
export type FrameErrorCode = typeof FrameErrorCodes[keyof typeof FrameErrorCodes]

/** Websocket close codes (documented in docs/protocol.md). */
export const CloseCode = {
  GOING_AWAY: 1001,
  RELAY_INTERRUPTED: 1012,
  FRAME_TOO_LARGE: 1009,
  INTERNAL: 1011,
  BAD_TOKEN: 4001,
  ORIGIN_NOT_ALLOWED: 4003,
  RATE_LIMITED: 4008,
  SLOW_CONSUMER: 4009,
  PROTOCOL_VIOLATIONS: 4400
} as const

export const NoCapacityError = createError('SB_ERR_NO_CAPACITY', 'No live socket server has room; retry later', 503)
export const UnauthorizedError = createError('SB_ERR_UNAUTHORIZED', 'Not authenticated: %s', 401)
export const BadTokenError = createError('SB_ERR_BAD_TOKEN', 'Connect token refused: %s', 401)
export const RateLimitedError = createError('SB_ERR_RATE_LIMITED', 'Too many requests; retry in %s', 429)
export const OriginNotAllowedError = createError('SB_ERR_ORIGIN_NOT_ALLOWED', 'Origin %s is not allowed to connect', 403)
export const TooManyConnectionsError = createError('SB_ERR_TOO_MANY_CONNECTIONS', 'This user already has %s connections on this server', 429)
export const TooManyAllocationsError = createError('SB_ERR_TOO_MANY_ALLOCATIONS',
  'This user already holds %s connections and unused allocations across the fleet; close one, or wait for an unused allocation to expire', 429)
export const ShuttingDownError = createError('SB_ERR_SHUTTING_DOWN', 'This server is shutting down; allocate again', 503)
export const StoreUnavailableError = createError('SB_ERR_STORE_UNAVAILABLE', 'The store (Redis) did not answer: %s', 503)
export const AdminDisabledError = createError('SB_ERR_ADMIN_DISABLED', 'The admin dashboard is off: set ADMIN_TOKEN to enable it', 404)
export const UnknownServerError = createError('SB_ERR_UNKNOWN_SERVER', 'No socket server %s in the fleet', 404)

/** Configuration errors are thrown at start, before anything listens. */
export const InvalidOptionsError = createError('SB_ERR_INVALID_OPTIONS', 'Invalid options for %s: %s')
export const InvalidConfigError = createError('SB_ERR_INVALID_CONFIG', 'Invalid configuration:\n%s')

/** The public code for an SB_ERR_* code: `SB_ERR_NO_CAPACITY` → `NO_CAPACITY`. */
export function publicCode (code: string): string {
  return code.startsWith('SB_ERR_') ? code.slice('SB_ERR_'.length) : code
}
