/**
 * Identity for `/allocate`. The registry asks an `authenticate(request)`
 * function who is calling; it returns a user id or throws UnauthorizedError.
 * Built in: `dev` (`?user=alice`, demos and tests only) and `jwt` (a bearer
 * token from the host application's identity provider; `sub` is the user),
 * verified with fast-jwt against a shared secret (HS*), a public key (RS*,
 * ES*) or the provider's JWKS. `alg: none` is never accepted.
 * A JWT must say when it expires (`exp`), and not too far ahead: a stolen token
 * is worth what is left of its life, so what is checked is the time from now to
 * `exp` (at most `maxLifetimeMs`), which needs no `iat` and bounds every token
 * however long ago it was issued.
 */
import { createVerifier } from 'fast-jwt'
import type { DecodedJwt } from 'fast-jwt'
import buildGetJwks from 'get-jwks'
import type { FastifyRequest } from 'fastify'
import { UnauthorizedError } from '../errors.js'
import { isName } from '../names.js'

export type Authenticate = (request: FastifyRequest) => string | Promise<string>

export interface JwtOptions {
  /** HMAC secret (HS256/384/512) */
  readonly secret?: string
  /** PEM public key (RS256/384/512, ES256/384/512) */
  readonly publicKey?: string
  /** the provider's JWKS document, e.g. https://id.example.com/.well-known/jwks.json (keys picked by `kid`) */
  readonly jwksUrl?: string
  readonly issuer?: string
  readonly audience?: string
  /** the latest `exp` accepted, as ms from now (default DEFAULT_JWT_MAX_LIFETIME_MS, 24 h) */
  readonly maxLifetimeMs?: number
}

/** The one default of JWT_MAX_LIFETIME_MS / `maxLifetimeMs`: what common identity providers issue (1 h to 24 h) passes. */
export const DEFAULT_JWT_MAX_LIFETIME_MS = 24 * 3600_000

export type AuthOptions =
  | { readonly mode: 'dev' }
  | ({ readonly mode: 'jwt' } & JwtOptions)

export function devAuthenticate (request: FastifyRequest): string {
  const user = (request.query as { user?: unknown }).user
  if (typeof user !== 'string' || user === '') throw new UnauthorizedError('dev mode needs ?user=<id>')
  if (!isName(user)) throw new UnauthorizedError('user id must be 1-64 characters of [A-Za-z0-9_.-]')
  return user
}

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512'] as const

type Verify = (token: string) => unknown

function verifier (options: JwtOptions): Verify {
  const claims = {
    requiredClaims: ['exp'],
    ...(options.issuer !== undefined ? { allowedIss: options.issuer } : {}),
    ...(options.audience !== undefined ? { allowedAud: options.audience } : {})
  }
  if (options.jwksUrl !== undefined) {
    const url = new URL(options.jwksUrl)
    const jwks = buildGetJwks({ jwksPath: url.pathname, providerDiscovery: false, ttl: 10 * 60_000 })
    return createVerifier({
      ...claims,
      algorithms: [...ASYMMETRIC],
      key: async (decoded: DecodedJwt) => await jwks.getPublicKey({ domain: url.origin, alg: decoded.header.alg, kid: decoded.header.kid })
    })
  }
  if (options.publicKey !== undefined) return createVerifier({ ...claims, key: options.publicKey, algorithms: [...ASYMMETRIC] })
  if (options.secret !== undefined) return createVerifier({ ...claims, key: options.secret, algorithms: ['HS256', 'HS384', 'HS512'] })
  throw new Error('jwt mode needs secret, publicKey or jwksUrl')
}

export function jwtAuthenticate (options: JwtOptions): Authenticate {
  const verify = verifier(options)
  const maxLifetimeMs = options.maxLifetimeMs ?? DEFAULT_JWT_MAX_LIFETIME_MS
  return async (request) => {
    const header = request.headers.authorization
    if (header === undefined || !header.startsWith('Bearer ')) throw new UnauthorizedError('expected Authorization: Bearer <jwt>')
    let claims: { sub?: unknown, exp?: unknown }
    try {
      claims = await verify(header.slice('Bearer '.length).trim()) as { sub?: unknown, exp?: unknown }
    } catch (err) {
      const { code = 'invalid', message = '' } = err as { code?: string, message?: string }
      throw new UnauthorizedError(`invalid bearer token (${code}${code === 'FAST_JWT_MISSING_REQUIRED_CLAIM' ? `: ${message}` : ''})`)
    }
    // fast-jwt has checked that exp is there, a number, and not past.
    if (typeof claims.exp !== 'number' || claims.exp * 1000 - Date.now() > maxLifetimeMs) {
      throw new UnauthorizedError(`bearer token lives too long (exp more than ${Math.round(maxLifetimeMs / 1000)} s ahead)`)
    }
    if (typeof claims.sub !== 'string' || !isName(claims.sub)) throw new UnauthorizedError('token sub must be 1-64 characters of [A-Za-z0-9_.-]')
    return claims.sub
  }
}

export function authenticator (options: AuthOptions): Authenticate {
  return options.mode === 'dev' ? devAuthenticate : jwtAuthenticate(options)
}
