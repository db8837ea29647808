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
import { Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { FastifyInstance } from 'fastify'
import { InvalidOptionsError } from '../errors.js'
import { forgetServer } from './forget.js'

export interface SwitchboardHealthOptions {
  /** how often to look, ms (default 1000) */
  readonly intervalMs?: number
  /** a server whose heartbeat is older is evicted, ms (default 3000) */
  readonly heartbeatTimeoutMs?: number
}

export interface SwitchboardHealth {
  /** Runs one sweep now; resolves with the ids it evicted. */
  sweep (): Promise<string[]>
  /** evictions since start */
  readonly evictions: number
  /** when the last sweep finished (ms since epoch), null before the first */
  readonly lastSweepAt: number | null
}

declare module 'fastify' {
  interface FastifyInstance {
    switchboardHealth: SwitchboardHealth
  }
}

const checkOptions = TypeCompiler.Compile(Type.Object({
  intervalMs: Type.Integer({ minimum: 10 }),
  heartbeatTimeoutMs: Type.Integer({ minimum: 100 })
}))

async function switchboardHealth (fastify: FastifyInstance, options: SwitchboardHealthOptions): Promise<void> {
  const config = { intervalMs: options.intervalMs ?? 1000, heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 3000 }
  const error = checkOptions.Errors(config).First()
  if (error !== undefined) throw new InvalidOptionsError('switchboard-health', `${error.path.slice(1)} ${error.message}`)
  const store = fastify.switchboardStore
  const log = fastify.log.child({ component: 'health' })
  const evictionCounter = fastify.hasDecorator('switchboardMetrics') ? fastify.switchboardMetrics.evictions : undefined
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
      evictionCounter?.inc()
      const entries = await forgetServer(store, server)
      log.warn({ server, timeoutMs: config.heartbeatTimeoutMs, presenceEntries: entries }, 'evicted socket server: no heartbeat within the timeout')
    }
    lastSweepAt = Date.now()
    return evicted
  }

  fastify.decorate('switchboardHealth', {
    sweep,
    get evictions () { return evictions },
    get lastSweepAt () { return lastSweepAt }
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
  dependencies: ['switchboard-store']
})
export default healthPlugin
