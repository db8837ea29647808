/**
 * A private redis-server on a free port, for tests and benchmarks: never the
 * shared instance on 6379.
 */
import { execFile } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { spawnOwned } from '../process/owned.js'

/** Kills a child when this process ends, however it ends (infra/process/owned.ts). */
export { killOnExit } from '../process/owned.js'

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

export interface RedisServerOptions {
  /** a config file to run (its persistence settings are kept); without one nothing is written to disk */
  readonly config?: string
  /** this port rather than a free one (to restart a node where its replicas expect it) */
  readonly port?: number
}

/** Starts a redis-server; `args` are extra command-line options (e.g. ['--replicaof', …]), which override the config file's. */
export async function startRedisServer (args: string[] = [], options: RedisServerOptions = {}): Promise<RedisServer> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = options.port ?? await freePort()
    const persistence = options.config === undefined ? ['--save', '', '--appendonly', 'no'] : []
    const child = spawnOwned('redis-server', [...(options.config === undefined ? [] : [options.config]), '--port', String(port), '--bind', '127.0.0.1', ...persistence, ...args], {
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    const ready = await waitForPing(port, child)
    if (!ready) {
      child.kill('SIGKILL')
      if (/Address already in use/.test(output) && options.port === undefined) continue
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

export interface RedisClusterHandle {
  /** every node, primaries first as `redis-cli --cluster create` paired them */
  readonly nodes: RedisServer[]
  /** `redis+cluster://127.0.0.1:p1,…` */
  readonly url: string
  /** ports of the nodes that are primaries now (they change after a failover) */
  primaries (): Promise<number[]>
  /**
   * Starts again a node that was stopped or killed, on its port with its cluster config file, as a
   * supervisor would; resolves once it has rejoined (a killed primary comes back as a replica of the
   * one promoted in its place, with its first sync done).
   */
  restart (port: number): Promise<void>
  stop (): Promise<void>
}

export interface RedisClusterOptions {
  readonly primaries?: number
  readonly replicasPerPrimary?: number
  /** `cluster-node-timeout`: how long a silent primary has before its replica takes over */
  readonly nodeTimeoutMs?: number
  /** where the nodes keep their cluster config files (a fresh temporary directory by default) */
  readonly dir?: string
}

/**
 * A local Redis Cluster (3 primaries + 3 replicas by default), made with
 * `redis-cli --cluster create`; resolves when every node reports
 * `cluster_state:ok` and every replica is attached.
 */
export async function startRedisCluster (options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const primaries = options.primaries ?? 3
  const replicas = options.replicasPerPrimary ?? 1
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'sb-cluster-'))
  const nodes: RedisServer[] = []
  const stopAll = async (): Promise<void> => {
    await Promise.all(nodes.map(async (n) => { await n.stop() }))
    if (options.dir === undefined) rmSync(dir, { recursive: true, force: true })
  }
  const argsOf = new Map<number, string[]>()
  try {
    for (let i = 0; i < primaries * (1 + replicas); i++) {
      const args = ['--cluster-enabled', 'yes', '--dir', dir, '--cluster-config-file', `nodes-${i}-${process.pid}-${Date.now()}.conf`,
        '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 2000), '--cluster-replica-validity-factor', '0', '--repl-diskless-sync-delay', '0']
      const node = await startRedisServer(args)
      argsOf.set(node.port, args)
      nodes.push(node)
    }
    await createCluster(nodes.map((n) => n.port), replicas)
  } catch (err) {
    await stopAll()
    throw err
  }
  const primaryPorts = async (): Promise<number[]> => {
    const ports: number[] = []
    for (const node of nodes) {
      if (node.process.exitCode !== null || node.process.signalCode !== null) continue
      const client = new Redis({ port: node.port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
      client.on('error', () => {})
      try {
        await client.connect()
        const role = await client.call('ROLE') as [string]
        if (role[0] === 'master') ports.push(node.port)
      } catch {
        // a node that does not answer is no primary
      } finally {
        client.disconnect()
      }
    }
    return ports
  }
  const restart = async (port: number): Promise<void> => {
    const at = nodes.findIndex((n) => n.port === port)
    const args = argsOf.get(port)
    if (at < 0 || args === undefined) throw new Error(`no node of this cluster on port ${port}`)
    await nodes[at]?.stop()
    nodes[at] = await startRedisServer(args, { port })
    await waitForCluster(nodes.map((n) => n.port), primaries * replicas)
  }
  return { nodes, url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`, primaries: primaryPorts, restart, stop: stopAll }
}

/**
 * Makes a Redis Cluster of fresh cluster-enabled nodes on 127.0.0.1 (`redis-cli --cluster create`),
 * and resolves when every node reports `cluster_state:ok` and every replica has finished its first sync.
 */
export async function createCluster (ports: number[], replicasPerPrimary: number): Promise<void> {
  await promisify(execFile)(process.env.REDIS_CLI_BIN ?? 'redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`),
    '--cluster-replicas', String(replicasPerPrimary), '--cluster-yes'], { timeout: 30_000 })
  await waitForCluster(ports, Math.floor(ports.length / (1 + replicasPerPrimary)) * replicasPerPrimary)
}

async function waitForCluster (ports: number[], replicas: number): Promise<void> {
  const deadline = Date.now() + 30_000
  const clients = ports.map((port) => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 }))
  try {
    while (Date.now() < deadline) {
      const infos = await Promise.all(clients.map(async (c) => String(await c.call('CLUSTER', 'INFO'))))
      // A replica counts once its initial sync is done: before that, WAIT finds no replica and a failover would lose everything.
      const replication = await Promise.all(clients.map(async (c) => String(await c.info('replication'))))
      const synced = replication.filter((info) => info.includes('role:slave') && info.includes('master_link_status:up') && info.includes('master_sync_in_progress:0')).length
      if (infos.every((info) => info.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384')) && synced >= replicas) return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error('the Redis Cluster did not reach cluster_state:ok within 30 s')
  } finally {
    for (const c of clients) c.disconnect()
  }
}
