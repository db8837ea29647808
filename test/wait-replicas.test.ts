/**
 * REDIS_WAIT_REPLICAS on a real master and replica: a message, a join and a
 * leave are acknowledged only once the replica holds them (read back from the
 * replica at once, no waiting), and refused while no replica can confirm,
 * so that nothing a client was told succeeded is lost to a failover.
 */
import t from 'tap'
import type { Test } from 'tap'
import { Redis } from 'ioredis'
import { keys } from '../plugins/names.js'
import { RedisStore } from '../plugins/store/index.js'
import { eventually } from './helpers/client.js'
import { startRedisServer, uniquePrefix } from './helpers/redis.js'

/** A store on `url` with WAIT 1 and this timeout, closed in teardown. */
function storeOn (t: Test, url: string, prefix: string, waitTimeoutMs: number): RedisStore {
  const client = new Redis(url)
  const subscriber = client.duplicate()
  const store = new RedisStore({ client, subscriber, prefix, limits: { waitReplicas: 1, waitTimeoutMs } })
  t.teardown(async () => {
    await store.close()
    client.disconnect()
    subscriber.disconnect()
  })
  return store
}

t.test('with WAIT 1: acknowledged writes are on the replica; with no replica attached they are refused', async (t) => {
  const master = await startRedisServer()
  t.teardown(() => master.stop())
  // Loaded straight from the master's stream: no dump.rdb left in the working directory.
  const replica = await startRedisServer(['--replicaof', '127.0.0.1', String(master.port), '--repl-diskless-load', 'on-empty-db'])
  t.teardown(() => replica.stop())
  const onReplica = new Redis(replica.url)
  t.teardown(() => onReplica.disconnect())
  await eventually(async () => /master_link_status:up/.test(await onReplica.info('replication')), 'the replica to sync')

  const prefix = uniquePrefix()
  // A replica's confirmation is waited for as long as a busy machine needs; its absence is found after 200 ms.
  const patient = storeOn(t, master.url, prefix, 20_000)
  const store = storeOn(t, master.url, prefix, 200)
  const k = keys(prefix)

  t.equal(await patient.join('r', 'alice'), true)
  t.equal(await onReplica.sismember(k.members('r'), 'alice'), 1, 'an acknowledged join is on the replica')
  t.equal(await onReplica.sismember(k.rooms('alice'), 'r'), 1, 'both of its sets')
  const appended = await patient.append({ channel: 'room:r', framePrefix: '{"n":1,"epoch":"', sender: 'alice', requireMember: true })
  t.equal(appended.status, 'appended')
  t.equal(await onReplica.xlen(k.history('room:r')), 1, 'an acknowledged message is on the replica')
  await patient.leave('r', 'alice')
  t.equal(await onReplica.sismember(k.members('r'), 'alice'), 0, 'an acknowledged leave is on the replica')

  onReplica.disconnect()
  await replica.stop()
  const onMaster = new Redis(master.url)
  t.teardown(() => onMaster.disconnect())
  await eventually(async () => /connected_slaves:0/.test(await onMaster.info('replication')), 'the master to see its replica gone')
  await t.rejects(store.join('r', 'bob'), /only 0 of 1 replicas confirmed/, 'a join no replica confirmed is refused')
  await t.rejects(store.leave('r', 'bob'), /only 0 of 1 replicas confirmed/, 'so is a leave')
  await t.rejects(store.append({ channel: 'room:x', framePrefix: '{"epoch":"', sender: 'bob' }), /only 0 of 1 replicas confirmed/, 'and a message')
})
