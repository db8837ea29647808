/**
 * The error registry: every HTTP error has an SB_ERR_ code, a status and a
 * message; public codes are the code without its prefix.
 */
import t from 'tap'
import * as errors from '../plugins/errors.js'

t.test('each registered error has a code, a status code and a message', async (t) => {
  const expected: Record<string, [string, number | undefined]> = {
    NoCapacityError: ['SB_ERR_NO_CAPACITY', 503],
    UnauthorizedError: ['SB_ERR_UNAUTHORIZED', 401],
    BadTokenError: ['SB_ERR_BAD_TOKEN', 401],
    ShuttingDownError: ['SB_ERR_SHUTTING_DOWN', 503],
    OriginNotAllowedError: ['SB_ERR_ORIGIN_NOT_ALLOWED', 403],
    RateLimitedError: ['SB_ERR_RATE_LIMITED', 429],
    TooManyConnectionsError: ['SB_ERR_TOO_MANY_CONNECTIONS', 429],
    TooManyAllocationsError: ['SB_ERR_TOO_MANY_ALLOCATIONS', 429],
    StoreUnavailableError: ['SB_ERR_STORE_UNAVAILABLE', 503],
    AdminDisabledError: ['SB_ERR_ADMIN_DISABLED', 404],
    UnknownServerError: ['SB_ERR_UNKNOWN_SERVER', 404],
    InvalidOptionsError: ['SB_ERR_INVALID_OPTIONS', 500],
    InvalidConfigError: ['SB_ERR_INVALID_CONFIG', 500]
  }
  const registered = Object.entries(errors).filter(([name]) => name.endsWith('Error'))
  t.same(registered.map(([name]) => name).sort(), Object.keys(expected).sort(), 'the registry lists exactly these')
  for (const [name, Make] of registered) {
    const [code, status] = expected[name] ?? []
    const err = new (Make as new (...args: string[]) => Error & { code: string, statusCode?: number })('detail', 'more')
    t.ok(err instanceof Error, name)
    t.equal(err.code, code, `${name} code`)
    t.equal(err.statusCode, status, `${name} status`)
    t.ok(err.message.length > 0, `${name} message`)
    t.match(errors.publicCode(err.code), /^[A-Z_]+$/)
  }
  t.equal(errors.publicCode('SB_ERR_NO_CAPACITY'), 'NO_CAPACITY')
})

t.test('frame error codes and close codes are the documented ones', async (t) => {
  t.same(Object.values(errors.FrameErrorCodes).sort(), ['FORBIDDEN', 'INVALID_CHANNEL', 'INVALID_FRAME', 'INVALID_JSON', 'LIMIT_EXCEEDED', 'NOT_FOUND', 'QUOTA_EXCEEDED', 'RATE_LIMITED', 'UNAVAILABLE', 'UNKNOWN_TYPE'])
  t.same(errors.CloseCode, {
    GOING_AWAY: 1001,
    RELAY_INTERRUPTED: 1012,
    FRAME_TOO_LARGE: 1009,
    INTERNAL: 1011,
    BAD_TOKEN: 4001,
    ORIGIN_NOT_ALLOWED: 4003,
    RATE_LIMITED: 4008,
    SLOW_CONSUMER: 4009,
    PROTOCOL_VIOLATIONS: 4400
  })
})
