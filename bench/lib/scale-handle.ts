/**
 * The parent's handle on a `scale` load generator: starts a worker process
 * (bench/lib/scale-worker.ts, from dist/) and talks to it over IPC.
 */
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { spawnOwned } from '../../infra/process/owned.js'
import { packageRoot } from './proc.js'
import type { ParentMessage, WorkerConfig, WorkerMessage } from './scale-worker.js'

export type Message<T extends WorkerMessage['type']> = Extract<WorkerMessage, { type: T }>

export interface Worker {
  readonly pid: number
  readonly progress: { connected: number, failed: number, dropped: number }
  /** the worker's next message of this type */
  next<T extends WorkerMessage['type']> (type: T, timeoutMs: number): Promise<Message<T>>
  tell (message: ParentMessage): void
  stop (): Promise<void>
}

export function startWorker (config: WorkerConfig): Worker {
  const child: ChildProcess = spawnOwned(process.execPath, [join(packageRoot(), 'dist/bench/lib/scale-worker.js'), JSON.stringify(config)], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc']
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-2000) })
  const waiters = new Map<string, { resolve: (message: WorkerMessage) => void, reject: (err: Error) => void }>()
  const progress = { connected: 0, failed: 0, dropped: 0 }
  child.on('message', (message: WorkerMessage) => {
    if (message.type === 'progress') Object.assign(progress, { connected: message.connected, failed: message.failed, dropped: message.dropped })
    waiters.get(message.type)?.resolve(message)
  })
  child.once('exit', (code, signal) => {
    for (const waiter of waiters.values()) waiter.reject(new Error(`scale worker on ${config.sourceAddress} exited (${code ?? signal ?? '?'}): ${stderr}`))
  })
  return {
    pid: child.pid ?? 0,
    progress,
    next: async <T extends WorkerMessage['type']>(type: T, timeoutMs: number): Promise<Message<T>> => await new Promise<Message<T>>((resolve, reject) => {
      const timer = setTimeout(() => settle(new Error(`scale worker on ${config.sourceAddress}: no ${type} within ${timeoutMs} ms`)), timeoutMs)
      const settle = (err: Error | undefined, message?: WorkerMessage): void => {
        clearTimeout(timer)
        waiters.delete(type)
        if (err !== undefined) reject(err)
        else resolve(message as Message<T>)
      }
      waiters.set(type, { resolve: (message) => settle(undefined, message), reject: settle })
    }),
    tell: (message) => { if (child.connected) child.send(message) },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }
  }
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
