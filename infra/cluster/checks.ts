/** Is a component healthy? Redis and Sentinel answer PING; the others GET /healthz. */
import { Redis } from 'ioredis'
import type { Component } from './types.js'

export async function redisAnswers (port: number, command: string[] = ['PING']): Promise<unknown> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 1000 })
  client.on('error', () => {})
  try {
    await client.connect()
    return await client.call(command[0] ?? 'PING', ...command.slice(1))
  } finally {
    client.disconnect()
  }
}

export async function httpHealthy (url: string): Promise<boolean> {
  const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1500) })
  return response.status === 200
}

export async function checkHealth (component: Component): Promise<{ healthy: boolean, detail?: string }> {
  try {
    switch (component.role) {
      case 'redis-master':
      case 'redis-replica': {
        const info = String(await redisAnswers(component.port, ['INFO', 'replication']))
        const role = /role:(\w+)/.exec(info)?.[1] ?? '?'
        return { healthy: true, detail: `role ${role}` }
      }
      case 'redis-cluster-node': {
        const info = String(await redisAnswers(component.port, ['INFO', 'replication']))
        const state = /cluster_state:(\w+)/.exec(String(await redisAnswers(component.port, ['CLUSTER', 'INFO'])))?.[1] ?? '?'
        return { healthy: state === 'ok', detail: `${/role:(\w+)/.exec(info)?.[1] === 'master' ? 'primary' : 'replica'}, cluster ${state}` }
      }
      case 'sentinel': {
        const master = await redisAnswers(component.port, ['SENTINEL', 'get-master-addr-by-name', 'mymaster']) as string[] | null
        return { healthy: master !== null, detail: master === null ? 'no master' : `master ${master.join(':')}` }
      }
      default:
        return { healthy: component.url !== undefined && await httpHealthy(component.url.replace(/^ws/, 'http').replace(/\/ws$/, '')) }
    }
  } catch (err) {
    return { healthy: false, detail: (err as Error).message }
  }
}
