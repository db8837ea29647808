/**
 * A private redis-server on a free port, for tests and benchmarks: never the
 * shared instance on 6379.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'

const children = new Set<ChildProcess>()
let reaping = false

/**
 * Kills `child` when this process ends, even when it is ended by a signal
 * (a test runner's timeout sends SIGTERM, and teardown never runs): no
 * redis-server or server process outlives the test or benchmark that made it.
 */
export function killOnExit (child: ChildProcess): void {
  children.add(child)
  child.once('exit', () => children.delete(child))
  if (reaping) return
  reaping = true
  const reap = (): void => { for (const c of children) c.kill('SIGKILL') }
  process.once('exit', reap)
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      reap()
      process.exit(128 + (signal === 'SIGHUP' ? 1 : signal === 'SIGINT' ? 2 : 15))
    })
  }
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

export interface RedisServer {
  readonly port: number
  readonly url: string
  readonly process: ChildProcess
  stop (): Promise<void>
}

/** Starts a redis-server; `args` are extra command-line options (e.g. ['--replicaof', …]). */
export async function startRedisServer (args: string[] = []): Promise<RedisServer> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], {
      stdio: ['ignore', 'pipe', 'pipe']
    })
    killOnExit(child)
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    const ready = await waitForPing(port, child)
    if (!ready) {
      child.kill('SIGKILL')
      if (/Address already in use/.test(output)) continue
      throw new Error(`redis-server did not start:\n${output}`)
    }
    const stop = async (): Promise<void> => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }
    return { port, url: `redis://127.0.0.1:${port}`, process: child, stop }
  }
  throw new Error('could not find a free port for redis-server')
}

async function waitForPing (port: number, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 5000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return false
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
    client.on('error', () => {})
    try {
      await client.connect()
      await client.ping()
      return true
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50))
    } finally {
      client.disconnect()
    }
  }
  return false
}
