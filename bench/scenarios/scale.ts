/**
 * `scale`: 4 socket servers and 60,000 idle connections, each its own user
 * allocated through GET /allocate, opened by several worker processes
 * (bench/lib/scale-worker.ts), each from its own 127.0.0.x source address: a
 * process may hold 20,000 open files, and one source address has ~28,000
 * ephemeral ports. Measures the time to connect them all, how evenly the
 * registry spread them (largest / smallest server, from the servers' own
 * counts) and each socket server's RSS. No peer: the ratio is that spread.
 */
import { performance } from 'node:perf_hooks'
import type { ScenarioReport } from '../index.js'
import { cpuMs, rssBytes } from '../lib/proc.js'
import { startWorker, tallyWorkers } from '../lib/scale-handle.js'
import type { Message, Worker } from '../lib/scale-handle.js'
import { median, round } from '../lib/stats.js'
import { startSwitchboard } from '../lib/systems.js'

export interface ScaleOptions {
  readonly connections: number
  readonly servers: number
  readonly workers: number
  /** connections being set up at once, over all workers */
  readonly inFlight: number
  /** for the whole connect phase, ms */
  readonly timeoutMs: number
}

export const SCALE: Record<'tiny' | 'full', ScaleOptions> = {
  full: { connections: 60_000, servers: 4, workers: 5, inFlight: 200, timeoutMs: 600_000 },
  tiny: { connections: 400, servers: 4, workers: 2, inFlight: 40, timeoutMs: 60_000 }
}

const TARGET = 1.05
/** a worker's share stays well under the 20,000 open files a process may have */
const MAX_PER_WORKER = 15_000
const MB = 1024 * 1024

/** Each server's load as the registry sees it: its own connection count (plus unused reservations) from its last heartbeat. */
async function serverLoads (registryUrl: string): Promise<Map<string, number>> {
  const { servers } = await (await fetch(`${registryUrl}/servers`)).json() as { servers: Array<{ id: string, load: number }> }
  return new Map(servers.map((s) => [s.id, s.load]))
}

/** A figure of a process that may have died meanwhile (a crashed server counts 0, it does not end the run). */
function ofLiving (read: (pid: number) => number): (pid: number) => number {
  return (pid) => {
    try {
      return read(pid)
    } catch {
      return 0
    }
  }
}
const rss = ofLiving(rssBytes)
const cpu = ofLiving(cpuMs)

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** One round: start the fleet and the workers, connect everything, measure, stop it all. */
export async function scale (options: ScaleOptions, progress: (line: string) => void = () => {}): Promise<Record<string, number>> {
  const shares = Array.from({ length: options.workers }, (_, i) => Math.floor(options.connections / options.workers) + (i < options.connections % options.workers ? 1 : 0))
  if ((shares[0] ?? 0) > MAX_PER_WORKER) throw new Error(`scale: ${shares[0] ?? 0} connections per worker is over ${MAX_PER_WORKER}; use more workers`)
  // Every connection is its own user, so the per-user limit never applies; CAPACITY stays above a fair share.
  const system = await startSwitchboard(options.servers, { CAPACITY: '20000' })
  const workers: Worker[] = []
  try {
    for (const [i, count] of shares.entries()) {
      workers.push(startWorker({
        registryUrl: system.registryUrl,
        sourceAddress: `127.0.0.${i + 2}`,
        userPrefix: `scale-${i}`,
        count,
        inFlight: Math.ceil(options.inFlight / options.workers),
        attemptTimeoutMs: 30_000,
        attempts: 5
      }))
    }
    await Promise.all(workers.map(async (w) => await w.next('ready', 15_000)))
    const sockets = system.servers.slice(1)
    const before = sockets.map((s) => rss(s.pid))
    // CPU over the connect phase: the system (registry, socket servers, Redis) and the load generators.
    const systemPids = [...system.servers.map((s) => s.pid), system.redis.process.pid ?? 0]
    const cpuSeconds = (pids: number[]): number => pids.reduce((a, pid) => a + cpu(pid), 0) / 1000
    const systemCpuBefore = cpuSeconds(systemPids)
    const workerCpuBefore = cpuSeconds(workers.map((w) => w.pid))

    const started = performance.now()
    const ticker = setInterval(() => {
      const sum = (key: 'connected' | 'failed' | 'dropped'): number => workers.reduce((a, w) => a + w.progress[key], 0)
      progress(`    ${sum('connected')}/${options.connections} connected, ${sum('failed')} failed, ${sum('dropped')} closed since`)
    }, 5000)
    let done: Array<Message<'done'>>
    try {
      done = await Promise.all(workers.map(async (w) => {
        const finished = w.next('done', options.timeoutMs)
        w.tell({ type: 'start' })
        return await finished
      }))
    } finally {
      clearInterval(ticker)
    }
    const connectSeconds = (performance.now() - started) / 1000
    const systemCpu = cpuSeconds(systemPids) - systemCpuBefore
    const workerCpu = cpuSeconds(workers.map((w) => w.pid)) - workerCpuBefore
    const errors: Record<string, number> = {}
    for (const d of done) for (const [key, n] of Object.entries(d.errors)) errors[key] = (errors[key] ?? 0) + n
    if (Object.keys(errors).length > 0) progress(`    errors (retried or failed): ${JSON.stringify(errors)}`)

    // The servers' counts reach the registry with their next heartbeat; the reservations of
    // failed attempts stop counting a few seconds after their token expires (30 s).
    await sleep(1500)
    let held = await tallyWorkers(workers)
    let loads = await serverLoads(system.registryUrl)
    const agree = (): boolean => [...loads].every(([id, load]) => load === (held.perServer.get(id) ?? 0))
    for (const deadline = Date.now() + 45_000; !agree() && Date.now() < deadline;) {
      await sleep(1000)
      held = await tallyWorkers(workers)
      loads = await serverLoads(system.registryUrl)
    }
    const after = sockets.map((s) => rss(s.pid))

    // startSwitchboard names its socket servers s1, s2, … in the order of system.servers[1..].
    const ids = sockets.map((_, i) => `s${i + 1}`)
    const counts = ids.map((id) => loads.get(id) ?? 0)
    const min = Math.min(...counts)
    const max = Math.max(...counts)
    const growth = after.flatMap((bytes, i) => bytes > 0 ? [(bytes - (before[i] ?? 0)) / Math.max(1, counts[i] ?? 0)] : [])
    const figures: Record<string, number> = {
      connections: options.connections,
      connected: held.open,
      failed: done.reduce((a, d) => a + d.failed, 0),
      retries: done.reduce((a, d) => a + d.retries, 0),
      errors: Object.values(errors).reduce((a, b) => a + b, 0),
      dropped: Object.values(held.droppedByCode).reduce((a, b) => a + b, 0),
      workers: options.workers,
      connectSeconds: round(connectSeconds, 1),
      connectsPerSecond: round(done.reduce((a, d) => a + d.connected, 0) / connectSeconds),
      systemCpuSeconds: round(systemCpu, 1),
      workerCpuSeconds: round(workerCpu, 1),
      connectsPerSystemCpuSecond: round(done.reduce((a, d) => a + d.connected, 0) / Math.max(systemCpu, 0.01)),
      minPerServer: min,
      maxPerServer: max,
      ratio: round(min > 0 ? max / min : Infinity, 3),
      countsAgree: agree() ? 1 : 0,
      rssMbMean: round(after.reduce((a, b) => a + b, 0) / after.length / MB, 1),
      rssMbMax: round(Math.max(...after) / MB, 1),
      bytesPerConnection: round(growth.reduce((a, b) => a + b, 0) / Math.max(1, growth.length)),
      redisRssMb: round(rss(system.redis.process.pid ?? 0) / MB, 1)
    }
    // Why connections were closed after their welcome: dropped1012, dropped1006, …
    for (const [code, n] of Object.entries(held.droppedByCode)) figures[`dropped${code}`] = n
    ids.forEach((id, i) => {
      figures[`${id}Connections`] = counts[i] ?? 0
      figures[`${id}RssMb`] = round((after[i] ?? 0) / MB, 1)
    })
    return figures
  } finally {
    // Servers first: their side closes, so the clients' 127.0.0.x ports are not left in TIME_WAIT.
    await system.stop()
    await Promise.all(workers.map(async (w) => { await w.stop() }))
  }
}

export async function runScale (size: 'tiny' | 'full', rounds: number, progress: (line: string) => void): Promise<ScenarioReport> {
  const options = SCALE[size]
  const results: Array<Record<string, number>> = []
  for (let i = 1; i <= rounds; i++) {
    progress(`  round ${i}/${rounds}: switchboard, ${options.connections} connections from ${options.workers} processes`)
    results.push(await scale(options, progress))
  }
  const keys = [...new Set(results.flatMap((r) => Object.keys(r)))]
  const switchboard = Object.fromEntries(keys.map((k) => [k, median(results.map((r) => r[k] ?? 0))]))
  const ratio = switchboard.ratio ?? Infinity
  const everyConnected = results.every((r) => r.connected === r.connections && r.countsAgree === 1)
  return { scenario: 'scale', switchboard, ratio, target: TARGET, met: everyConnected && ratio <= TARGET, rounds }
}
