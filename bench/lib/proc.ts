/** Processes for benchmarks: CPU time from /proc, and Switchboard / peer servers started and stopped. */
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../../plugins/package-root.js'
import { spawnOwned } from '../../infra/process/owned.js'
import { freePort } from '../../infra/redis/local.js'

const TICKS_PER_SECOND = 100 // getconf CLK_TCK on Linux

/** user + system CPU time of a process, ms. */
export function cpuMs (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 1000 / TICKS_PER_SECOND
}

export function rssBytes (pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024
}

export { packageRoot }

export interface Server {
  readonly pid: number
  readonly port: number
  readonly child: ChildProcess
  stop (): Promise<void>
}

/** Starts `node <script> [args]` with env plus PORT, and waits until GET /healthz answers. */
export async function startNode (script: string, args: string[], env: Record<string, string>): Promise<Server> {
  const port = await freePort()
  // BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the servers under test.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
  const child = spawnOwned(process.execPath, [...nodeArgs, join(packageRoot(), script), ...args], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let errors = ''
  child.stderr?.on('data', (chunk: Buffer) => { errors += chunk.toString() })
  // Generous: on a busy 2-core machine (npm test runs two files at once) a server can take many seconds to load.
  const deadline = Date.now() + 60_000
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break
    } catch {}
    if (child.exitCode !== null || Date.now() > deadline) {
      // Not left running: the caller never gets a handle to stop it.
      child.kill('SIGKILL')
      throw new Error(`${script} ${args.join(' ')} did not start within 60 s: ${errors}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    // SIGINT lets a profiled process write its profile; anything still alive after a second is killed.
    child.kill(process.env.BENCH_NODE_ARGS === undefined ? 'SIGKILL' : 'SIGINT')
    setTimeout(() => child.kill('SIGKILL'), 1000).unref()
    await exited
  }
  return { pid: child.pid ?? 0, port, child, stop }
}
