/**
 * The fleet as the dashboard shows it: socket servers, registries and health
 * checkers, with ages on the store's clock (every process writes its times
 * with it, so machines' clocks never need to agree).
 */
import { BEACON_DEFAULTS } from '../beacon/index.js'
import type { ComponentStatus, Store } from '../store/types.js'
import type { FleetView } from './schemas.js'

type Component = FleetView['registries'][number]

/** A registry or health checker is live while it announced within 3 of its periods (and never sooner than the heartbeat timeout). */
function component (status: ComponentStatus, now: number, heartbeatTimeoutMs: number): Component {
  const age = Math.max(0, now - status.lastSeen)
  const interval = typeof status.details.intervalMs === 'number' ? status.details.intervalMs : BEACON_DEFAULTS.intervalMs
  return { id: status.id, alive: age <= Math.max(3 * interval, heartbeatTimeoutMs), lastSeenAgeMs: age, startedAt: status.startedAt, details: { ...status.details } }
}

const numberOr = (value: unknown, fallback: number | null): number | null => typeof value === 'number' && Number.isFinite(value) ? value : fallback

export async function readFleet (store: Store, heartbeatTimeoutMs: number): Promise<FleetView> {
  const [now, listed, registries, health] = await Promise.all([
    store.clock(), store.listServers(), store.components('registry'), store.components('health')
  ])
  const servers = listed.map((s) => {
    const heartbeatAgeMs = s.lastHeartbeat === null ? null : Math.max(0, now - s.lastHeartbeat)
    return {
      id: s.id,
      url: s.url,
      connections: s.connections ?? Math.max(0, Math.round(s.load)),
      load: s.load,
      capacity: s.capacity,
      alive: heartbeatAgeMs !== null && heartbeatAgeMs <= heartbeatTimeoutMs,
      draining: s.draining,
      drainRequested: s.drainRequested ?? false,
      heartbeatAgeMs,
      messagesPerSecond: s.messagesPerSecond ?? null,
      startedAt: s.startedAt
    }
  }).sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  const live = servers.filter((s) => s.alive)
  return {
    now,
    heartbeatTimeoutMs,
    totals: {
      connections: live.reduce((sum, s) => sum + s.connections, 0),
      capacity: live.reduce((sum, s) => sum + s.capacity, 0),
      messagesPerSecond: Math.round(live.reduce((sum, s) => sum + (s.messagesPerSecond ?? 0), 0) * 10) / 10
    },
    servers,
    registries: registries.map((r) => component(r, now, heartbeatTimeoutMs)),
    health: health.map((h) => {
      const view = component(h, now, heartbeatTimeoutMs)
      // The checker measured its sweep's age when it announced; it has aged since by the announcement's own age.
      const sweptAgo = numberOr(h.details.lastSweepAgoMs, null)
      return { ...view, evictions: numberOr(h.details.evictions, null), lastSweepAgeMs: sweptAgo === null ? null : Math.round(sweptAgo + view.lastSeenAgeMs) }
    })
  }
}
