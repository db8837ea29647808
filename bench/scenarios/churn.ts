/**
 * `churn`: kill -9 a socket server holding N connected clients and measure
 * the time and CPU until every one of them is connected elsewhere.
 *
 * Switchboard: a registry and one socket server (s1) take every client (the
 * real SDK, each user a member of one of `rooms` rooms); two more servers join;
 * s1 is killed, and one message is published to every room right after. A
 * client is back once another server welcomed it and it has that message
 * exactly once (the SDK recovered it from history, or got it live after
 * resubscribing): time from the kill to the last client back, and the CPU of
 * the registry, the two survivors and Redis over that time.
 *
 * Socket.IO: three servers (redis adapter), every client on the first; it is
 * killed and each client reconnects with socket.io-client's own reconnection,
 * to a surviving server picked for it (an ideal load balancer that costs
 * nothing), and joins its room again. It keeps no history, so there is no
 * message to recover. Clients come from worker processes
 * (bench/lib/churn-worker.ts), each on its own 127.0.0.x source address.
 */
import type { ScenarioReport } from '../index.js'
import { switchboardClient } from '../lib/clients.js'
import { cpuMs } from '../lib/proc.js'
import type { Server } from '../lib/proc.js'
import { median, round } from '../lib/stats.js'
import { addSocketServer, startSocketio, startSwitchboard } from '../lib/systems.js'
import { startWorker } from '../lib/worker.js'
import type { Worker } from '../lib/worker.js'
import type { ChurnConfig, ChurnParentMessage, ChurnWorkerMessage } from '../lib/churn-worker.js'

export interface ChurnOptions {
  readonly clients: number
  readonly workers: number
  readonly rooms: number
  /** clients connecting at once during setup, over all workers */
  readonly inFlight: number
  /** for every client to be back after the kill, ms */
  readonly backTimeoutMs: number
}

export const CHURN: Record<'tiny' | 'full', ChurnOptions> = {
  full: { clients: 10_000, workers: 2, rooms: 50, inFlight: 200, backTimeoutMs: 120_000 },
  tiny: { clients: 40, workers: 1, rooms: 4, inFlight: 10, backTimeoutMs: 60_000 }
}

/** Every client of the killed server back within this, s (on the 2-core machine of docs/benchmarks.md). */
const TARGET_SECONDS = 15
const SETUP_TIMEOUT_MS = 600_000

type ChurnWorker = Worker<ChurnParentMessage, ChurnWorkerMessage>

export interface ChurnResult extends Record<string, number> {
  clients: number
  /** clients back on another server (with the marker, for Switchboard) */
  back: number
  /** from the kill to the last client back, s */
  backSeconds: number
  systemCpuSeconds: number
  reconnectsPerCpuSecond: number
  /** clients told their history could not be recovered (Switchboard) */
  resets: number
  /** marker messages received more than once (Switchboard) */
  duplicates: number
}

const cpuOf = (pids: number[]): number => pids.reduce((sum, pid) => {
  try {
    return sum + cpuMs(pid)
  } catch {
    return sum // a process that is gone
  }
}, 0) / 1000

/** Where a worker's clients go: the system's part of a worker's config. */
type Target = Pick<ChurnConfig, 'system' | 'registryUrl' | 'victimUrl' | 'survivorUrls' | 'victim'>

/** Starts the workers, each with its share of clients, and has them connect; throws unless every client got on the victim. */
async function connectWorkers (options: ChurnOptions, target: Target, progress: (line: string) => void): Promise<ChurnWorker[]> {
  const workers: ChurnWorker[] = []
  const shares = Array.from({ length: options.workers }, (_, i) => Math.floor(options.clients / options.workers) + (i < options.clients % options.workers ? 1 : 0))
  try {
    for (const [i, count] of shares.entries()) {
      const config: ChurnConfig = {
        ...target,
        // Each worker on its own source address: its own ephemeral ports.
        sourceAddress: `127.0.0.${i + 2}`,
        userPrefix: `churn-${i}`,
        count,
        rooms: options.rooms,
        inFlight: Math.ceil(options.inFlight / options.workers)
      }
      workers.push(startWorker<ChurnParentMessage, ChurnWorkerMessage>('dist/bench/lib/churn-worker.js', config, `churn worker on ${config.sourceAddress}`))
    }
    await Promise.all(workers.map(async (w) => await w.next('ready', 30_000)))
    const connected = await Promise.all(workers.map(async (w) => {
      const done = w.next('connected', SETUP_TIMEOUT_MS)
      w.tell({ type: 'connect' })
      return await done
    }))
    const onVictim = connected.reduce((a, c) => a + c.onVictim, 0)
    if (onVictim !== options.clients) {
      const errors = connected.map((c) => JSON.stringify(c.errors)).join(' ')
      throw new Error(`churn: ${onVictim} of ${options.clients} clients got on the server to kill (${errors})`)
    }
    progress(`    ${onVictim} clients connected, each in one of ${options.rooms} rooms`)
    await Promise.all(workers.map(async (w) => {
      const armed = w.next('armed', 30_000)
      w.tell({ type: 'arm' })
      await armed
    }))
    return workers
  } catch (err) {
    await Promise.all(workers.map(async (w) => { await w.stop() }))
    throw err
  }
}

/** Kills `victim`, runs `afterKill`, and waits until every worker reports its clients back; figures over that time. */
async function killAndWait (options: ChurnOptions, workers: ChurnWorker[], victim: Server, systemPids: number[],
  afterKill: () => Promise<void>, progress: (line: string) => void): Promise<ChurnResult> {
  const latest = new Map<ChurnWorker, { back: number, away: number }>()
  for (const w of workers) w.on('progress', (p) => { latest.set(w, p) })
  const finished = workers.map(async (w) => await w.next('back', options.backTimeoutMs).catch(() => undefined))
  const ticker = setInterval(() => {
    const back = [...latest.values()].reduce((a, p) => a + p.back, 0)
    const away = [...latest.values()].reduce((a, p) => a + p.away, 0)
    progress(`    ${back}/${options.clients} back (${away} noticed the kill)`)
  }, 2000)
  try {
    const cpuBefore = cpuOf(systemPids)
    const killedAt = Date.now()
    victim.child.kill('SIGKILL')
    await afterKill()
    const reports = await Promise.all(finished)
    const done = reports.filter((r) => r !== undefined)
    const lastBack = done.length === workers.length ? Math.max(...done.map((r) => r.at)) : Date.now()
    const systemCpuSeconds = cpuOf(systemPids) - cpuBefore
    const back = done.reduce((a, r) => a + r.back, 0) +
      workers.filter((_, i) => reports[i] === undefined).reduce((a, w) => a + (latest.get(w)?.back ?? 0), 0)
    return {
      clients: options.clients,
      back,
      backSeconds: round((lastBack - killedAt) / 1000, 2),
      systemCpuSeconds: round(systemCpuSeconds, 2),
      reconnectsPerCpuSecond: round(back / Math.max(systemCpuSeconds, 0.001)),
      resets: done.reduce((a, r) => a + r.resets, 0),
      duplicates: done.reduce((a, r) => a + r.duplicates, 0)
    }
  } finally {
    clearInterval(ticker)
  }
}

export async function churnSwitchboard (options: ChurnOptions, progress: (line: string) => void = () => {}): Promise<ChurnResult> {
  const env = { CAPACITY: '20000' }
  const system = await startSwitchboard(1, env)
  let workers: ChurnWorker[] = []
  try {
    const [registry, victim] = system.servers
    if (registry === undefined || victim === undefined) throw new Error('churn: no registry or socket server')
    workers = await connectWorkers(options, { system: 'switchboard', registryUrl: system.registryUrl, victimUrl: '', survivorUrls: [], victim: 's1' }, progress)
    const survivors = [await addSocketServer(system, 's2', env), await addSocketServer(system, 's3', env)]
    // One more user, on a survivor (the least loaded), in every room: it publishes each room's marker right after the kill.
    const publisher = await switchboardClient(system.registryUrl, 'churn-publisher')
    try {
      for (let r = 0; r < options.rooms; r++) await publisher.join(`churn-${r}`)
      const pids = [registry.pid, ...survivors.map((s) => s.pid), system.redis.process.pid ?? 0]
      return await killAndWait(options, workers, victim, pids, async () => {
        await Promise.all(Array.from({ length: options.rooms }, async (_, r) => { await publisher.publish(`churn-${r}`, { marker: true }) }))
      }, progress)
    } finally {
      publisher.close()
    }
  } finally {
    await system.stop()
    await Promise.all(workers.map(async (w) => { await w.stop() }))
  }
}

export async function churnSocketio (options: ChurnOptions, progress: (line: string) => void = () => {}): Promise<ChurnResult> {
  const system = await startSocketio(3)
  let workers: ChurnWorker[] = []
  try {
    const [victim, ...survivors] = system.servers
    if (victim === undefined) throw new Error('churn: no Socket.IO server')
    const url = (s: Server): string => `http://127.0.0.1:${s.port}`
    workers = await connectWorkers(options, { system: 'socketio', registryUrl: '', victimUrl: url(victim), survivorUrls: survivors.map(url), victim: '0' }, progress)
    const pids = [...survivors.map((s) => s.pid), system.redis.process.pid ?? 0]
    return await killAndWait(options, workers, victim, pids, async () => {}, progress)
  } finally {
    await system.stop()
    await Promise.all(workers.map(async (w) => { await w.stop() }))
  }
}

export async function runChurn (size: 'tiny' | 'full', rounds: number, progress: (line: string) => void): Promise<ScenarioReport> {
  const options = CHURN[size]
  const results: Record<'switchboard' | 'socketio', ChurnResult[]> = { switchboard: [], socketio: [] }
  for (let i = 1; i <= rounds; i++) {
    progress(`  round ${i}/${rounds}: switchboard, kill -9 of the server holding ${options.clients} SDK clients`)
    results.switchboard.push(await churnSwitchboard(options, progress))
    progress(`  round ${i}/${rounds}: socketio, kill -9 of the server holding ${options.clients} clients`)
    results.socketio.push(await churnSocketio(options, progress))
  }
  const medianOf = (list: ChurnResult[]): Record<string, number> =>
    Object.fromEntries(Object.keys(list[0] ?? {}).map((k) => [k, median(list.map((r) => r[k] ?? 0))]))
  const switchboard = medianOf(results.switchboard)
  const socketio = medianOf(results.socketio)
  // Lower is better: Switchboard's time to have everyone back over Socket.IO's.
  const ratio = round((switchboard.backSeconds ?? Infinity) / Math.max(socketio.backSeconds ?? 0, 0.001), 2)
  const allBack = results.switchboard.every((r) => r.back === r.clients && r.resets === 0 && r.duplicates === 0) &&
    results.socketio.every((r) => r.back === r.clients)
  const met = allBack && ratio < 1 && results.switchboard.every((r) => r.backSeconds <= TARGET_SECONDS)
  return { scenario: 'churn', switchboard, socketio, ratio, target: 1, met, rounds }
}
