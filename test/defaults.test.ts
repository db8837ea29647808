/**
 * One default per setting: a server started from an empty environment runs
 * with exactly what its plugins do when an app registers them without options.
 * Each side is computed as it runs (servers/options.ts maps the configuration,
 * the plugins' own resolve functions apply their defaults), so a literal put
 * back in one place (the environment schema, the command line's mapping, or a
 * plugin) makes its pair differ here.
 */
import t from 'tap'
import { healthConfig, registryConfig, socketConfig, standaloneConfig } from '../servers/config.js'
import {
  healthOptions, registryOptions, socketOptions, socketStoreLimits, standaloneRegistryOptions, standaloneSocketOptions, storageLimits
} from '../servers/options.js'
import { resolveHealthOptions } from '../plugins/health/options.js'
import { DEFAULT_KEY_PREFIX } from '../plugins/names.js'
import { resolveRegistryOptions } from '../plugins/registry/options.js'
import type { ResolvedRegistryOptions } from '../plugins/registry/options.js'
import { resolveSocketOptions } from '../plugins/socket/options.js'
import { resolveStoreLimits } from '../plugins/store/types.js'

const SECRET = 'defaults-test-secret-0123456789'
const REDIS = { REDIS_URL: 'redis://127.0.0.1:6399', TOKEN_SECRET: SECRET }

/** Everything but the authenticate function (the dev authenticator is made anew each time). */
function settings (resolved: ResolvedRegistryOptions): Omit<ResolvedRegistryOptions, 'authenticate'> {
  const { authenticate: _authenticate, ...rest } = resolved
  return rest
}

t.test('registry: the command line with an empty environment, and the plugin without options', async (t) => {
  const cli = resolveRegistryOptions(registryOptions(registryConfig({ ...REDIS, AUTH_MODE: 'dev' })))
  const plugin = resolveRegistryOptions({ tokenSecret: SECRET, auth: { mode: 'dev' } })
  t.same(settings(cli), settings(plugin))
  t.not(plugin.allocateRateLimit, false)
  t.ok(Object.isFrozen(plugin) && Object.isFrozen(plugin.userLimits), 'the resolved options are frozen')
})

t.test('socket server: the command line with an empty environment, and the plugin without options', async (t) => {
  const config = socketConfig({ ...REDIS, SERVER_ID: 's1' })
  t.same(resolveSocketOptions(socketOptions(config)), resolveSocketOptions({ tokenSecret: SECRET, serverId: 's1' }))
  t.same(resolveStoreLimits(socketStoreLimits(config)), resolveStoreLimits(), 'its store limits')
  t.equal(config.SB_PREFIX, DEFAULT_KEY_PREFIX, 'its key prefix')
})

t.test('health checker: the command line with an empty environment, and the plugin without options', async (t) => {
  t.same(resolveHealthOptions(healthOptions(healthConfig({ REDIS_URL: REDIS.REDIS_URL }))), resolveHealthOptions({}))
})

t.test('standalone: its registry, socket server and store are the plugins without options', async (t) => {
  const config = standaloneConfig({})
  t.same(settings(resolveRegistryOptions(standaloneRegistryOptions(config, SECRET))), settings(resolveRegistryOptions({ tokenSecret: SECRET, auth: { mode: 'dev' } })))
  t.same(resolveSocketOptions(standaloneSocketOptions(config, SECRET)), resolveSocketOptions({ tokenSecret: SECRET, serverId: 'standalone' }))
  t.same(resolveStoreLimits(storageLimits(config)), resolveStoreLimits())
})

t.test('a setting changed in the environment and the same setting given to the plugin run alike', async (t) => {
  // FRAME_BURST also sets how many refused frames in a row close a connection: as limits.frameBurst does.
  const env = socketConfig({ ...REDIS, SERVER_ID: 's1', FRAME_BURST: '100', HEARTBEAT_TIMEOUT_MS: '5000', DRAIN_TIMEOUT_MS: '9000' })
  const plugin = resolveSocketOptions({ tokenSecret: SECRET, serverId: 's1', limits: { frameBurst: 100 }, heartbeatTimeoutMs: 5000, drain: { timeoutMs: 9000 } })
  t.same(resolveSocketOptions(socketOptions(env)), plugin)
  t.equal(plugin.limits.floodTolerance, 100)
  const registry = registryConfig({ ...REDIS, AUTH_MODE: 'dev', ALLOCATE_RATE_MAX: '0' })
  t.equal(resolveRegistryOptions(registryOptions(registry)).allocateRateLimit, false, 'ALLOCATE_RATE_MAX=0 is allocateRateLimit: false')
})

t.test('a draining socket server gives its clients tokens that live as long as the registry gives', async (t) => {
  t.equal(resolveSocketOptions({ tokenSecret: SECRET, serverId: 's1' }).tokenTtlMs, resolveRegistryOptions({ tokenSecret: SECRET, auth: { mode: 'dev' } }).tokenTtlMs)
})

t.test('options are checked by one validator: the first bad one is named, in words where the schema has them', async (t) => {
  t.throws(() => resolveSocketOptions({ tokenSecret: SECRET, serverId: 's1', limits: { frameRate: 0 } }), {
    code: 'SB_ERR_INVALID_OPTIONS', message: /switchboard-socket: limits\.frameRate /
  })
  t.throws(() => resolveSocketOptions({ tokenSecret: SECRET, serverId: 's1', drain: { batchSize: 0 } }), { message: /switchboard-socket: drain\.batchSize / })
  t.throws(() => resolveRegistryOptions({ tokenSecret: SECRET, auth: { mode: 'dev' }, allowedOrigins: ['chat.example.com'] }), {
    message: /switchboard-registry: allowedOrigins\.0 must be origins like https:\/\/chat\.example\.com/
  })
  t.throws(() => resolveRegistryOptions({ tokenSecret: SECRET, auth: { mode: 'dev' }, allocateRateLimit: { max: 0, timeWindowMs: 1000 } }), {
    message: /allocateRateLimit must be whole numbers \{ max ≥ 1, timeWindowMs ≥ 1 \}, or false/
  })
  t.throws(() => resolveHealthOptions({ intervalMs: 1.5 }), { message: /switchboard-health: intervalMs / })
})
