/**
 * switchboard-beacon: a registry or a health checker tells the fleet it is
 * alive, so the admin dashboard can list it. From `onReady`, every
 * `intervalMs`, it announces itself in the store (last seen on the store's
 * clock, and a few details); it is forgotten `ttlMs` after its last
 * announcement, and at once when it closes cleanly.
 */
import fp from 'fastify-plugin'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { hostname } from 'node:os'
import type { AddressInfo } from 'node:net'
import { InvalidOptionsError } from '../errors.js'
import { NAME_PATTERN } from '../names.js'
import { optionsValidator } from '../validate-options.js'
import type { ComponentRecord, ComponentRole } from '../store/types.js'

export type BeaconDetails = Record<string, string | number | null>

export interface SwitchboardBeaconOptions {
  readonly role: ComponentRole
  /** unique within its role, 1-64 of [A-Za-z0-9_.-] (default `<hostname>-<pid>`) */
  readonly id?: string
  /** announcement period, ms (default 1000) */
  readonly intervalMs?: number
  /** forgotten this long after its last announcement, ms (default 60 000: a dead one shows as stale meanwhile) */
  readonly ttlMs?: number
  /** more facts to show, read at each announcement */
  readonly details?: () => BeaconDetails
}

export interface SwitchboardBeacon {
  readonly role: ComponentRole
  readonly id: string
  /** announce now (also done every intervalMs) */
  announce (): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    switchboardBeacon: SwitchboardBeacon
  }
}

/** The beacon's defaults (it has no environment variables; the dashboard reads `intervalMs` from each announcement). */
export const BEACON_DEFAULTS = Object.freeze({ intervalMs: 1000, ttlMs: 60_000 })

const validate = optionsValidator('switchboard-beacon', Type.Object({
  role: Type.Union([Type.Literal('registry'), Type.Literal('health')]),
  id: Type.String({ pattern: NAME_PATTERN }),
  intervalMs: Type.Integer({ minimum: 50 }),
  ttlMs: Type.Integer({ minimum: 1000 })
}))

function listeningOn (fastify: FastifyInstance): string | null {
  const address = fastify.server.address() as AddressInfo | string | null
  if (address === null) return null
  return typeof address === 'string' ? address : `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
}

async function switchboardBeacon (fastify: FastifyInstance, options: SwitchboardBeaconOptions): Promise<void> {
  const config = validate({
    role: options.role,
    id: options.id ?? `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64),
    intervalMs: options.intervalMs ?? BEACON_DEFAULTS.intervalMs,
    ttlMs: options.ttlMs ?? BEACON_DEFAULTS.ttlMs
  })
  if (options.details !== undefined && typeof options.details !== 'function') throw new InvalidOptionsError('switchboard-beacon', 'details must be a function')
  const store = fastify.switchboardStore
  const log = fastify.log.child({ component: 'beacon' })
  const startedAt = Date.now()
  let timer: NodeJS.Timeout | undefined
  let pending: Promise<void> | undefined

  const record = (): ComponentRecord => ({
    role: config.role,
    id: config.id,
    startedAt,
    details: { host: hostname(), pid: process.pid, address: listeningOn(fastify), intervalMs: config.intervalMs, ...options.details?.() }
  })
  const announce = async (): Promise<void> => { await store.announce(record(), config.ttlMs) }

  fastify.decorate('switchboardBeacon', { role: config.role, id: config.id, announce })

  fastify.addHook('onReady', async () => {
    await announce().catch((err: unknown) => log.warn({ err }, 'could not announce this component'))
    timer = setInterval(() => {
      if (pending !== undefined) return // a slow store is not stacked up
      pending = announce()
        .catch((err: unknown) => log.warn({ err }, 'could not announce this component'))
        .finally(() => { pending = undefined })
    }, config.intervalMs).unref()
  })
  fastify.addHook('onClose', async () => {
    clearInterval(timer)
    await pending
    await store.retire(config.role, config.id).catch((err: unknown) => log.warn({ err }, 'could not retire this component; it is forgotten after its ttl'))
  })
}

export const beaconPlugin = fp(switchboardBeacon, {
  name: 'switchboard-beacon',
  fastify: '5.x',
  dependencies: ['switchboard-store']
})
export default beaconPlugin
