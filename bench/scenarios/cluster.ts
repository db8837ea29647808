/**
 * `relay` and `fanout` with `--redis cluster`: Switchboard on one Redis
 * against Switchboard on a 3-shard Redis Cluster (sharded pub/sub), the same
 * clients and servers, alternated over rounds (A B A B …). The peers are left
 * out: this compares Switchboard with itself.
 */
import type { System } from '../lib/clients.js'
import type { Server } from '../lib/proc.js'
import { medians, round } from '../lib/stats.js'
import { startSwitchboard, startSwitchboardOnCluster } from '../lib/systems.js'
import { fanout } from './fanout.js'
import type { FanoutOptions } from './fanout.js'
import { relay } from './relay.js'
import type { RelayOptions, RelayResult } from './relay.js'

export interface ClusterComparison {
  /** on one Redis */
  readonly single: Record<string, number>
  /** on a 3-shard Redis Cluster */
  readonly cluster: Record<string, number>
  /** cluster deliveries per CPU-second over one Redis's */
  readonly ratio: number
  /** every message delivered once on both */
  readonly everyDelivered: boolean
}

type Measure = (system: System & { servers: Server[] }) => Promise<RelayResult>

export async function compareOnCluster (scenario: 'relay' | 'fanout', options: RelayOptions | FanoutOptions, rounds: number,
  progress: (line: string) => void): Promise<ClusterComparison> {
  const sockets = scenario === 'relay' ? 2 : 4
  const measure: Measure = scenario === 'relay'
    ? async (system) => await relay(system, options as RelayOptions, progress)
    : async (system) => await fanout(system, options as FanoutOptions, progress)
  const results: { single: RelayResult[], cluster: RelayResult[] } = { single: [], cluster: [] }
  for (let n = 1; n <= rounds; n++) {
    for (const side of ['single', 'cluster'] as const) {
      progress(`  round ${n}/${rounds}: switchboard on ${side === 'single' ? 'one Redis' : 'a 3-shard Redis Cluster'}`)
      const system = side === 'single' ? await startSwitchboard(sockets) : await startSwitchboardOnCluster(sockets)
      try {
        results[side].push(await measure(system))
      } finally {
        await system.stop()
      }
    }
  }
  const single = medians(results.single)
  const cluster = medians(results.cluster)
  const everyDelivered = [...results.single, ...results.cluster].every((r) => r.delivered === r.expected && r.duplicates === 0)
  return { single, cluster, ratio: round((cluster.deliveriesPerCpuSecond ?? 0) / Math.max(single.deliveriesPerCpuSecond ?? 1, 1), 2), everyDelivered }
}
