/** What a health checker tells the admin dashboard through switchboard-beacon. */
import type { BeaconDetails } from '../beacon/index.js'
import type { SwitchboardHealth } from './index.js'

export function healthDetails (health: SwitchboardHealth): () => BeaconDetails {
  return () => ({
    evictions: health.evictions,
    // An age rather than a time: the dashboard adds the announcement's own age on the store's clock, so clocks never need to agree.
    lastSweepAgoMs: health.lastSweepAt === null ? null : Date.now() - health.lastSweepAt,
    sweepIntervalMs: health.intervalMs,
    heartbeatTimeoutMs: health.heartbeatTimeoutMs
  })
}
