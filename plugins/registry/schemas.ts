/** Request and response schemas of the registry HTTP API. */
import { Type } from '@sinclair/typebox'
import { NAME_PATTERN } from '../names.js'

export const ErrorBody = Type.Object({
  code: Type.String({ description: 'public error code, e.g. NO_CAPACITY' }),
  message: Type.String()
})

export const AllocateQuery = Type.Object({
  user: Type.Optional(Type.String({ description: 'dev auth mode only' })),
  avoid: Type.Optional(Type.String({
    pattern: NAME_PATTERN, description: 'a server id to offer only if no other has room: the one the client just lost or could not reach'
  }))
})

export const Allocation = Type.Object({
  url: Type.String({ description: 'websocket URL of the chosen socket server' }),
  // base64url and dots only, so the serializer need not look for characters to escape
  token: Type.String({ format: 'unsafe', description: 'connect token: open {url}?token={token}' }),
  server: Type.String(),
  expiresAt: Type.Integer({ description: 'token expiry, ms since epoch' })
})

export const ServerView = Type.Object({
  id: Type.String(),
  url: Type.String(),
  load: Type.Number(),
  capacity: Type.Integer(),
  draining: Type.Boolean(),
  alive: Type.Boolean(),
  lastHeartbeat: Type.Union([Type.Integer(), Type.Null()]),
  startedAt: Type.Integer()
})

export const ServersBody = Type.Object({ servers: Type.Array(ServerView) })

export const HealthBody = Type.Object({ status: Type.Literal('ok') })
