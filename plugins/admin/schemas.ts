/** Response schemas of the admin API (GET /admin/api/fleet, POST /admin/api/servers/:id/drain). */
import { Type } from '@sinclair/typebox'
import type { Static } from '@sinclair/typebox'
import { NAME_PATTERN } from '../names.js'

const Age = Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'ms, on the store clock; null when never seen' })

export const AdminServer = Type.Object({
  id: Type.String(),
  url: Type.String(),
  /** open connections (and upgrades under way) at its last heartbeat */
  connections: Type.Integer(),
  /** what allocation counts: connections plus unclaimed reservations */
  load: Type.Number(),
  capacity: Type.Integer(),
  alive: Type.Boolean(),
  draining: Type.Boolean(),
  drainRequested: Type.Boolean(),
  heartbeatAgeMs: Age,
  messagesPerSecond: Type.Union([Type.Number(), Type.Null()]),
  startedAt: Type.Integer()
})

const Details = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Null()]))

export const AdminComponent = Type.Object({
  id: Type.String(),
  alive: Type.Boolean(),
  lastSeenAgeMs: Type.Integer({ minimum: 0 }),
  startedAt: Type.Integer(),
  details: Details
})

export const AdminHealthChecker = Type.Object({
  ...AdminComponent.properties,
  evictions: Type.Union([Type.Integer(), Type.Null()]),
  lastSweepAgeMs: Age
})

export const FleetBody = Type.Object({
  /** the store's clock when this was read, ms since epoch */
  now: Type.Integer(),
  heartbeatTimeoutMs: Type.Integer(),
  totals: Type.Object({ connections: Type.Integer(), capacity: Type.Integer(), messagesPerSecond: Type.Number() }),
  servers: Type.Array(AdminServer),
  registries: Type.Array(AdminComponent),
  health: Type.Array(AdminHealthChecker)
})
export type FleetView = Static<typeof FleetBody>

export const ServerParams = Type.Object({ id: Type.String({ pattern: NAME_PATTERN }) })

export const DrainBody = Type.Object({
  server: Type.String(),
  status: Type.Literal('requested'),
  message: Type.String()
})
