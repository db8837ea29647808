/**
 * The JSON error body of every Switchboard route: `{ code, message }` with the
 * public code from the error registry. Registered inside each plugin's own
 * encapsulated route context, so a host application's error handler is never
 * replaced.
 */
import type { FastifyError, FastifyInstance } from 'fastify'
import { publicCode } from './errors.js'

export function useJsonErrors (fastify: FastifyInstance): void {
  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation !== undefined) {
      return reply.code(400).send({ code: 'BAD_REQUEST', message: error.message })
    }
    const status = error.statusCode ?? 500
    if (status >= 500 && error.code?.startsWith('SB_ERR_') !== true) {
      request.log.error({ err: error }, 'request failed')
      return reply.code(500).send({ code: 'INTERNAL', message: 'internal error' })
    }
    return reply.code(status).send({ code: publicCode(error.code ?? 'INTERNAL'), message: error.message })
  })
}
