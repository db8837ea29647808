/**
 * `switchboard cluster up | down | status`: the whole topology as local
 * processes, with configs generated under a working folder:
 * Redis master + 2 replicas + 3 Sentinels (or, with `redis: 'cluster'`, a
 * Redis Cluster of 3 primaries + 3 replicas), N registries behind nginx, M
 * socket servers, a health checker. `up` writes cluster.json, which `down`
 * and `status` read (and scripts and tests can too).
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { packageRoot } from '../../plugins/package-root.js'
import { NGINX, fill, nginxConfig } from '../nginx/config.js'
import { createCluster } from '../redis/local.js'
import { checkHealth, redisAnswers } from './checks.js'
import { freePort, isOurs, portIsFree, startDetached, stopProcess, waitFor } from './processes.js'
import type { ClusterFile, Component, ComponentStatus, RedisTopology, Role } from './types.js'

export type { ClusterFile, Component, ComponentStatus, RedisTopology, Role } from './types.js'

export const SENTINEL_NAME = 'mymaster'
/** The fixed part of the topology; docker-compose.yml mirrors it (test/compose.test.ts). */
export const REPLICAS = 2
export const SENTINELS = 3
/** With `redis: 'cluster'`: primaries, each with one replica (docker-compose's `redis-cluster` profile mirrors it). */
export const CLUSTER_PRIMARIES = 3
export const DEFAULT_REGISTRIES = 2
export const DEFAULT_SOCKETS = 3
/** What each Switchboard role is configured with, besides PORT. */
export const ENV_BY_ROLE = {
  registry: ['REDIS_URL', 'TOKEN_SECRET', 'HOST', 'LOG_LEVEL', 'AUTH_MODE', 'ADMIN_TOKEN', 'TRUSTED_PROXIES'],
  socket: ['REDIS_URL', 'TOKEN_SECRET', 'HOST', 'LOG_LEVEL', 'SERVER_ID', 'PUBLIC_URL', 'ADMIN_TOKEN'],
  health: ['REDIS_URL', 'HOST', 'LOG_LEVEL']
} as const
const REDIS = process.env.REDIS_SERVER_BIN ?? 'redis-server'

const CLI = join(packageRoot(), 'dist', 'servers', 'cli.js')
const template = (name: string): string => readFileSync(join(packageRoot(), 'infra', name), 'utf8')

export interface UpOptions {
  readonly dir: string
  readonly sockets?: number
  readonly registries?: number
  /** progress lines (default: nowhere) */
  readonly progress?: (line: string) => void
  /** extra environment for every Switchboard process */
  readonly env?: Record<string, string>
  /** Sentinel (default) or Redis Cluster */
  readonly redis?: RedisTopology
}

export function clusterFile (dir: string): string {
  return join(resolve(dir), 'cluster.json')
}

export function readCluster (dir: string): ClusterFile {
  const file = clusterFile(dir)
  if (!existsSync(file)) throw new Error(`no cluster in ${resolve(dir)} (no cluster.json); run switchboard cluster up first`)
  return JSON.parse(readFileSync(file, 'utf8')) as ClusterFile
}

export async function up (options: UpOptions): Promise<ClusterFile> {
  const dir = resolve(options.dir)
  const progress = options.progress ?? (() => {})
  if (existsSync(clusterFile(dir))) {
    const existing = readCluster(dir)
    if (existing.components.some((c) => isOurs(c.pid, dir))) throw new Error(`a cluster is already running in ${dir}; run switchboard cluster down first`)
  }
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`)
  if (!existsSync(NGINX)) throw new Error(`nginx not found at ${NGINX} (apt-get install nginx-light, or set NGINX_BIN)`)
  for (const sub of ['logs', 'run', 'redis']) mkdirSync(join(dir, sub), { recursive: true })
  const components: Component[] = []
  const cluster = (): ClusterFile => ({
    dir,
    createdAt: new Date().toISOString(),
    entry: components.find((c) => c.role === 'nginx')?.url ?? '',
    redisUrl,
    redis: topology,
    sentinel: topology === 'cluster' ? { name: '', addresses: [] } : { name: SENTINEL_NAME, addresses: sentinelPorts.map((p) => `127.0.0.1:${p}`) },
    adminToken,
    components
  })
  // Written after every start, so `down` can clean up even after a failed `up`.
  const save = (): void => writeFileSync(clusterFile(dir), `${JSON.stringify(cluster(), null, 2)}\n`, { mode: 0o600 })
  const add = (role: Role, id: string, port: number, pid: number, log: string, url?: string): void => {
    components.push({ role, id, pid, host: '127.0.0.1', port, log, ...(url === undefined ? {} : { url }) })
    save()
  }
  const step = async (what: string, run: () => Promise<void>): Promise<void> => {
    const started = Date.now()
    progress(`  starting ${what} …`)
    await run()
    progress(`  ${what} ready (${Date.now() - started} ms)`)
  }

  const topology = options.redis ?? 'sentinel'
  const masterPort = await freePort()
  const sentinelPorts = await Promise.all(Array.from({ length: SENTINELS }, async () => await freePort()))
  const clusterPorts = await Promise.all(Array.from({ length: 2 * CLUSTER_PRIMARIES }, async () => await freePort()))
  const redisUrl = topology === 'cluster'
    ? `redis+cluster://${clusterPorts.map((p) => `127.0.0.1:${p}`).join(',')}`
    : `redis+sentinel://${sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',')}/${SENTINEL_NAME}`
  const tokenSecret = randomBytes(24).toString('base64url')
  const adminToken = randomBytes(24).toString('base64url')

  const startRedis = async (role: Role, id: string, port: number, replicaOf?: number): Promise<void> => {
    const nodeDir = join(dir, 'redis', id)
    mkdirSync(nodeDir, { recursive: true })
    const conf = join(nodeDir, 'redis.conf')
    // A cluster node keeps its view of the cluster in nodes.conf; a replica's primary is chosen by `redis-cli --cluster create`.
    const extra = role === 'redis-cluster-node'
      ? 'cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-node-timeout 3000\ncluster-replica-validity-factor 0'
      : replicaOf === undefined ? '' : `replicaof 127.0.0.1 ${replicaOf}`
    writeFileSync(conf, fill(template('redis/redis.conf.template'), { PORT: String(port), DIR: nodeDir, ROLE: extra }))
    const log = join(dir, 'logs', `${id}.log`)
    add(role, id, port, startDetached(REDIS, [conf], log, {}, dir), log, `redis://127.0.0.1:${port}`)
    await waitFor(async () => (await redisAnswers(port)) === 'PONG', 10_000, `${id} to answer PING`)
  }

  /** Redis master + replicas, then the Sentinels watching them. */
  const startSentinelRedis = async (): Promise<void> => {
    await step('Redis master', async () => { await startRedis('redis-master', 'redis-master', masterPort) })
    for (let n = 1; n <= REPLICAS; n++) {
      await step(`Redis replica ${n}`, async () => {
        const port = await freePort()
        await startRedis('redis-replica', `redis-replica-${n}`, port, masterPort)
        await waitFor(async () => /master_link_status:up/.test(String(await redisAnswers(port, ['INFO', 'replication']))), 10_000, `replica ${n} to sync`)
      })
    }
    for (const [i, port] of sentinelPorts.entries()) {
      await step(`Sentinel ${i + 1}`, async () => {
        const id = `sentinel-${i + 1}`
        const nodeDir = join(dir, 'redis', id)
        mkdirSync(nodeDir, { recursive: true })
        const conf = join(nodeDir, 'sentinel.conf')
        writeFileSync(conf, fill(template('redis/sentinel.conf.template'), { PORT: String(port), DIR: nodeDir, NAME: SENTINEL_NAME, MASTER_PORT: String(masterPort) }))
        const log = join(dir, 'logs', `${id}.log`)
        add('sentinel', id, port, startDetached(REDIS, [conf, '--sentinel'], log, {}, dir), log, `redis://127.0.0.1:${port}`)
        await waitFor(async () => Array.isArray(await redisAnswers(port, ['SENTINEL', 'get-master-addr-by-name', SENTINEL_NAME])), 10_000, `${id} to see the master`)
      })
    }
    await step('Sentinels agreeing on 2 replicas', async () => {
      await waitFor(async () => {
        for (const port of sentinelPorts) {
          const replicas = await redisAnswers(port, ['SENTINEL', 'replicas', SENTINEL_NAME]) as unknown[]
          const sentinels = await redisAnswers(port, ['SENTINEL', 'sentinels', SENTINEL_NAME]) as unknown[]
          if (replicas.length < REPLICAS || sentinels.length < SENTINELS - 1) return false
        }
        return true
      }, 20_000, 'every Sentinel to know both replicas and the other Sentinels')
    })
  }

  try {
    progress(`Switchboard cluster in ${dir}`)
    if (topology === 'cluster') {
      for (const [i, port] of clusterPorts.entries()) {
        await step(`Redis Cluster node ${i + 1}`, async () => { await startRedis('redis-cluster-node', `redis-node-${i + 1}`, port) })
      }
      await step(`Redis Cluster (${CLUSTER_PRIMARIES} primaries + ${CLUSTER_PRIMARIES} replicas)`, async () => { await createCluster(clusterPorts, 1) })
    } else {
      await startSentinelRedis()
    }

    const common = {
      REDIS_URL: redisUrl, TOKEN_SECRET: tokenSecret, HOST: '127.0.0.1', LOG_LEVEL: 'info', DRAIN_TIMEOUT_MS: '3000', ...options.env
    }
    const node = async (role: Role, id: string, cliRole: string, env: Record<string, string>, url: (port: number) => string): Promise<number> => {
      const port = await freePort()
      const log = join(dir, 'logs', `${id}.log`)
      const pid = startDetached(process.execPath, [CLI, cliRole], log, { ...common, ...env, PORT: String(port) }, dir)
      add(role, id, port, pid, log, url(port))
      return port
    }
    const registryPorts: number[] = []
    for (let n = 1; n <= (options.registries ?? DEFAULT_REGISTRIES); n++) {
      await step(`registry ${n}`, async () => {
        // nginx runs on this machine: its X-Forwarded-For (the client's address) is the one to believe.
        const env = { AUTH_MODE: 'dev', ADMIN_TOKEN: adminToken, TRUSTED_PROXIES: '127.0.0.1' }
        const port = await node('registry', `registry-${n}`, 'registry', env, (p) => `http://127.0.0.1:${p}`)
        registryPorts.push(port)
        await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200, 15_000, `registry ${n}`)
      })
    }
    await step('nginx', async () => {
      const port = await freePort()
      const conf = join(dir, 'run', 'nginx.conf')
      writeFileSync(conf, nginxConfig({ root: packageRoot(), runDir: join(dir, 'run'), logDir: join(dir, 'logs'), listen: `127.0.0.1:${port}`, registryPorts }))
      const log = join(dir, 'logs', 'nginx.log')
      add('nginx', 'nginx', port, startDetached(NGINX, ['-c', conf, '-p', join(dir, 'run')], log, {}, dir), log, `http://127.0.0.1:${port}`)
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200, 10_000, 'nginx')
    })
    for (let n = 1; n <= (options.sockets ?? DEFAULT_SOCKETS); n++) {
      await step(`socket server s${n}`, async () => {
        const port = await freePort()
        const log = join(dir, 'logs', `socket-s${n}.log`)
        const url = `ws://127.0.0.1:${port}/ws`
        const pid = startDetached(process.execPath, [CLI, 'socket'], log, { ...common, PORT: String(port), SERVER_ID: `s${n}`, PUBLIC_URL: url, ADMIN_TOKEN: adminToken }, dir)
        add('socket', `s${n}`, port, pid, log, url)
        await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200, 15_000, `socket server s${n}`)
      })
    }
    await step('health checker', async () => {
      const port = await node('health', 'health', 'health', {}, (p) => `http://127.0.0.1:${p}`)
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200, 15_000, 'health checker')
    })
    await step('every socket server in the fleet', async () => {
      const entry = cluster().entry
      await waitFor(async () => {
        const { servers } = await (await fetch(`${entry}/servers`)).json() as { servers: Array<{ alive: boolean }> }
        return servers.filter((s) => s.alive).length === (options.sockets ?? DEFAULT_SOCKETS)
      }, 15_000, 'all socket servers registered')
    })
  } catch (err) {
    progress(`  failed: ${(err as Error).message}; logs are in ${join(dir, 'logs')}; stopping what started`)
    await down(dir).catch(() => {})
    throw err
  }
  save()
  return cluster()
}

/** Stops everything `up` started in `dir` (and nothing else), front to back. */
export async function down (dir: string, progress: (line: string) => void = () => {}): Promise<ComponentStatus[]> {
  const cluster = readCluster(dir)
  const order: Role[] = ['nginx', 'registry', 'health', 'socket', 'sentinel', 'redis-replica', 'redis-master', 'redis-cluster-node']
  const stopped: ComponentStatus[] = []
  for (const role of order) {
    const group = cluster.components.filter((c) => c.role === role)
    await Promise.all(group.map(async (c) => {
      const was = isOurs(c.pid, cluster.dir)
      await stopProcess(c.pid, cluster.dir, role === 'socket' ? 8000 : 5000)
      if (was) progress(`  stopped ${c.id} (pid ${c.pid})`)
      stopped.push({ ...c, running: false, healthy: false })
    }))
  }
  for (const c of cluster.components) {
    await waitFor(async () => await portIsFree(c.port), 5000, `port ${c.port} (${c.id}) to be free`)
  }
  return stopped
}

export async function status (dir: string): Promise<Omit<ClusterFile, 'components'> & { components: ComponentStatus[] }> {
  const cluster = readCluster(dir)
  const components = await Promise.all(cluster.components.map(async (c): Promise<ComponentStatus> => {
    const running = isOurs(c.pid, cluster.dir)
    if (!running) return { ...c, running, healthy: false, detail: 'not running' }
    const health = await checkHealth(c)
    return { ...c, running, ...health }
  }))
  return { ...cluster, components }
}

export function table (components: ComponentStatus[] | Component[]): string {
  const rows = components.map((c) => {
    const s = c as Partial<ComponentStatus>
    const state = s.running === undefined ? 'up' : s.running ? (s.healthy === true ? 'healthy' : 'UNHEALTHY') : 'DOWN'
    return [c.role, c.id, String(c.pid), c.url ?? `127.0.0.1:${c.port}`, state, s.detail ?? '']
  })
  const header = ['role', 'id', 'pid', 'address', 'state', 'detail']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  return [header, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n')
}
