/**
 * Configuration is validated once, at start, naming every bad variable.
 */
import t from 'tap'
import { registryConfig, socketConfig, standaloneConfig } from '../servers/config.js'
import { parseRedisUrl, redact } from '../plugins/redis/url.js'

const SECRET = 'x'.repeat(16)

t.test('defaults apply and strings are converted', async (t) => {
  const socket = socketConfig({ REDIS_URL: 'redis://127.0.0.1:6390', TOKEN_SECRET: SECRET, SERVER_ID: 's1', PORT: '4100' })
  t.match(socket, { PORT: 4100, HOST: '0.0.0.0', CAPACITY: 10_000, HEARTBEAT_MS: 1000, MAX_PAYLOAD: 65_536, SB_PREFIX: 'sb:', LOG_LEVEL: 'info', SERVER_ID: 's1' })
  t.match(socketConfig({ REDIS_URL: 'redis://h', TOKEN_SECRET: SECRET, PORT: '4100' }).SERVER_ID, /-4100$/, 'server id defaults to host-port')
  const registry = registryConfig({ REDIS_URL: 'redis://h', TOKEN_SECRET: SECRET, AUTH_MODE: 'dev' })
  t.match(registry, { PORT: 3000, AUTH_MODE: 'dev', HEARTBEAT_TIMEOUT_MS: 3000 })
  t.match(standaloneConfig({}), { PORT: 3000, HOST: '127.0.0.1', AUTH_MODE: 'dev' })
})

t.test('every bad variable is named, with what it expects', async (t) => {
  try {
    socketConfig({ REDIS_URL: 'http://nope', TOKEN_SECRET: 'short', SERVER_ID: 'bad id', PORT: 'eighty', CAPACITY: '0', LOG_LEVEL: 'loud', PUBLIC_URL: 'http://x' })
    t.fail('should throw')
  } catch (err) {
    const message = (err as Error).message
    t.equal((err as { code?: string }).code, 'SB_ERR_INVALID_CONFIG')
    for (const name of ['REDIS_URL', 'TOKEN_SECRET', 'SERVER_ID', 'PORT', 'CAPACITY', 'LOG_LEVEL', 'PUBLIC_URL']) {
      t.match(message, new RegExp(`\\b${name}\\b`), `${name} is named`)
    }
    t.match(message, /PORT must be a TCP port, 0-65535 \(got "eighty"\)/)
  }
  t.throws(() => registryConfig({}), /REDIS_URL is required[\s\S]*TOKEN_SECRET is required/)
  t.throws(() => registryConfig({ REDIS_URL: 'redis://h', TOKEN_SECRET: SECRET }), /JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL is required when AUTH_MODE is 'jwt'/)
  t.throws(() => registryConfig({ REDIS_URL: 'redis://h', TOKEN_SECRET: SECRET, AUTH_MODE: 'dev', TLS_CERT: '/nonexistent.pem' }), /TLS_CERT and TLS_KEY go together[\s\S]*TLS_CERT: no such file/)
  t.throws(() => socketConfig({ REDIS_URL: 'redis://h', TOKEN_SECRET: SECRET, ALLOWED_ORIGINS: 'chat.example.com' }), /ALLOWED_ORIGINS must be comma-separated browser origins/)
  t.throws(() => registryConfig({ REDIS_URL: 'redis://h', TOKEN_SECRET: SECRET, AUTH_MODE: 'dev', ADMIN_TOKEN: 'short' }), /ADMIN_TOKEN must be the bearer token for \/admin/)
  t.equal(registryConfig({ REDIS_URL: 'redis://h', TOKEN_SECRET: SECRET, AUTH_MODE: 'dev', ADMIN_TOKEN: SECRET }).ADMIN_TOKEN, SECRET)
  t.equal(standaloneConfig({ ADMIN_TOKEN: SECRET }).ADMIN_TOKEN, SECRET)
})

t.test('REDIS_URL forms', async (t) => {
  t.same(parseRedisUrl('redis://127.0.0.1:6379/2'), { mode: 'single', url: 'redis://127.0.0.1:6379/2' })
  t.same(parseRedisUrl('rediss://:pw@h:6380'), { mode: 'single', url: 'rediss://:pw@h:6380' })
  const sentinel = parseRedisUrl('redis+sentinel://:s3cret@10.0.0.1:26379,sentinel-b:26380,[::1]:26381/mymaster/3')
  t.match(sentinel, {
    mode: 'sentinel',
    options: {
      sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: 'sentinel-b', port: 26380 }, { host: '::1', port: 26381 }],
      name: 'mymaster',
      db: 3,
      password: 's3cret',
      sentinelPassword: 's3cret',
      failoverDetector: true
    }
  })
  t.same(parseRedisUrl('redis+cluster://u:p%40ss@10.0.0.1:7000,redis-b:7001,[::1]:7002'), {
    mode: 'cluster',
    nodes: [{ host: '10.0.0.1', port: 7000 }, { host: 'redis-b', port: 7001 }, { host: '::1', port: 7002 }],
    options: { username: 'u', password: 'p@ss' }
  })
  t.same(parseRedisUrl('redis+cluster://h1:7000/'), { mode: 'cluster', nodes: [{ host: 'h1', port: 7000 }], options: {} })
  t.throws(() => parseRedisUrl('redis+cluster://h1'), /host:port/)
  t.throws(() => parseRedisUrl('redis+cluster://h1:7000/0'), /redis\+cluster:\/\/host:port/)
  t.throws(() => parseRedisUrl('redis+sentinel://h1:26379'), /masterName/)
  t.throws(() => parseRedisUrl('redis+sentinel://h1/m'), /host:port/)
  t.throws(() => parseRedisUrl('redis://h/abc'), /database must be a number/)
  t.throws(() => parseRedisUrl('memcached://h'), /expected redis:\/\//)
  t.equal(redact('redis://user:hunter2@h:1'), 'redis://user:***@h:1')
  t.notMatch(String((() => { try { parseRedisUrl('bogus://u:hunter2@h') } catch (e) { return (e as Error).message } })()), /hunter2/, 'passwords stay out of errors')
})
