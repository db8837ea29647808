/** The parent's handle on a `scale` load generator (bench/lib/scale-worker.ts): its progress, and what the workers hold. */
import { startWorker as start } from './worker.js'
import type { Worker as Handle } from './worker.js'
import type { ParentMessage, WorkerConfig, WorkerMessage } from './scale-worker.js'

export type Message<T extends WorkerMessage['type']> = Extract<WorkerMessage, { type: T }>

export type Worker = Handle<ParentMessage, WorkerMessage> & {
  readonly progress: { connected: number, failed: number, dropped: number }
}

export function startWorker (config: WorkerConfig): Worker {
  const worker = start<ParentMessage, WorkerMessage>('dist/bench/lib/scale-worker.js', config, `scale worker on ${config.sourceAddress}`)
  const progress = { connected: 0, failed: 0, dropped: 0 }
  worker.on('progress', (message) => { Object.assign(progress, { connected: message.connected, failed: message.failed, dropped: message.dropped }) })
  return Object.assign(worker, { progress })
}

/** What the workers hold open, per server (by the server each welcome came from), and what was closed on them, by close code. */
export async function tallyWorkers (workers: Worker[]): Promise<{ open: number, perServer: Map<string, number>, droppedByCode: Record<string, number> }> {
  const tallies = await Promise.all(workers.map(async (w) => {
    const tally = w.next('tally', 30_000)
    w.tell({ type: 'tally' })
    return await tally
  }))
  const perServer = new Map<string, number>()
  const droppedByCode: Record<string, number> = {}
  for (const t of tallies) {
    for (const [id, n] of Object.entries(t.perServer)) perServer.set(id, (perServer.get(id) ?? 0) + n)
    for (const [code, n] of Object.entries(t.droppedByCode)) droppedByCode[code] = (droppedByCode[code] ?? 0) + n
  }
  return { open: tallies.reduce((a, t) => a + t.open, 0), perServer, droppedByCode }
}
