/**
 * The parent's handle on a load-generator process (bench/lib/scale-worker.ts,
 * bench/lib/churn-worker.ts, run from dist/): starts it with its JSON config
 * and talks to it over IPC, one typed message at a time.
 */
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { spawnOwned } from '../../infra/process/owned.js'
import { packageRoot } from './proc.js'

export interface Worker<Tell, Told extends { readonly type: string }> {
  readonly pid: number
  /** the worker's next message of this type */
  next<T extends Told['type']> (type: T, timeoutMs: number): Promise<Extract<Told, { type: T }>>
  /** every message of this type, as it comes */
  on<T extends Told['type']> (type: T, listener: (message: Extract<Told, { type: T }>) => void): void
  tell (message: Tell): void
  stop (): Promise<void>
}

/** `script`: the worker's path under dist/ (e.g. `dist/bench/lib/scale-worker.js`); `label` names it in errors. */
export function startWorker<Tell, Told extends { readonly type: string }> (script: string, config: unknown, label: string): Worker<Tell, Told> {
  const child: ChildProcess = spawnOwned(process.execPath, [join(packageRoot(), script), JSON.stringify(config)], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc']
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-2000) })
  const waiters = new Map<string, { resolve: (message: Told) => void, reject: (err: Error) => void }>()
  const listeners = new Map<string, (message: Told) => void>()
  child.on('message', (message: Told) => {
    listeners.get(message.type)?.(message)
    waiters.get(message.type)?.resolve(message)
  })
  child.once('exit', (code, signal) => {
    for (const waiter of waiters.values()) waiter.reject(new Error(`${label} exited (${code ?? signal ?? '?'}): ${stderr}`))
  })
  return {
    pid: child.pid ?? 0,
    next: async <T extends Told['type']>(type: T, timeoutMs: number): Promise<Extract<Told, { type: T }>> => await new Promise((resolve, reject) => {
      const timer = setTimeout(() => settle(new Error(`${label}: no ${type} within ${timeoutMs} ms`)), timeoutMs)
      const settle = (err: Error | undefined, message?: Told): void => {
        clearTimeout(timer)
        waiters.delete(type)
        if (err !== undefined) reject(err)
        else resolve(message as Extract<Told, { type: T }>)
      }
      waiters.set(type, { resolve: (message) => settle(undefined, message), reject: settle })
    }),
    on: <T extends Told['type']>(type: T, listener: (message: Extract<Told, { type: T }>) => void): void => {
      listeners.set(type, listener as (message: Told) => void)
    },
    tell: (message) => { if (child.connected) child.send(message as object) },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }
  }
}
