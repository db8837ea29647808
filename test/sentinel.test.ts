/**
 * High availability on the real topology (`switchboard cluster up`: Redis
 * master + 2 replicas + 3 Sentinels, 2 registries behind nginx, 2 socket
 * servers, a health checker), under steady traffic: a planned failover, a
 * hung master, a killed master, a killed registry; then `cluster down`
 * leaves nothing behind. Socket servers run with REDIS_WAIT_REPLICAS=1, so
 * an acknowledged message is on a replica before the ack, and heal the gap
 * in their live delivery from history: no client is disconnected.
 */
import t from 'tap'
import type { Test } from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { keys } from '../plugins/names.js'
import { SENTINEL_NAME, down, status, up } from '../infra/cluster/index.js'
import type { ClusterFile } from '../infra/cluster/index.js'
import { isOurs, portIsFree } from '../infra/cluster/processes.js'
import { eventually } from './helpers/client.js'
import { sdkClient } from './helpers/sdk.js'
import { Traffic, pacedPublishes, storedOrder } from './helpers/traffic.js'

const dir = mkdtempSync(join(tmpdir(), 'sb-ha-'))
let cluster: ClusterFile

async function sentinel<T> (command: string[]): Promise<T> {
  const [host, port] = (cluster.sentinel.addresses[0] ?? '').split(':')
  const client = new Redis({ host, port: Number(port), lazyConnect: true })
  try {
    await client.connect()
    return await client.call(command[0] ?? '', ...command.slice(1)) as T
  } finally {
    client.disconnect()
  }
}

async function masterPort (): Promise<number> {
  const [, port] = await sentinel<[string, string]>(['SENTINEL', 'get-master-addr-by-name', SENTINEL_NAME])
  return Number(port)
}

function pidOfPort (port: number): number {
  const component = cluster.components.find((c) => c.port === port)
  if (component === undefined) throw new Error(`no component on port ${port}`)
  return component.pid
}

/** With `ordered`, alice also fires 50 messages at the room across the disruption: they must be stored in send order. */
async function withTraffic (t: Test, tag: string, disrupt: () => Promise<number>, options: { ordered?: boolean } = {}): Promise<void> {
  const alice = await sdkClient(t, cluster.entry, `alice-${tag}`)
  const bob = await sdkClient(t, cluster.entry, `bob-${tag}`)
  const traffic = new Traffic(alice, bob, tag, `bob-${tag}`)
  await alice.client.join('ha')
  await bob.client.join('ha')
  traffic.start()
  await traffic.flowing()
  const ordered = options.ordered === true ? pacedPublishes(alice, 'ha', tag, 50, 40) : undefined
  if (ordered !== undefined) await eventually(() => ordered.acknowledged() >= 5, `${tag}: alice's first messages to the room acknowledged`)
  const disruptedAt = await disrupt()
  await eventually(() => traffic.resumedAfter(disruptedAt) !== undefined, 60_000, `${tag}: delivery to resume`)
  // How long it took is for information (npm run bench measures; a busy machine is slower): what must hold is below.
  t.comment(`${tag}: delivery resumed ${traffic.resumedAfter(disruptedAt) ?? '?'} ms after the disruption`)
  await traffic.flowing()
  await traffic.stop()
  await traffic.verify(t)
  // The socket servers healed the gap from history: no client was closed to recover by itself.
  const since = (states: string[]): string[] => states.slice(states.indexOf('connected') + 1)
  t.same([...since(alice.states), ...since(bob.states)], [], `${tag}: neither client was disconnected`)
  if (ordered !== undefined) {
    const outcomes = await ordered.settled
    t.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 50, `${tag}: all 50 of alice's messages acknowledged`)
    t.same(await storedOrder(alice, 'ha', tag, 50), [...Array(50).keys()], `${tag}: and stored in the order she sent them (history)`)
  }
  alice.client.close()
  bob.client.close()
}

t.before(async () => {
  cluster = await up({ dir, sockets: 2, registries: 2, env: { REDIS_WAIT_REPLICAS: '1', LOG_LEVEL: 'warn', FRAME_RATE: '1000', FRAME_BURST: '1000' } })
})
t.teardown(async () => { await down(dir).catch(() => {}) })

t.test('planned failover (SENTINEL FAILOVER): nothing lost, every subscription moves', async (t) => {
  const before = await masterPort()
  await withTraffic(t, 'planned', async () => {
    await sentinel(['SENTINEL', 'FAILOVER', SENTINEL_NAME])
    return Date.now()
  })
  // SENTINEL FAILOVER answers at once; the switch goes on behind it (delivery never stopped, so the traffic is done first).
  // The next test starts on a settled topology: a join made while the old master still takes writes would be lost.
  await eventually(async () => (await masterPort()) !== before, 'Sentinel to name the new master')
  const after = await masterPort()
  t.not(after, before, `the master moved from ${before} to ${after}`)
  const old = new Redis({ port: before })
  t.teardown(() => old.disconnect())
  await eventually(async () => /role:slave/.test(await old.info('replication')), 'the old master to be a replica')
  const master = new Redis({ port: after })
  t.teardown(() => master.disconnect())
  await eventually(async () => {
    const counts = await master.pubsub('NUMSUB', keys('sb:').live('probe:s1'), keys('sb:').live('probe:s2')) as Array<string | number>
    return Number(counts[1]) >= 1 && Number(counts[3]) >= 1
  }, 'both socket servers subscribed on the new master')
  t.pass('PUBSUB NUMSUB on the new master shows both socket servers')
})

t.test('hung master (SIGSTOP): the failover is detected and service resumes', async (t) => {
  const hung = await masterPort()
  const pid = pidOfPort(hung)
  t.teardown(() => { try { process.kill(pid, 'SIGCONT') } catch {} })
  await withTraffic(t, 'hung', async () => {
    process.kill(pid, 'SIGSTOP')
    const at = Date.now()
    // Let the old master come back once Sentinel has moved on, every other replica included: it returns as a replica.
    // (Back earlier, while a replica still follows it, it takes writes that replica confirms and then loses when
    // Sentinel moves it: acknowledged messages lost even with WAIT 1, as docs/ha.md says.)
    const movedOn = async (): Promise<boolean> => {
      const master = await masterPort()
      if (master === hung) return false
      for (const c of cluster.components.filter((c) => c.role === 'redis-replica' || c.role === 'redis-master')) {
        if (c.port === hung || c.port === master) continue
        const node = new Redis({ port: c.port, lazyConnect: true, maxRetriesPerRequest: 1 })
        try {
          await node.connect()
          if (!new RegExp(`master_port:${master}\\r\\n[\\s\\S]*master_link_status:up`).test(await node.info('replication'))) return false
        } finally {
          node.disconnect()
        }
      }
      return true
    }
    const whenMovedOn = async (): Promise<void> => {
      await eventually(async () => await movedOn().catch(() => false), 60_000, 'Sentinel to move every replica to the new master')
    }
    whenMovedOn().finally(() => { process.kill(pid, 'SIGCONT') }).catch(() => {})
    return at
  })
  t.not(await masterPort(), hung, 'a replica was promoted')
})

t.test('killed master (kill -9) under traffic: delivery resumes, every acknowledged message once, a sender\'s messages stored in order', async (t) => {
  const killed = await masterPort()
  await withTraffic(t, 'killed', async () => {
    process.kill(pidOfPort(killed), 'SIGKILL')
    return Date.now()
  }, { ordered: true })
  t.not(await masterPort(), killed)
})

t.test('nginx keeps answering /allocate with one of two registries killed', async (t) => {
  const registry = cluster.components.find((c) => c.role === 'registry')
  process.kill(registry?.pid ?? 0, 'SIGKILL')
  for (let i = 0; i < 20; i++) {
    const response = await fetch(`${cluster.entry}/allocate?user=n${i}`)
    t.equal(response.status, 200, `request ${i}`)
  }
  const live = await status(dir)
  t.equal(live.components.find((c) => c.id === registry?.id)?.running, false, 'status shows the registry down')
})

t.test('cluster down stops every process it started and frees every port', async (t) => {
  await down(dir)
  for (const c of cluster.components) {
    t.notOk(isOurs(c.pid, dir), `${c.id} is gone`)
    t.ok(await portIsFree(c.port), `port ${c.port} (${c.id}) is free`)
  }
})
