/**
 * `memory`: N idle, authenticated connections on one socket server; the
 * server's RSS growth divided by N.
 */
import type { BenchClient, System } from '../lib/clients.js'
import { rssBytes } from '../lib/proc.js'
import { round } from '../lib/stats.js'

export interface MemoryResult {
  readonly connections: number
  readonly connected: number
  readonly rssBeforeMb: number
  readonly rssAfterMb: number
  readonly bytesPerConnection: number
}

export async function memory (system: System, serverPid: number, connections: number, progress: (line: string) => void = () => {}): Promise<MemoryResult> {
  const clients: BenchClient[] = []
  // Warm the server up (JIT, pools) so the baseline is not its cold start.
  for (let i = 0; i < 20; i++) clients.push(await system.connect(`warm${i}`, 0))
  await new Promise((resolve) => setTimeout(resolve, 500))
  const before = rssBytes(serverPid)
  try {
    const batch = 200
    for (let i = 20; i < connections + 20; i += batch) {
      const made = await Promise.all(Array.from({ length: Math.min(batch, connections + 20 - i) }, async (_, k) => await system.connect(`idle${i + k}`, 0)))
      clients.push(...made)
      if ((i - 20) % 2000 === 0) progress(`    ${system.name}: ${clients.length - 20}/${connections} connected`)
    }
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const after = rssBytes(serverPid)
    const connected = clients.length - 20
    return {
      connections,
      connected,
      rssBeforeMb: round(before / 1024 / 1024, 1),
      rssAfterMb: round(after / 1024 / 1024, 1),
      bytesPerConnection: round((after - before) / connected)
    }
  } finally {
    for (const c of clients) c.close()
  }
}
