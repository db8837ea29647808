/**
 * `allocate`: autocannon -c 50 against GET /allocate (a registry with 4
 * registered socket servers) and against a bare Fastify route on the same
 * machine; then against /allocate through nginx in front of 2 registries.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import { NGINX, nginxConfig } from '../../infra/nginx/config.js'
import { freePort, killOnExit } from '../../infra/redis/local.js'
import { RedisStore } from '../../plugins/store/index.js'
import { packageRoot, startNode } from '../lib/proc.js'
import { startSwitchboard, switchboardEnv } from '../lib/systems.js'
import { round } from '../lib/stats.js'

export interface AllocateResult {
  readonly requestsPerSecond: number
  readonly p99Ms: number
  readonly errors: number
  readonly non2xx: number
}

async function cannon (url: string, durationSec: number): Promise<AllocateResult> {
  const result = await autocannon({ url, connections: 50, duration: durationSec })
  return {
    requestsPerSecond: round(result.requests.average),
    p99Ms: round(result.latency.p99, 2),
    errors: result.errors,
    non2xx: result.non2xx
  }
}

/** nginx (from infra/nginx) on a free port in front of `registryPorts`; `stop` removes its folder too. */
async function startNginx (registryPorts: number[]): Promise<{ url: string, stop (): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-nginx-'))
  mkdirSync(join(dir, 'logs'))
  const port = await freePort()
  const conf = join(dir, 'nginx.conf')
  writeFileSync(conf, nginxConfig({ root: packageRoot(), runDir: dir, logDir: join(dir, 'logs'), listen: `127.0.0.1:${port}`, registryPorts }))
  const child = spawn(NGINX, ['-c', conf, '-p', dir], { stdio: 'ignore' })
  killOnExit(child)
  const url = `http://127.0.0.1:${port}`
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  }
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { url, stop }
    } catch {}
    if (child.exitCode !== null || i > 200) {
      await stop()
      throw new Error(`nginx (${NGINX}) did not start`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export async function allocateScenario (durationSec: number): Promise<{ switchboard: AllocateResult, bare: AllocateResult, nginx: AllocateResult }> {
  const system = await startSwitchboard(0)
  const client = new Redis(system.redis.url)
  const subscriber = client.duplicate()
  const store = new RedisStore({ client, subscriber })
  // Four socket servers that never fill up (capacity far above what the run reserves).
  const beat = async (): Promise<void> => {
    for (let n = 1; n <= 4; n++) await store.heartbeat({ id: `s${n}`, url: `ws://127.0.0.1:1/s${n}`, capacity: 1e9, draining: false, startedAt: 0 }, 0)
  }
  await beat()
  const beating = setInterval(() => { beat().catch(() => {}) }, 500)
  const stops: Array<() => Promise<void>> = []
  try {
    const bare = await startNode('dist/bench/peers/bare/server.js', [], {})
    stops.push(bare.stop)
    const switchboard = await cannon(`${system.registryUrl}/allocate?user=bench`, durationSec)
    const bareResult = await cannon(`http://127.0.0.1:${bare.port}/bare`, durationSec)
    // The scaled-out tier: a second registry on the same Redis, both behind nginx.
    const second = await startNode('dist/servers/cli.js', ['registry'], switchboardEnv(system.redis.url))
    stops.push(second.stop)
    const nginx = await startNginx([Number(new URL(system.registryUrl).port), second.port])
    stops.push(nginx.stop)
    const nginxResult = await cannon(`${nginx.url}/allocate?user=bench`, durationSec)
    return { switchboard, bare: bareResult, nginx: nginxResult }
  } finally {
    clearInterval(beating)
    client.disconnect()
    subscriber.disconnect()
    for (const stop of stops.reverse()) await stop()
    await system.stop()
  }
}
