/**
 * docker-compose.yml describes the same topology as `switchboard cluster up`
 * (there is no Docker engine here: the file is validated, not run).
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { parse } from 'yaml'
import { CLUSTER_PRIMARIES, DEFAULT_REGISTRIES, ENV_BY_ROLE, REPLICAS, SENTINELS, SENTINEL_NAME } from '../infra/cluster/index.js'
import { registryConfig } from '../servers/config.js'

interface Service {
  command?: string[]
  networks?: Record<string, { ipv4_address?: string }>
  environment?: Record<string, string>
  ports?: string[]
  volumes?: string[]
  image?: string
  build?: string
  healthcheck?: unknown
  restart?: string
  profiles?: string[]
}

const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as {
  services: Record<string, Service>
  networks?: Record<string, { ipam?: { config?: Array<{ subnet?: string }> } }>
  volumes?: Record<string, unknown>
}
const services = compose.services
/** The Switchboard topology; optional extras (the monitoring profile) are checked in metrics-infra.test.ts. */
const topology = Object.fromEntries(Object.entries(services).filter(([, service]) => service.profiles === undefined))
const byRole = (role: string): Array<[string, Service]> => Object.entries(topology).filter(([name, service]) => {
  if (role === 'redis-master') return name === 'redis-master'
  if (role === 'redis-replica') return name.startsWith('redis-replica-')
  if (role === 'sentinel') return name.startsWith('sentinel-')
  if (role === 'nginx') return name === 'nginx'
  return service.command?.[0] === role
})

t.test('docker-compose config validates the file', async (t) => {
  const { stdout } = await promisify(execFile)('docker-compose', ['-f', 'docker-compose.yml', '--profile', 'monitoring', 'config', '--services'], {
    env: { ...process.env, TOKEN_SECRET: 'compose-validation-secret-0123' }
  })
  t.same(stdout.trim().split('\n').sort(), Object.keys(services).sort(), 'docker-compose sees every service')
})

t.test('the same components as the launcher', async (t) => {
  t.equal(byRole('redis-master').length, 1)
  t.equal(byRole('redis-replica').length, REPLICAS)
  t.equal(byRole('sentinel').length, SENTINELS)
  t.equal(byRole('registry').length, DEFAULT_REGISTRIES)
  t.equal(byRole('nginx').length, 1)
  t.ok(byRole('socket').length >= 2, 'at least two socket servers')
  t.equal(byRole('health').length, 1)
  t.equal(Object.keys(topology).length, 1 + REPLICAS + SENTINELS + DEFAULT_REGISTRIES + 1 + byRole('socket').length + 1, 'nothing else')
})

t.test('the same configuration as the launcher gives each role', async (t) => {
  for (const role of ['registry', 'socket', 'health'] as const) {
    for (const [name, service] of byRole(role)) {
      const env = service.environment ?? {}
      for (const key of [...ENV_BY_ROLE[role], 'PORT']) t.ok(key in env, `${name} has ${key}`)
      const url = env.REDIS_URL ?? ''
      t.match(url, new RegExp(`^\\$\\{REDIS_URL:-redis\\+sentinel://(sentinel-\\d:26379,?){${SENTINELS}}/${SENTINEL_NAME}\\}$`),
        `${name} reaches Redis through all ${SENTINELS} Sentinels unless REDIS_URL says otherwise`)
      t.ok(service.healthcheck !== undefined || service.build !== undefined, `${name} is health-checked (image HEALTHCHECK)`)
      t.equal(service.restart, 'unless-stopped', `${name} restarts`)
    }
  }
  const ids = new Set<string>()
  for (const [name, service] of byRole('socket')) {
    const env = service.environment ?? {}
    ids.add(env.SERVER_ID ?? '')
    const port = env.PORT ?? ''
    t.ok(service.ports?.includes(`${port}:${port}`), `${name} publishes its own port ${port}: clients connect to it directly`)
    t.match(env.PUBLIC_URL, new RegExp(`^wss?://[^/]+:${port}/ws$`), `${name} advertises that port`)
  }
  t.equal(ids.size, byRole('socket').length, 'socket server ids are unique')
  t.ok(services.nginx?.ports?.length === 1, 'nginx is the published entry point')
  for (const [name, service] of [...byRole('redis-master'), ...byRole('redis-replica'), ...byRole('sentinel')]) {
    t.ok(service.healthcheck !== undefined, `${name} is health-checked`)
  }
})

t.test('nginx runs the template the launcher fills', async (t) => {
  const template = readFileSync('infra/nginx/nginx.conf.template', 'utf8')
  const registries = byRole('registry').map(([name, service]) => `    server ${name}:${service.environment?.PORT ?? ''} max_fails=1 fail_timeout=5s;`)
  const expected = template.replace(/\{\{(\w+)\}\}/g, (_, key: string) => ({ RUN_DIR: '/tmp', LOG_DIR: '/var/log/nginx', LISTEN: '80', KEEPALIVE_REQUESTS: '1000', UPSTREAMS: registries.join('\n') } as Record<string, string>)[key] ?? '')
  const actual = readFileSync('infra/compose/nginx.conf', 'utf8').split('\n').slice(1).join('\n')
  t.equal(actual, expected, 'infra/compose/nginx.conf is the template with the compose values')
  t.ok(services.nginx?.volumes?.some((v) => v.startsWith('./infra/compose/nginx.conf:')), 'and compose mounts it')
})

t.test('registries believe X-Forwarded-For from nginx alone, and nginx sets it to the client address', async (t) => {
  const address = services.nginx?.networks?.default?.ipv4_address ?? ''
  t.match(address, /^172\.28\.0\.\d+$/, 'nginx has a fixed address')
  t.equal(compose.networks?.default?.ipam?.config?.[0]?.subnet, '172.28.0.0/24', 'on the default network, whose subnet is fixed')
  for (const [name, service] of byRole('registry')) t.equal(service.environment?.TRUSTED_PROXIES, address, `${name} trusts exactly nginx`)
  const template = readFileSync('infra/nginx/nginx.conf.template', 'utf8')
  t.match(template, /proxy_set_header X-Forwarded-For \$remote_addr;/, 'set, not appended to')
  t.notMatch(template, /proxy_add_x_forwarded_for/)
})

t.test('every Redis node and Sentinel keeps its data in a volume, with an append-only file', async (t) => {
  for (const [name, service] of [...byRole('redis-master'), ...byRole('redis-replica')]) {
    const mount = service.volumes?.find((v) => v.endsWith(':/etc/switchboard/redis.conf:ro')) ?? ''
    const file = mount.split(':')[0] ?? ''
    t.match(file, /^\.\/infra\/compose\/redis-(master|replica)\.conf$/, `${name} runs a compose config file`)
    const conf = readFileSync(file, 'utf8')
    t.match(conf, /^appendonly yes$/m, `${name}: AOF on`)
    t.notMatch(conf, /^dir /m, `${name}: in the image's working folder, /data`)
    t.match(conf, /^maxmemory-policy noeviction$/m, `${name}: refuses writes rather than evicting keys`)
    t.ok(service.volumes?.includes(`${name}:/data`), `${name}: /data is a named volume`)
    t.match(service.command?.join(' '), /\[ -f \/data\/redis\.conf \] \|\| cp/, `${name}: the config is copied on the first start only (Sentinel rewrites it)`)
  }
  t.match(readFileSync('infra/compose/redis-replica.conf', 'utf8'), /^replicaof redis-master 6379$/m)
  for (const [name, service] of byRole('sentinel')) {
    t.ok(service.volumes?.includes(`${name}:/data`), `${name}: its state survives a restart`)
    t.match(service.command?.join(' '), /\[ -f \/data\/sentinel\.conf \] \|\|/, `${name}: its rewritten config is kept`)
  }
  t.match(readFileSync('infra/compose/redis-cluster-node.conf', 'utf8'), /^appendonly yes$/m, 'Redis Cluster nodes too')
  t.match(readFileSync('infra/redis/redis.conf.template', 'utf8'), /^appendonly yes$/m, 'and the nodes of switchboard cluster up')
})

t.test('the redis-cluster profile: the launcher\'s Redis Cluster, and REDIS_URL points every component at it', async (t) => {
  const nodes = Object.entries(services).filter(([name]) => name.startsWith('redis-node-'))
  t.equal(nodes.length, 2 * CLUSTER_PRIMARIES, `${CLUSTER_PRIMARIES} primaries + ${CLUSTER_PRIMARIES} replicas`)
  for (const [name, service] of nodes) {
    t.same(service.profiles, ['redis-cluster'], `${name} is in the profile`)
    t.ok(service.healthcheck !== undefined, `${name} is health-checked`)
  }
  t.match(readFileSync('infra/compose/redis-cluster-node.conf', 'utf8'), /^cluster-enabled yes$/m)
  const init = services['redis-cluster-init']
  t.same(init?.profiles, ['redis-cluster'])
  t.match(init?.command?.join(' '), /--cluster create[\s\S]*--cluster-replicas 1 --cluster-yes/, 'a one-shot job joins them')
  const url = `redis+cluster://${nodes.slice(0, 3).map(([name]) => `${name}:6379`).join(',')}`
  const { stdout } = await promisify(execFile)('docker-compose', ['-f', 'docker-compose.yml', '--profile', 'redis-cluster', 'config'], {
    env: { ...process.env, TOKEN_SECRET: 'compose-validation-secret-0123', REDIS_URL: url }
  })
  const resolved = parse(stdout, { merge: true }) as { services: Record<string, Service> }
  for (const role of ['registry', 'socket', 'health'] as const) {
    for (const [name] of byRole(role)) t.equal(resolved.services[name]?.environment?.REDIS_URL, url, `${name} gets REDIS_URL=${url}`)
  }
})

t.test('registries sign in with JWTs unless AUTH_MODE=dev is asked for: nginx publishes them on every interface', async (t) => {
  // Without the caller's own AUTH_MODE or JWT_SECRET, if it has any: the file's defaults.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'AUTH_MODE' && name !== 'JWT_SECRET'))
  const resolve = async (env: Record<string, string>): Promise<Record<string, Service>> => {
    const { stdout } = await promisify(execFile)('docker-compose', ['-f', 'docker-compose.yml', 'config'], {
      env: { ...inherited, TOKEN_SECRET: 'compose-validation-secret-0123', ...env }
    })
    return (parse(stdout, { merge: true }) as { services: Record<string, Service> }).services
  }
  const defaults = await resolve({})
  t.ok(services.nginx?.ports?.every((p) => !p.startsWith('127.0.0.1:')), 'nginx is reachable from other machines')
  for (const [name] of byRole('registry')) {
    const env = defaults[name]?.environment ?? {}
    t.equal(env.AUTH_MODE, 'jwt', `${name}: jwt by default`)
    t.throws(() => registryConfig(env), /JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL is required/,
      `${name}: without JWT_SECRET it refuses to start, rather than letting anyone in`)
  }
  const demo = await resolve({ AUTH_MODE: 'dev' })
  for (const [name] of byRole('registry')) t.equal(demo[name]?.environment?.AUTH_MODE, 'dev', `${name}: dev only when asked for`)
})
