/**
 * BulkScript (plugins/store/bulk-script.ts): the batch scripts' calls, made
 * without ioredis's per-argument copy. They must behave like ioredis's own
 * script commands: keys routed and prefixed, EVAL when a node lost the
 * script, errors passed on.
 */
import t from 'tap'
import { Redis, Cluster } from 'ioredis'
import { BulkScript } from '../plugins/store/bulk-script.js'
import { sharedCluster, sharedRedis, uniquePrefix } from './helpers/redis.js'

// Sets each key to its value and returns what it set, with the key names Redis saw.
const SET_ALL = `
local out = {}
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[i])
  out[#out + 1] = key
  out[#out + 1] = redis.call('GET', key)
end
return out
`

t.test('many arguments reach the script as given, and the reply comes back as strings', async (t) => {
  const redis = await sharedRedis()
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())
  const prefix = uniquePrefix()
  const script = new BulkScript(SET_ALL)
  const keys = Array.from({ length: 300 }, (_, i) => `${prefix}{k}:${i}`)
  const values = keys.map((_, i) => `v${i} with spaces, "quotes" and ünïcödé`)
  const reply = await script.run<string[]>(client, [String(keys.length), ...keys, ...values])
  t.equal(reply.length, 600)
  t.same(reply.slice(0, 4), [keys[0], values[0], keys[1], values[1]])
  t.equal(reply[599], values[299])

  // The node forgets the script (a restart, a failover): the call falls back to EVAL, and EVALSHA works again after.
  await client.script('FLUSH')
  t.same(await script.run<string[]>(client, ['1', `${prefix}{k}:x`, 'again']), [`${prefix}{k}:x`, 'again'], 'EVAL when the script is unknown')
  t.same(await script.run<string[]>(client, ['1', `${prefix}{k}:y`, 'and again']), [`${prefix}{k}:y`, 'and again'])

  // A script error is the caller's error.
  const broken = new BulkScript("return redis.call('INCR', KEYS[1])")
  await client.set(`${prefix}{k}:text`, 'not a number')
  await t.rejects(broken.run(client, ['1', `${prefix}{k}:text`]), /not an integer/)
})

// Appends ARGV[1] to the list KEYS[1].
const PUSH = "return redis.call('RPUSH', KEYS[1], ARGV[1])"

t.test('calls made while the script is being loaded run in the order they were made', async (t) => {
  const redis = await sharedRedis()
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())
  const key = `${uniquePrefix()}{order}:list`
  // A script no node has seen: the first call on the connection carries it (EVAL), the rest follow it
  // (EVALSHA). Retrying an EVALSHA that came back NOSCRIPT would put it behind later calls.
  const calls = async (stat: 'eval' | 'evalsha'): Promise<{ calls: number, failed: number }> => {
    const line = (await client.info('commandstats')).split('\n').find((l) => l.startsWith(`cmdstat_${stat}:`)) ?? ''
    return { calls: Number(/calls=(\d+)/.exec(line)?.[1] ?? 0), failed: Number(/failed_calls=(\d+)/.exec(line)?.[1] ?? 0) }
  }
  await client.config('RESETSTAT')
  const script = new BulkScript(`${PUSH} -- ${key}`)
  await Promise.all(Array.from({ length: 50 }, async (_, i) => await script.run(client, ['1', key, String(i)])))
  t.same((await client.lrange(key, 0, -1)).map(Number), Array.from({ length: 50 }, (_, i) => i))
  t.same(await calls('eval'), { calls: 1, failed: 0 }, 'the first call carried the script')
  t.same(await calls('evalsha'), { calls: 49, failed: 0 }, 'the others named it, and none was refused')

  // The same after the node forgot it.
  await client.script('FLUSH')
  await client.del(key)
  await script.run(client, ['1', key, 'first'])
  await Promise.all(Array.from({ length: 20 }, async (_, i) => await script.run(client, ['1', key, String(i)])))
  t.same(await client.lrange(key, 0, -1), ['first', ...Array.from({ length: 20 }, (_, i) => String(i))])
})

t.test("a client with ioredis's keyPrefix gets its keys prefixed, like any other command", async (t) => {
  const redis = await sharedRedis()
  const prefix = uniquePrefix()
  const client = new Redis(redis.url, { keyPrefix: `${prefix}app:` })
  t.teardown(() => client.disconnect())
  const reply = await new BulkScript(SET_ALL).run<string[]>(client, ['2', '{k}:a', '{k}:b', '1', '2'])
  t.same(reply, [`${prefix}app:{k}:a`, '1', `${prefix}app:{k}:b`, '2'])
  t.equal(await client.get('{k}:b'), '2', 'the prefixed key is the one ioredis reads')
})

t.test('on Redis Cluster the call goes to the node that owns its keys', async (t) => {
  const cluster = await sharedCluster()
  const client = new Cluster(cluster.nodes.map((node) => ({ host: '127.0.0.1', port: Number(new URL(node.url).port) })))
  t.teardown(() => client.disconnect())
  const prefix = uniquePrefix()
  const script = new BulkScript(SET_ALL)
  // Tags that land on different shards: each call must reach the owner of its slot, or Redis answers MOVED.
  for (const tag of ['a', 'b', 'c', 'd', 'e', 'f']) {
    const keys = [`${prefix}{${tag}}:1`, `${prefix}{${tag}}:2`]
    t.same(await script.run<string[]>(client, ['2', ...keys, 'x', 'y']), [keys[0], 'x', keys[1], 'y'], `slot of {${tag}}`)
  }
  // In order on every node while each loads the script.
  const push = new BulkScript(`${PUSH} -- ${prefix}`)
  const lists = ['a', 'b', 'c', 'd', 'e', 'f'].map((tag) => `${prefix}{${tag}}:list`)
  await Promise.all(Array.from({ length: 120 }, async (_, i) => await push.run(client, ['1', lists[i % lists.length] ?? '', String(i)])))
  for (const [n, list] of lists.entries()) {
    t.same((await client.lrange(list, 0, -1)).map(Number), Array.from({ length: 20 }, (_, i) => i * lists.length + n), `${list} in order`)
  }
})
