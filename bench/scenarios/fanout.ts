/**
 * `fanout`: one publisher, one room whose members are spread over 4
 * servers; every message reaches every member. Counts every delivery.
 */
import { performance } from 'node:perf_hooks'
import type { BenchClient, System } from '../lib/clients.js'
import { startWindow } from '../lib/deliveries.js'
import type { RelayResult } from './relay.js'

export interface FanoutOptions {
  readonly members: number
  readonly messages: number
  readonly inFlight: number
  readonly timeoutMs: number
}

export async function fanout (system: System, options: FanoutOptions, progress: (line: string) => void = () => {}): Promise<RelayResult> {
  const members: BenchClient[] = []
  for (let i = 0; i < options.members; i++) {
    const member = await system.connect(`m${i}`, i)
    await member.join('fan')
    members.push(member)
  }
  const publisher = await system.connect('publisher', options.members)
  await publisher.join('fan')
  try {
    const expected = options.members * options.messages
    const latencies: number[] = []
    let delivered = 0
    let duplicates = 0
    let finish: () => void = () => {}
    const all = new Promise<void>((resolve) => { finish = resolve })
    members.forEach((member) => {
      const seen = new Set<number>()
      member.onMessage((data) => {
        const { t, s } = data as { t: number, s: number }
        if (seen.has(s)) { duplicates++; return }
        seen.add(s)
        latencies.push(performance.now() - t)
        if (++delivered === expected) finish()
      })
    })
    const finishWindow = startWindow(system)
    const ticker = setInterval(() => progress(`    ${system.name}: ${delivered}/${expected} delivered`), 2000)
    let next = 0
    const lane = async (): Promise<void> => {
      while (next < options.messages) {
        const s = next++
        await publisher.publish('fan', { t: performance.now(), s })
      }
    }
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, options.timeoutMs).unref())
    await Promise.race([Promise.all([Promise.all(Array.from({ length: options.inFlight }, lane)), all]), timeout])
    clearInterval(ticker)
    return finishWindow({ expected, delivered, duplicates, latencies })
  } finally {
    for (const c of [...members, publisher]) c.close()
  }
}
