/** Log hygiene: connect tokens are bearer secrets and never reach a log line. */
import type { FastifyRequest } from 'fastify'

const TOKEN_PARAM = /([?&]token=)[^&#]*/g

export function redactUrl (url: string): string {
  return url.replace(TOKEN_PARAM, '$1[REDACTED]')
}

/** A pino `req` serializer that keeps the usual fields and redacts tokens in the URL. */
export function requestSerializer (request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort
  }
}
