/**
 * `REDIS_URL` → ioredis options.
 *   redis://[[user]:password@]host[:port][/db]      one server (rediss:// for TLS)
 *   redis+sentinel://[[user]:password@]h1:p1,h2:p2[,…]/masterName[/db]
 *   redis+cluster://[[user]:password@]h1:p1[,h2:p2…]     Redis Cluster (seed nodes)
 */
import type { RedisOptions } from 'ioredis'

export interface HostPort { readonly host: string, readonly port: number }

export type ParsedRedisUrl =
  | { readonly mode: 'single', readonly url: string }
  | { readonly mode: 'sentinel', readonly options: RedisOptions }
  | { readonly mode: 'cluster', readonly nodes: HostPort[], readonly options: RedisOptions }

const CLUSTER = /^redis\+cluster:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/@]+)\/?$/
const SENTINEL = /^redis\+sentinel:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/@]+)\/([^/?#]+)(?:\/(\d+))?\/?$/

export function parseRedisUrl (value: string): ParsedRedisUrl {
  if (value.startsWith('redis://') || value.startsWith('rediss://')) {
    let url: URL
    try {
      url = new URL(value)
    } catch {
      throw new Error(`not a valid redis URL: ${redact(value)}`)
    }
    if (url.hostname === '') throw new Error(`redis URL has no host: ${redact(value)}`)
    const db = url.pathname.replace(/^\//, '')
    if (db !== '' && !/^\d+$/.test(db)) throw new Error(`redis URL database must be a number: ${redact(value)}`)
    return { mode: 'single', url: value }
  }
  if (value.startsWith('redis+sentinel://')) {
    const match = SENTINEL.exec(value)
    if (match === null) throw new Error(`expected redis+sentinel://host:port[,host:port…]/masterName[/db], got ${redact(value)}`)
    const [, username, password, hostList = '', name = '', db] = match
    const sentinels = hostPorts(hostList, 'sentinel')
    const options: RedisOptions = {
      sentinels,
      name: decodeURIComponent(name),
      // ioredis only notices a hung (not closed) master if asked to (ioredis#1314).
      failoverDetector: true
    }
    if (username !== undefined && username !== '') options.username = decodeURIComponent(username)
    if (password !== undefined && password !== '') {
      options.password = decodeURIComponent(password)
      options.sentinelPassword = decodeURIComponent(password)
    }
    if (db !== undefined) options.db = Number(db)
    return { mode: 'sentinel', options }
  }
  if (value.startsWith('redis+cluster://')) {
    const match = CLUSTER.exec(value)
    if (match === null) throw new Error(`expected redis+cluster://host:port[,host:port…], got ${redact(value)}`)
    const [, username, password, hostList = ''] = match
    const options: RedisOptions = {}
    if (username !== undefined && username !== '') options.username = decodeURIComponent(username)
    if (password !== undefined && password !== '') options.password = decodeURIComponent(password)
    return { mode: 'cluster', nodes: hostPorts(hostList, 'cluster node'), options }
  }
  throw new Error(`expected redis://, rediss://, redis+sentinel:// or redis+cluster://, got ${redact(value)}`)
}

function hostPorts (list: string, what: string): HostPort[] {
  return list.split(',').map((hostPort) => {
    const hp = /^([^:]+|\[[^\]]+\]):(\d{1,5})$/.exec(hostPort)
    if (hp === null) throw new Error(`${what} address must be host:port, got ${hostPort}`)
    return { host: (hp[1] ?? '').replace(/^\[|\]$/g, ''), port: Number(hp[2]) }
  })
}

/** The URL with any password masked, for error messages and logs. */
export function redact (value: string): string {
  return value.replace(/\/\/([^:@/]*):([^@/]*)@/, '//$1:***@')
}
