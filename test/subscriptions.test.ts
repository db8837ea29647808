/**
 * SUBSCRIBE / UNSUBSCRIBE gathered per turn (plugins/store/subscriptions.ts): in order, so the last
 * request about a name decides; each settles with the command that carried it; and against a real
 * Redis, a burst of subscriptions is one command that leaves every channel live.
 */
import t from 'tap'
import fc from 'fast-check'
import { Redis } from 'ioredis'
import { SubscriptionBatch } from '../plugins/store/subscriptions.js'
import type { SubscriptionOp } from '../plugins/store/subscriptions.js'
import { startRedisServer } from '../infra/redis/local.js'
import { RedisStore } from '../plugins/store/redis.js'

const turn = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

t.test('any sequence of requests, over any turns, ends as if sent one at a time; every request settles', async (t) => {
  const request = fc.record({ op: fc.constantFrom<SubscriptionOp>('subscribe', 'unsubscribe'), name: fc.constantFrom('a', 'b', 'c'), newTurn: fc.boolean() })
  await fc.assert(fc.asyncProperty(fc.array(request, { maxLength: 40 }), async (requests) => {
    const live = new Set<string>()
    const commands: Array<[SubscriptionOp, string[]]> = []
    const batch = new SubscriptionBatch(async (op, names) => {
      commands.push([op, names])
      for (const name of names) op === 'subscribe' ? live.add(name) : live.delete(name)
    })
    const expected = new Set<string>()
    const settled: Array<Promise<void>> = []
    for (const r of requests) {
      if (r.newTurn) await turn()
      settled.push(batch.add(r.op, r.name))
      r.op === 'subscribe' ? expected.add(r.name) : expected.delete(r.name)
    }
    await Promise.all(settled)
    t.same([...live].sort(), [...expected].sort())
    // And each request was carried by exactly one command.
    return commands.flatMap(([, names]) => names).length === requests.length
  }), { numRuns: 500 })
})

t.test('a failed command fails the requests it carried, and only those', async (t) => {
  const batch = new SubscriptionBatch(async (op) => { if (op === 'unsubscribe') throw new Error('connection lost') })
  const results = await Promise.allSettled([batch.add('subscribe', 'a'), batch.add('unsubscribe', 'b'), batch.add('unsubscribe', 'c'), batch.add('subscribe', 'd')])
  t.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled'])
  const thrown = new SubscriptionBatch(() => { throw new Error('not connected') })
  await t.rejects(thrown.add('subscribe', 'a'), /not connected/, 'a send that throws instead of rejecting fails its requests too')
})

t.test('on a real Redis: 300 subscriptions in one turn are one SUBSCRIBE, and every channel is live when they settle', async (t) => {
  const server = await startRedisServer()
  t.teardown(async () => { await server.stop() })
  const subscriber = new Redis(server.url)
  const publisher = new Redis(server.url)
  t.teardown(() => { subscriber.disconnect(); publisher.disconnect() })
  const batch = new SubscriptionBatch(async (op, names) => await subscriber[op](...names))
  const names = Array.from({ length: 300 }, (_, i) => `ch${i}`)
  await Promise.all(names.map(async (name) => { await batch.add('subscribe', name) }))
  const stats = await publisher.info('commandstats')
  t.match(stats, /cmdstat_subscribe:calls=1,/, 'one command')
  t.equal(Number(await publisher.publish('ch299', 'x')), 1, 'the last channel asked for has its subscriber')
  await Promise.all(names.slice(0, 150).map(async (name) => { await batch.add('unsubscribe', name) }))
  t.same(await publisher.pubsub('NUMSUB', 'ch0', 'ch200'), ['ch0', 0, 'ch200', 1], 'unsubscribed the first half only')
})

t.test('a store asked to subscribe while its subscriber connects: the channel is live once subscribe resolves', async (t) => {
  const server = await startRedisServer()
  t.teardown(async () => { await server.stop() })
  const publisher = new Redis(server.url)
  t.teardown(() => { publisher.disconnect() })
  for (let round = 0; round < 5; round++) {
    const client = new Redis(server.url)
    const subscriber = client.duplicate()
    const store = new RedisStore({ client, subscriber, prefix: `r${round}:` })
    // The socket is up, the ready check not yet answered: ioredis would write a SUBSCRIBE now, before its INFO.
    await new Promise((resolve) => subscriber.once('connect', resolve))
    const seen: string[] = []
    await store.subscribe('room:a', (_channel, frame) => { seen.push(frame.text) })
    t.equal(Number(await publisher.publish(`r${round}:{room:a}:ch`, 'x')), 1, `round ${round}: subscribed when subscribe resolved`)
    t.equal(subscriber.status, 'ready', 'and the connection was not dropped for a failed ready check')
    await store.close()
    client.disconnect()
    subscriber.disconnect()
  }
})
