/**
 * `relay` and `latency`: clients paired across two servers send direct
 * messages to their partner with a window of messages in flight. Counts every
 * delivery; CPU is what the servers and Redis spent during the window.
 */
import { performance } from 'node:perf_hooks'
import type { BenchClient, System } from '../lib/clients.js'
import { startWindow } from '../lib/deliveries.js'
import type { DeliveryResult } from '../lib/deliveries.js'

export interface RelayOptions {
  readonly clients: number
  readonly messages: number
  readonly inFlight: number
  readonly timeoutMs: number
  /** messages each client sends (and has delivered) before measuring starts */
  readonly warmup?: number
}

export type RelayResult = DeliveryResult

export async function relay (system: System, options: RelayOptions, progress: (line: string) => void = () => {}): Promise<RelayResult> {
  const clients: BenchClient[] = []
  for (let i = 0; i < options.clients; i++) clients.push(await system.connect(`u${i}`, i % 2))
  try {
    // Pair each client with one on another server.
    const byServer = new Map<string, number[]>()
    clients.forEach((c, i) => { byServer.set(c.server, [...byServer.get(c.server) ?? [], i]) })
    const [a = [], b = []] = [...byServer.values()]
    if (a.length !== b.length) throw new Error(`clients are not split evenly over two servers: ${a.length} and ${b.length}`)
    const partner = new Map<number, number>()
    a.forEach((i, k) => { partner.set(i, b[k] ?? -1); partner.set(b[k] ?? -1, i) })

    // Warm-up, not measured: every client's first messages pay for JIT compilation, script loading
    // and new history streams, and with 1 in flight those few dominate a p99. Same for every system.
    const warmup = options.warmup ?? 0
    if (warmup > 0) {
      let warmed = 0
      let done: () => void = () => {}
      const allWarm = new Promise<void>((resolve) => { done = resolve })
      clients.forEach((client) => client.onMessage(() => { if (++warmed === options.clients * warmup) done() }))
      await Promise.all(clients.map(async (client, i) => {
        for (let s = 0; s < warmup; s++) await client.send(`u${partner.get(i) ?? 0}`, { warmup: s })
      }))
      await Promise.race([allWarm, new Promise((resolve) => setTimeout(resolve, options.timeoutMs).unref())])
    }

    const expected = options.clients * options.messages
    const latencies: number[] = []
    const seen = new Set<string>()
    let duplicates = 0
    let finish: () => void = () => {}
    const allDelivered = new Promise<void>((resolve) => { finish = resolve })
    clients.forEach((client) => {
      client.onMessage((data) => {
        const { t, s, f, warmup } = data as { t: number, s: number, f: number, warmup?: number }
        if (warmup !== undefined) return // a late warm-up message
        const key = `${f}:${s}`
        if (seen.has(key)) { duplicates++; return }
        seen.add(key)
        latencies.push(performance.now() - t)
        if (seen.size === expected) finish()
      })
    })
    const finishWindow = startWindow(system)
    const ticker = setInterval(() => progress(`    ${system.name}: ${seen.size}/${expected} delivered`), 2000)
    const senders = clients.map(async (client, i) => {
      const to = `u${partner.get(i) ?? 0}`
      let next = 0
      const lane = async (): Promise<void> => {
        while (next < options.messages) {
          const s = next++
          await client.send(to, { t: performance.now(), s, f: i })
        }
      }
      await Promise.all(Array.from({ length: options.inFlight }, lane))
    })
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, options.timeoutMs).unref())
    await Promise.race([Promise.all([Promise.all(senders), allDelivered]), timeout])
    clearInterval(ticker)
    return finishWindow({ expected, delivered: seen.size, duplicates, latencies })
  } finally {
    for (const c of clients) c.close()
  }
}
