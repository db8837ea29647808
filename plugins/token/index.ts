/**
 * Connect tokens: HMAC-SHA256 signed, short-lived, naming the user and the one
 * socket server they are for. Format: `v1.<base64url(json)>.<base64url(mac)>`.
 * Tokens are bearer secrets: never log them.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto'

export const MAX_TOKEN_TTL_MS = 60_000
/** How long a connect token lives unless told otherwise: the registry's, and a draining socket server's for the clients it moves. */
export const DEFAULT_TOKEN_TTL_MS = 30_000

export interface ConnectClaims {
  /** user id */
  readonly user: string
  /** socket server id the token is valid on */
  readonly server: string
  /** expiry, ms since epoch */
  readonly expiresAt: number
  /** random id, unique per token */
  readonly nonce: string
}

export type VerifyResult =
  | { readonly ok: true, readonly claims: ConnectClaims }
  | { readonly ok: false, readonly reason: 'malformed' | 'signature' | 'expired' | 'wrong-server' }

/** A unique, unguessable id: randomUUID draws from a cached entropy pool, far cheaper per call than randomBytes. */
export function newNonce (): string {
  return randomUUID()
}

export class TokenSigner {
  readonly #key: Buffer

  constructor (secret: string) {
    if (secret.length < 16) throw new Error('token secret must be at least 16 characters')
    this.#key = Buffer.from(secret)
  }

  sign (user: string, server: string, ttlMs: number, now = Date.now(), nonce = newNonce()): { token: string, claims: ConnectClaims } {
    const claims: ConnectClaims = { user, server, expiresAt: now + Math.min(ttlMs, MAX_TOKEN_TTL_MS), nonce }
    const body = Buffer.from(JSON.stringify([claims.user, claims.server, claims.expiresAt, claims.nonce])).toString('base64url')
    return { token: `v1.${body}.${this.#mac(body)}`, claims }
  }

  verify (token: string, server: string, now = Date.now()): VerifyResult {
    const parts = token.split('.')
    if (parts.length !== 3 || parts[0] !== 'v1') return { ok: false, reason: 'malformed' }
    const [, body = '', mac = ''] = parts
    const expected = Buffer.from(this.#mac(body))
    const given = Buffer.from(mac)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature' }
    let decoded: unknown
    try {
      decoded = JSON.parse(Buffer.from(body, 'base64url').toString())
    } catch {
      return { ok: false, reason: 'malformed' }
    }
    if (!Array.isArray(decoded) || decoded.length !== 4) return { ok: false, reason: 'malformed' }
    const [user, tokenServer, expiresAt, nonce] = decoded as unknown[]
    if (typeof user !== 'string' || typeof tokenServer !== 'string' || typeof expiresAt !== 'number' || typeof nonce !== 'string') {
      return { ok: false, reason: 'malformed' }
    }
    if (expiresAt <= now) return { ok: false, reason: 'expired' }
    if (tokenServer !== server) return { ok: false, reason: 'wrong-server' }
    return { ok: true, claims: { user, server: tokenServer, expiresAt, nonce } }
  }

  #mac (body: string): string {
    return createHmac('sha256', this.#key).update(body).digest('base64url')
  }
}
