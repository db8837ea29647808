/**
 * Real server processes: `node dist/servers/cli.js <role>` with an
 * environment, waited on until they answer, stopped in teardown.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { eventually } from './client.js'

export const CLI = fileURLToPath(new URL('../../dist/servers/cli.js', import.meta.url))

export interface ServerProcess {
  readonly child: ChildProcess
  readonly output: () => string
  readonly exited: Promise<number | null>
  stop (signal?: NodeJS.Signals): Promise<number | null>
}

interface Teardown { teardown (fn: () => unknown): void }

export function runCli (t: Teardown, role: string, env: Record<string, string>): ServerProcess {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (npm test does)`)
  const child = spawn(process.execPath, [CLI, role], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    return await exited
  }
  t.teardown(async () => { await stop('SIGKILL') })
  return { child, output: () => output, exited, stop }
}

/** Waits until GET url answers 200. */
export async function waitForHttp (url: string, timeoutMs = 10_000): Promise<void> {
  await eventually(async () => {
    try {
      return (await fetch(url)).status === 200
    } catch {
      return false
    }
  }, timeoutMs, `${url} to answer`)
}
