/**
 * Real server processes: `node dist/servers/cli.js <role>` with an
 * environment, waited on until they answer, stopped in teardown.
 */
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { eventually } from './client.js'
import { freePort } from './redis.js'
import { spawnOwned } from '../../infra/process/owned.js'

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
  const child = spawnOwned(process.execPath, [CLI, role], {
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

/**
 * This process's environment without what the test runner and npm put in it (tap's loaders and
 * coverage in NODE_OPTIONS, its child ids, npm's script and config variables, among them the
 * project folder): for a command that must start as it would from a shell.
 */
export function plainEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const runner = (name: string): boolean => /^(TAP|_TAPJS|TS_NODE|npm_)/.test(name) || ['NODE_OPTIONS', 'NODE_V8_COVERAGE', 'INIT_CWD'].includes(name)
  return { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !runner(name))), ...extra }
}

export interface Finished { readonly stdout: string, readonly stderr: string, readonly code: number | null }

/**
 * Runs a command to its end, like execFile, but owned (spawnOwned): if this test process dies
 * first, the command dies too. Killed (its whole group) after `timeoutMs`.
 */
export async function runToEnd (command: string, args: readonly string[], options: { cwd?: string, env?: NodeJS.ProcessEnv, timeoutMs?: number } = {}): Promise<Finished> {
  const child = spawnOwned(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const timer = setTimeout(() => { if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL') }, options.timeoutMs ?? 120_000)
  return await new Promise<Finished>((resolve, reject) => {
    child.once('error', (err) => { clearTimeout(timer); reject(err) })
    child.once('close', (code) => { clearTimeout(timer); resolve({ stdout, stderr, code }) })
  })
}

/**
 * How long starting server processes may take before a test gives up. Each loads ~0.7 s of CPU; five
 * started at once took 17 s to answer on this 2-core machine at a load of 13, and CI runs two test
 * files at once: a generous bound, not an expectation.
 */
export const START_PATIENCE_MS = 90_000

/** Waits until GET url answers 200. */
export async function waitForHttp (url: string, timeoutMs = START_PATIENCE_MS): Promise<void> {
  await eventually(async () => {
    try {
      return (await fetch(url)).status === 200
    } catch {
      return false
    }
  }, timeoutMs, `${url} to answer`)
}

export interface ProcessCluster {
  readonly registryUrl: string
  readonly registry: ServerProcess
  readonly health: ServerProcess | undefined
  /** socket servers, ids `${idPrefix}1`, `${idPrefix}2`, … */
  readonly sockets: ServerProcess[]
  /** every process's output, for failure messages */
  output (): string
  /** starts one more socket server (the next id) and waits until the registry sees it alive */
  addSocket (): Promise<ServerProcess>
}

/**
 * A registry and N socket servers as real processes over one Redis, waited
 * on until every socket server is registered and alive.
 */
export async function startProcessCluster (t: Teardown, options: {
  readonly redisUrl: string
  readonly prefix: string
  readonly sockets?: number
  readonly idPrefix?: string
  readonly env?: Record<string, string>
  /** also run `switchboard health` */
  readonly health?: boolean
}): Promise<ProcessCluster> {
  const count = options.sockets ?? 2
  const common = {
    REDIS_URL: options.redisUrl,
    TOKEN_SECRET: 'process-cluster-secret-0123456789',
    SB_PREFIX: options.prefix,
    HOST: '127.0.0.1',
    HEARTBEAT_MS: '200',
    // Tests allocate and send faster than people: limits are tested on their own (security.test.ts).
    ALLOCATE_RATE_MAX: '0',
    ALLOCATE_USER_RATE_MAX: '0',
    FRAME_RATE: '10000',
    FRAME_BURST: '10000',
    ...options.env
  }
  const registryPort = await freePort()
  const registry = runCli(t, 'registry', { ...common, PORT: String(registryPort), AUTH_MODE: 'dev' })
  const sockets: ServerProcess[] = []
  const startSocket = async (): Promise<ServerProcess> => {
    // Port 0, no PUBLIC_URL: the server advertises the port it got, so no other test can take it between a look and a listen.
    const socket = runCli(t, 'socket', { ...common, PORT: '0', SERVER_ID: `${options.idPrefix ?? 's'}${sockets.length + 1}` })
    sockets.push(socket)
    return socket
  }
  for (let n = 1; n <= count; n++) await startSocket()
  const health = options.health === true ? runCli(t, 'health', { ...common, PORT: String(await freePort()) }) : undefined
  const output = (): string => [registry, ...sockets, ...(health === undefined ? [] : [health])].map((p) => p.output()).join('')
  const registryUrl = `http://127.0.0.1:${registryPort}`
  await waitForHttp(`${registryUrl}/healthz`)
  await eventually(async () => {
    const { servers } = await (await fetch(`${registryUrl}/servers`)).json() as { servers: Array<{ alive: boolean }> }
    return servers.filter((s) => s.alive).length === count
  }, START_PATIENCE_MS, () => `${count} socket servers registered; output:\n${output()}`)
  const addSocket = async (): Promise<ServerProcess> => {
    const socket = await startSocket()
    const id = `${options.idPrefix ?? 's'}${sockets.length}`
    await eventually(async () => {
      const { servers } = await (await fetch(`${registryUrl}/servers`)).json() as { servers: Array<{ id: string, alive: boolean }> }
      return servers.some((s) => s.id === id && s.alive)
    }, START_PATIENCE_MS, () => `${id} registered; output:\n${output()}`)
    return socket
  }
  return { registryUrl, registry, health, sockets, output, addSocket }
}
