/**
 * BulkScript (plugins/store/bulk-script.ts): the batch scripts' calls, made
 * without ioredis's per-argument copy. They must behave like ioredis's own
 * script commands: keys routed and prefixed, EVAL when a node lost the
 * script, errors passed on. The last tests pin the parts of ioredis's
 * `Command` it relies on, which ioredis does not document: an upgrade that
 * changes one fails here first.
 */
import t from 'tap'
import { createRequire } from 'node:module'
import { Command, Redis, Cluster } from 'ioredis'
import { BulkScript } from '../plugins/store/bulk-script.js'
import { slotOf } from '../plugins/store/slot.js'
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

t.test("ioredis's Command, as BulkScript uses it", async (t) => {
  await t.test('the constructor copies (and flattens) its arguments: the cost BulkScript avoids', async (t) => {
    const given = ['sha', '1', ['{k}:a'], 'x']
    const command = new Command('evalsha', given)
    t.same(command.args, ['sha', '1', '{k}:a', 'x'])
    t.not(command.args, given, 'a copy: if ioredis stops copying, BulkScript can give its arguments to the constructor')
  })

  await t.test('args is a plain field read when the command is written and routed, not before', async (t) => {
    const command = new Command('evalsha', [], { replyEncoding: 'utf8' })
    t.ok(Object.getOwnPropertyDescriptor(command, 'args')?.writable, 'an own, writable field')
    const args = ['sha', '2', '{tag}:one', '{tag}:two', 'value']
    command.args = args
    t.equal(command.args, args, 'kept as given, not copied')
    t.same(command.getKeys(), ['{tag}:one', '{tag}:two'], 'the keys are read from it (EVALSHA: numkeys, then the keys)')
    t.equal(command.getSlot(), slotOf('{tag}:one'), 'so is the slot a Cluster client sends it to')
    const written = String(command.toWritable({}))
    t.equal(written, '*6\r\n$7\r\nevalsha\r\n$3\r\nsha\r\n$1\r\n2\r\n$9\r\n{tag}:one\r\n$9\r\n{tag}:two\r\n$5\r\nvalue\r\n', 'and written from it')
    command.name = 'eval'
    t.match(String(command.toWritable({})), /^\*6\r\n\$4\r\neval\r\n/, 'as is name, changed just before writing')
  })

  await t.test('toWritable is handed the connection it is written on: one object per connection, a new one after a reconnect', async (t) => {
    const redis = await sharedRedis()
    const a = new Redis(redis.url)
    const b = new Redis(redis.url)
    t.teardown(() => { a.disconnect(); b.disconnect() })
    class Watched extends Command {
      socket: object | undefined
      override toWritable (socket: object): string | Buffer {
        this.socket = socket
        return super.toWritable(socket)
      }
    }
    const send = async (client: Redis): Promise<object | undefined> => {
      const command = new Watched('ping', [], { replyEncoding: 'utf8' })
      client.sendCommand(command)
      t.equal(await command.promise, 'PONG')
      return command.socket
    }
    const first = await send(a)
    t.ok(first !== undefined)
    t.equal(await send(a), first, 'the same connection, the same object')
    t.not(await send(b), first, 'another connection, another object')
    a.disconnect(true)
    await new Promise((resolve) => a.once('ready', resolve))
    t.not(await send(a), first, 'reconnected: a new object, so the script is carried again')
  })

  await t.test('reject is an own field that ioredis calls with the error reply', async (t) => {
    const redis = await sharedRedis()
    const client = new Redis(redis.url)
    t.teardown(() => { client.disconnect() })
    const command = new Command('evalsha', ['0000000000000000000000000000000000000000', '0'], { replyEncoding: 'utf8' })
    t.equal(typeof Object.getOwnPropertyDescriptor(command, 'reject')?.value, 'function')
    const reject = command.reject
    let seen: Error | undefined
    command.reject = (err: Error) => { seen = err; reject(err) }
    client.sendCommand(command)
    await t.rejects(command.promise, /NOSCRIPT/)
    t.match(seen?.message, /^NOSCRIPT/, 'through the replaced field')
  })

  await t.test("ioredis's own script commands work the same way (toWritable and reject overridden per command)", async (t) => {
    // A deep import, on purpose: if ioredis changes how its own scripts load, this mechanism may have changed too.
    const { default: Script } = createRequire(import.meta.url)('ioredis/built/Script.js') as { default: new (lua: string) => { Command: typeof Command } }
    t.ok(Object.hasOwn(new Script('return 1').Command.prototype, 'toWritable'))
  })
})
