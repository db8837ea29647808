/** The health checker's options, their defaults and their check. */
import { Type } from '@sinclair/typebox'
import { DEFAULT_HEARTBEAT_TIMEOUT_MS } from '../fleet-defaults.js'
import { optionsValidator } from '../validate-options.js'

export interface SwitchboardHealthOptions {
  /** how often to look, ms (default 500) */
  readonly intervalMs?: number
  /** a server whose heartbeat is older is evicted, ms (default 3000) */
  readonly heartbeatTimeoutMs?: number
}

/**
 * The health checker's defaults, used by the plugin and by the environment schema (servers/config.ts) alike.
 * A sweep is one cheap script; every 500 ms, a dead server is evicted at most half a second after its timeout.
 */
export const HEALTH_DEFAULTS = Object.freeze({ intervalMs: 500, heartbeatTimeoutMs: DEFAULT_HEARTBEAT_TIMEOUT_MS })

const validate = optionsValidator('switchboard-health', Type.Object({
  intervalMs: Type.Integer({ minimum: 10 }),
  heartbeatTimeoutMs: Type.Integer({ minimum: 100 })
}))

export function resolveHealthOptions (options: SwitchboardHealthOptions) {
  return validate({
    intervalMs: options.intervalMs ?? HEALTH_DEFAULTS.intervalMs,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? HEALTH_DEFAULTS.heartbeatTimeoutMs
  })
}
