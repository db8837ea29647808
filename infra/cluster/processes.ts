/**
 * Processes the launcher starts: detached, logging to files in the working
 * folder, and marked so that `cluster down` stops only what it started.
 */
import { spawn } from 'node:child_process'
import { openSync, readFileSync, readlinkSync } from 'node:fs'
import { createServer } from 'node:net'
import { resolve } from 'node:path'
import { killFolderOnExit } from '../process/owned.js'

export { freePort } from '../redis/local.js'

export const MARK = 'SB_CLUSTER_DIR'

export function startDetached (command: string, args: string[], log: string, env: Record<string, string>, dir: string): number {
  const out = openSync(log, 'a')
  const child = spawn(command, args, { cwd: dir, detached: true, stdio: ['ignore', out, out], env: { ...process.env, ...env, [MARK]: dir } })
  child.unref()
  if (child.pid === undefined) throw new Error(`could not start ${command}`)
  return child.pid
}

/** Whether `pid` is alive and was started by the cluster living in `dir`. */
export function isOurs (pid: number, dir: string): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  // Redis and nginx rewrite their process title over argv and environ, so any one of
  // these marks will do: the environment variable, the config path, the working folder.
  const read = (what: () => string): string => { try { return what() } catch { return '' } }
  const environ = read(() => readFileSync(`/proc/${pid}/environ`, 'utf8'))
  const cmdline = read(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8'))
  const cwd = read(() => readlinkSync(`/proc/${pid}/cwd`))
  return environ.split('\0').includes(`${MARK}=${dir}`) || cmdline.includes(dir) || cwd === dir || cwd.startsWith(`${dir}/`)
}

/**
 * For a caller that runs `cluster up` but must not leave its cluster behind when it dies however
 * it dies (a test: the cluster is detached to outlive the CLI, not the test). Every process the
 * cluster in `dir` runs works inside `dir` and carries the mark (startDetached), which is what
 * the watchdog looks for.
 */
export function killClusterOnExit (dir: string): void {
  const folder = resolve(dir)
  killFolderOnExit(folder, `${MARK}=${folder}`)
}

export async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

export async function waitFor (check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if (await check()) return
    } catch {}
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(100)
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess (pid: number, dir: string, graceMs: number): Promise<void> {
  if (!isOurs(pid, dir)) return
  process.kill(pid, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    if (!isOurs(pid, dir)) return
    await sleep(50)
  }
  try {
    process.kill(pid, 'SIGKILL')
  } catch {}
  await waitFor(async () => !isOurs(pid, dir), 5000, `process ${pid} to exit`)
}

export async function portIsFree (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}
