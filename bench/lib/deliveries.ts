/**
 * The measured window of a delivery scenario (`relay`, `latency`, `fanout`):
 * wall time and the CPU of the system's processes from the start, and the
 * figures every such scenario reports.
 */
import { performance } from 'node:perf_hooks'
import { cpuMs } from './proc.js'
import { percentile, round } from './stats.js'

export interface DeliveryResult {
  readonly expected: number
  readonly delivered: number
  readonly duplicates: number
  readonly wallMs: number
  readonly serverCpuMs: number
  /** of which Redis */
  readonly redisCpuMs: number
  readonly deliveriesPerCpuSecond: number
  readonly msgsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
}

export interface Counts {
  readonly expected: number
  readonly delivered: number
  readonly duplicates: number
  /** one per delivery, ms */
  readonly latencies: number[]
}

/**
 * Starts the window now. `pids` are every process whose CPU counts (socket
 * servers and Redis); `redisPids` the Redis ones among them (default: the last).
 * The returned function closes the window and computes the figures.
 */
export function startWindow (system: { readonly pids: number[], readonly redisPids?: number[] }): (counts: Counts) => DeliveryResult {
  const cpu = (pids: number[]): number => pids.reduce((sum, pid) => sum + cpuMs(pid), 0)
  const redisPids = system.redisPids ?? [system.pids[system.pids.length - 1] ?? 0]
  const cpuBefore = cpu(system.pids)
  const redisBefore = cpu(redisPids)
  const started = performance.now()
  return ({ expected, delivered, duplicates, latencies }) => {
    const wallMs = performance.now() - started
    const serverCpuMs = cpu(system.pids) - cpuBefore
    const sorted = latencies.sort((x, y) => x - y)
    return {
      expected,
      delivered,
      duplicates,
      wallMs: round(wallMs),
      serverCpuMs: round(serverCpuMs),
      redisCpuMs: round(cpu(redisPids) - redisBefore),
      deliveriesPerCpuSecond: round(delivered / (serverCpuMs / 1000)),
      msgsPerSecond: round(delivered / (wallMs / 1000)),
      p50Ms: round(percentile(sorted, 50), 2),
      p99Ms: round(percentile(sorted, 99), 2)
    }
  }
}
