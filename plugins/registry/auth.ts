/**
 * Identity for `/allocate`. The registry asks an `authenticate(request)`
 * function who is calling; it returns a user id or throws UnauthorizedError.
 * Built in: `dev` (`?user=alice`, demos and tests only) and `jwt` (a bearer
 * token from the host application's identity provider; `sub` is the user).
 */
import { createVerifier } from 'fast-jwt'
import type { FastifyRequest } from 'fastify'
import { UnauthorizedError } from '../errors.js'
import { isName } from '../names.js'

export type Authenticate = (request: FastifyRequest) => string | Promise<string>

export type AuthOptions =
  | { readonly mode: 'dev' }
  | { readonly mode: 'jwt', readonly secret: string, readonly issuer?: string, readonly audience?: string }

export function devAuthenticate (request: FastifyRequest): string {
  const user = (request.query as { user?: unknown }).user
  if (typeof user !== 'string' || user === '') throw new UnauthorizedError('dev mode needs ?user=<id>')
  if (!isName(user)) throw new UnauthorizedError('user id must be 1-64 characters of [A-Za-z0-9_.-]')
  return user
}

export function jwtAuthenticate (options: { secret: string, issuer?: string, audience?: string }): Authenticate {
  const verify = createVerifier({
    key: options.secret,
    algorithms: ['HS256', 'HS384', 'HS512'],
    ...(options.issuer !== undefined ? { allowedIss: options.issuer } : {}),
    ...(options.audience !== undefined ? { allowedAud: options.audience } : {})
  })
  return (request) => {
    const header = request.headers.authorization
    if (header === undefined || !header.startsWith('Bearer ')) throw new UnauthorizedError('expected Authorization: Bearer <jwt>')
    let claims: { sub?: unknown }
    try {
      claims = verify(header.slice('Bearer '.length).trim()) as { sub?: unknown }
    } catch (err) {
      throw new UnauthorizedError(`invalid bearer token (${(err as { code?: string }).code ?? 'invalid'})`)
    }
    if (typeof claims.sub !== 'string' || !isName(claims.sub)) throw new UnauthorizedError('token sub must be 1-64 characters of [A-Za-z0-9_.-]')
    return claims.sub
  }
}

export function authenticator (options: AuthOptions): Authenticate {
  return options.mode === 'dev' ? devAuthenticate : jwtAuthenticate(options)
}
