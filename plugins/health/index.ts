/**
 * switchboard-health: the health checker. Every `intervalMs` it evicts socket
 * servers whose heartbeat is older than `heartbeatTimeoutMs` (from the load
 * set, the alive set, their record and reservations) and forgets their
 * presence. Eviction is one idempotent script, so several checkers can run.
 * (A server whose relay is deaf stops heartbeating itself: see socket/probe.ts.)
 * A full Redis (maxmemory) does not make every heartbeat stale: the fleet scripts
 * run with `allow-oom` (store/scripts.ts). So there is no guard here that stops
 * evicting when every server goes stale at once: it could not tell a dead fleet
 * from a refusing store, and allocation reads the same heartbeats anyway. After
 * an outage of the checker's own Redis, servers get one timeout to heartbeat again.
 */
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { forgetServer } from './forget.js'
import { resolveHealthOptions } from './options.js'
import type { SwitchboardHealthOptions } from './options.js'

export { HEALTH_DEFAULTS, resolveHealthOptions } from './options.js'
export type { SwitchboardHealthOptions } from './options.js'

export interface SwitchboardHealth {
  /** Runs one sweep now; resolves with the ids it evicted. */
  sweep (): Promise<string[]>
  /** evictions since start */
  readonly evictions: number
  /** when the last sweep finished (ms since epoch), null before the first */
  readonly lastSweepAt: number | null
  /** the sweep period it runs with, ms */
  readonly intervalMs: number
  /** the heartbeat timeout it evicts by, ms */
  readonly heartbeatTimeoutMs: number
}

declare module 'fastify' {
  interface FastifyInstance {
    switchboardHealth: SwitchboardHealth
  }
}

async function switchboardHealth (fastify: FastifyInstance, options: SwitchboardHealthOptions): Promise<void> {
  const config = resolveHealthOptions(options)
  const store = fastify.switchboardStore
  const log = fastify.log.child({ component: 'health' })
  const evictionCounter = fastify.switchboardMetrics.evictions
  let evictions = 0
  let lastSweepAt: number | null = null
  let timer: NodeJS.Timeout | undefined
  let running: Promise<string[]> | undefined

  /**
   * Since when the store has answered without a break. After an outage (a
   * Redis failover, say) every server's heartbeat looks stale at once; they
   * get one full timeout to heartbeat again before anyone is evicted.
   */
  let answeringSince = Date.now()
  let failing = false

  const sweep = async (): Promise<string[]> => {
    let evicted: string[]
    try {
      if (failing) await store.ping()
      if (failing) answeringSince = Date.now()
      failing = false
      if (Date.now() - answeringSince < config.heartbeatTimeoutMs) {
        lastSweepAt = Date.now()
        return []
      }
      evicted = await store.evictStale(config.heartbeatTimeoutMs)
    } catch (err) {
      failing = true
      throw err
    }
    for (const server of evicted) {
      evictions++
      evictionCounter.inc()
      const entries = await forgetServer(store, server)
      log.warn({ server, timeoutMs: config.heartbeatTimeoutMs, presenceEntries: entries }, 'evicted socket server: no heartbeat within the timeout')
    }
    lastSweepAt = Date.now()
    return evicted
  }

  fastify.decorate('switchboardHealth', {
    sweep,
    get evictions () { return evictions },
    get lastSweepAt () { return lastSweepAt },
    intervalMs: config.intervalMs,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs
  })

  fastify.addHook('onReady', async () => {
    timer = setInterval(() => {
      if (running !== undefined) return // a slow sweep is not stacked
      running = sweep()
      running.catch((err: unknown) => log.warn({ err }, 'health sweep failed')).finally(() => { running = undefined })
    }, config.intervalMs).unref()
  })
  fastify.addHook('onClose', async () => {
    clearInterval(timer)
    await running?.catch(() => {})
  })
}

export const healthPlugin = fp(switchboardHealth, {
  name: 'switchboard-health',
  fastify: '5.x',
  dependencies: ['switchboard-metrics', 'switchboard-store']
})
export default healthPlugin
