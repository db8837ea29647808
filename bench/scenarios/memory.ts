/**
 * `memory`: N idle, authenticated connections on one socket server; the
 * server's RSS growth divided by N.
 *
 * Two figures. `bytesPerConnectionAt1s` is taken one second after the last
 * connection, when the heap still holds the garbage of the connect storm.
 * `bytesPerConnection`, the headline, is the settled figure: idle connections
 * live for hours, and an idle Node process gives unused heap back (V8's
 * memory reducer runs some seconds into idleness), so both the baseline and
 * the final RSS are the lowest seen over a `settleMs` window of idleness.
 * Every system is measured the same way.
 */
import { sleep } from '../../infra/cluster/processes.js'
import type { BenchClient, System } from '../lib/clients.js'
import { rssBytes } from '../lib/proc.js'
import { round } from '../lib/stats.js'

export interface MemoryResult {
  readonly connections: number
  readonly connected: number
  readonly rssBeforeMb: number
  readonly rssAfterMb: number
  /** settled: lowest RSS over the idle window after connecting, minus the settled baseline */
  readonly bytesPerConnection: number
  /** one second after the last connection, against the same baseline */
  readonly bytesPerConnectionAt1s: number
}

/** The lowest RSS of `pid` sampled every second for `ms` (at least one sample). */
async function settledRss (pid: number, ms: number): Promise<number> {
  let lowest = rssBytes(pid)
  for (let waited = 0; waited < ms; waited += 1000) {
    await sleep(1000)
    lowest = Math.min(lowest, rssBytes(pid))
  }
  return lowest
}

export async function memory (system: System, serverPid: number, connections: number, progress: (line: string) => void = () => {}, settleMs = 0): Promise<MemoryResult> {
  const clients: BenchClient[] = []
  // Warm the server up (JIT, pools) so the baseline is not its cold start.
  for (let i = 0; i < 20; i++) clients.push(await system.connect(`warm${i}`, 0))
  await sleep(500)
  if (settleMs > 0) progress(`    ${system.name}: settling ${settleMs / 1000} s before measuring the baseline`)
  const before = await settledRss(serverPid, settleMs)
  try {
    const batch = 200
    for (let i = 20; i < connections + 20; i += batch) {
      const made = await Promise.all(Array.from({ length: Math.min(batch, connections + 20 - i) }, async (_, k) => await system.connect(`idle${i + k}`, 0)))
      clients.push(...made)
      if ((i - 20) % 2000 === 0) progress(`    ${system.name}: ${clients.length - 20}/${connections} connected`)
    }
    await sleep(1000)
    const at1s = rssBytes(serverPid)
    if (settleMs > 0) progress(`    ${system.name}: all connected; settling ${settleMs / 1000} s`)
    const after = Math.min(at1s, await settledRss(serverPid, settleMs))
    const connected = clients.length - 20
    return {
      connections,
      connected,
      rssBeforeMb: round(before / 1024 / 1024, 1),
      rssAfterMb: round(after / 1024 / 1024, 1),
      bytesPerConnection: round((after - before) / connected),
      bytesPerConnectionAt1s: round((at1s - before) / connected)
    }
  } finally {
    for (const c of clients) c.close()
  }
}
