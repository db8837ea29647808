/**
 * `connect`: what it costs the servers to let a client in. N clients connect,
 * K at a time, spread over two socket servers, each its own user: for
 * Switchboard GET /allocate on the registry, the websocket upgrade with the
 * connect token, and the welcome (personal channel subscribed, rooms listed,
 * presence recorded); for Socket.IO its websocket transport with `auth`, and
 * the server joining the socket to the user's room. Counts connections per
 * CPU-second of every server process (Switchboard's registry included) and
 * Redis, over the connect window only (clients already connected do not count).
 */
import { performance } from 'node:perf_hooks'
import type { BenchClient, System } from '../lib/clients.js'
import { cpuMs } from '../lib/proc.js'
import { round } from '../lib/stats.js'

export interface ConnectOptions {
  readonly clients: number
  /** connections being set up at once */
  readonly inFlight: number
  /** clients connected (and closed) before the window, so that JIT warm-up is not measured */
  readonly warmup: number
  readonly timeoutMs: number
}

export interface ConnectResult {
  readonly clients: number
  readonly connected: number
  /** clients that did not get in (an error, or none by the timeout) */
  readonly failed: number
  /** how many socket servers the clients ended up on (2 when spread) */
  readonly serversUsed: number
  readonly wallMs: number
  readonly serverCpuMs: number
  readonly redisCpuMs: number
  /** of which the registry (Switchboard) */
  readonly registryCpuMs: number
  readonly connectsPerCpuSecond: number
  readonly connectsPerSecond: number
}

/** Connects `count` users `${prefix}${n}`, `inFlight` at a time; failures are counted by message in `errors`, not thrown. */
async function connectMany (system: System, prefix: string, count: number, inFlight: number, clients: BenchClient[], errors: Map<string, number>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, async () => {
    while (next < count) {
      const n = next++
      try {
        clients.push(await system.connect(`${prefix}${n}`, n % 2))
      } catch (err) {
        const key = (err as Error).message.slice(0, 80)
        errors.set(key, (errors.get(key) ?? 0) + 1)
      }
    }
  }))
}

/** `system.pids`: every process whose CPU counts; the Redis one is the last. `registryPid`: Switchboard's registry, counted too. */
export async function connect (system: System, options: ConnectOptions, progress: (line: string) => void = () => {}, registryPid?: number): Promise<ConnectResult> {
  const clients: BenchClient[] = []
  const errors = new Map<string, number>()
  try {
    const warm: BenchClient[] = []
    try {
      await connectMany(system, 'warm', options.warmup, options.inFlight, warm, errors)
    } finally {
      for (const c of warm) c.close()
    }
    const cpu = (pids: number[]): number => pids.reduce((sum, pid) => sum + cpuMs(pid), 0)
    const redisPid = system.pids[system.pids.length - 1] ?? 0
    const pids = registryPid === undefined ? system.pids : [registryPid, ...system.pids]
    const registry = (): number => registryPid === undefined ? 0 : cpuMs(registryPid)
    const cpuBefore = cpu(pids)
    const redisBefore = cpuMs(redisPid)
    const registryBefore = registry()
    const started = performance.now()
    const ticker = setInterval(() => progress(`    ${system.name}: ${clients.length}/${options.clients} connected`), 2000)
    try {
      await Promise.race([connectMany(system, 'c', options.clients, options.inFlight, clients, errors),
        new Promise((resolve) => setTimeout(resolve, options.timeoutMs).unref())])
    } finally {
      clearInterval(ticker)
    }
    const wallMs = performance.now() - started
    const serverCpuMs = cpu(pids) - cpuBefore
    const connected = clients.length
    for (const [message, n] of errors) progress(`    ${system.name}: ${n} failed: ${message}`)
    return {
      clients: options.clients,
      connected,
      failed: options.clients - connected,
      serversUsed: new Set(clients.map((c) => c.server)).size,
      wallMs: round(wallMs),
      serverCpuMs: round(serverCpuMs),
      redisCpuMs: round(cpuMs(redisPid) - redisBefore),
      registryCpuMs: round(registry() - registryBefore),
      connectsPerCpuSecond: round(connected / Math.max(serverCpuMs / 1000, 0.001)),
      connectsPerSecond: round(connected / (wallMs / 1000))
    }
  } finally {
    for (const c of clients) c.close()
  }
}
