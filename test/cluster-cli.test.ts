/**
 * `switchboard cluster up`, `status --json` and `down` as a user runs them:
 * the topology comes up, is described in JSON, serves the chat, and `down`
 * leaves no process or port behind.
 */
import t from 'tap'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isOurs, killClusterOnExit, portIsFree } from '../infra/cluster/processes.js'
import type { ClusterFile, ComponentStatus } from '../infra/cluster/index.js'
import { CLI, runToEnd } from './helpers/processes.js'
import type { Finished } from './helpers/processes.js'
import { TestClient } from './helpers/client.js'

// The cluster runs detached, to outlive the CLI; killClusterOnExit makes sure it does not outlive this test process.
const run = async (args: string[]): Promise<Finished> => await runToEnd(process.execPath, [CLI, 'cluster', ...args])

t.test('cluster up, status --json, down', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-cli-cluster-'))
  killClusterOnExit(dir)
  t.teardown(async () => { await run(['down', '--dir', dir]) })
  const up = await run(['up', '--dir', dir, '--sockets', '1', '--registries', '1'])
  t.equal(up.code, 0, 'up succeeds')
  t.match(up.stdout, /starting Redis master[\s\S]*role\s+id\s+pid\s+address\s+state[\s\S]*Open http:\/\/127\.0\.0\.1:\d+\//, 'progress, then the table and the URL to open')

  const status = await run(['status', '--dir', dir, '--json'])
  t.equal(status.code, 0, 'status: everything healthy')
  const live = JSON.parse(status.stdout) as Omit<ClusterFile, 'components'> & { components: ComponentStatus[] }
  t.same(live.components.map((c) => c.role).sort(),
    ['health', 'nginx', 'redis-master', 'redis-replica', 'redis-replica', 'registry', 'sentinel', 'sentinel', 'sentinel', 'socket'])
  t.ok(live.components.every((c) => c.running && c.healthy), 'every component running and healthy')
  t.match(live.redisUrl, /^redis\+sentinel:\/\//)
  const allocation = await (await fetch(`${live.entry}/allocate?user=alice`)).json() as { url: string }
  t.match(allocation.url, /^ws:\/\/127\.0\.0\.1:\d+\/ws$/, 'the entry point allocates')

  const down = await run(['down', '--dir', dir])
  t.equal(down.code, 0)
  for (const c of live.components) {
    t.notOk(isOurs(c.pid, live.dir), `${c.id} stopped`)
    t.ok(await portIsFree(c.port), `${c.id}'s port ${c.port} is free`)
  }
  t.equal((await run(['status', '--dir', dir])).code, 1, 'status now reports the cluster down')
})

t.test('cluster up --redis cluster: a Redis Cluster of 3 primaries + 3 replicas instead of Sentinel; a message crosses servers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-cli-rcluster-'))
  killClusterOnExit(dir)
  t.teardown(async () => { await run(['down', '--dir', dir]) })
  const up = await run(['up', '--dir', dir, '--sockets', '2', '--registries', '1', '--redis', 'cluster'])
  t.equal(up.code, 0, 'up succeeds')
  t.match(up.stdout, /Redis Cluster \(3 primaries \+ 3 replicas\) ready[\s\S]*REDIS_URL=redis\+cluster:\/\//, 'progress names the cluster, and the URL it hands out')
  const live = JSON.parse((await run(['status', '--dir', dir, '--json'])).stdout) as Omit<ClusterFile, 'components'> & { components: ComponentStatus[] }
  t.same(live.components.map((c) => c.role).filter((r) => r.startsWith('redis') || r === 'sentinel'), Array(6).fill('redis-cluster-node'), 'six cluster nodes, no Sentinel')
  t.ok(live.components.every((c) => c.running && c.healthy), 'every component running and healthy')
  t.same(live.components.filter((c) => c.role === 'redis-cluster-node').map((c) => c.detail?.split(',')[0]).sort(),
    ['primary', 'primary', 'primary', 'replica', 'replica', 'replica'])
  t.equal(live.redis, 'cluster')

  const alice = await TestClient.connect(live.entry, 'alice')
  const bob = await TestClient.connect(live.entry, 'bob')
  t.teardown(() => { alice.close(); bob.close() })
  t.not(alice.welcome?.server, bob.welcome?.server, 'the two users are on different socket servers')
  t.equal((await alice.request({ type: 'send', to: 'bob', data: { text: 'hi' } })).type, 'ack')
  t.match(await bob.next((f) => f.type === 'message'), { channel: 'dm:alice:bob', from: 'alice', data: { text: 'hi' } }, 'delivered across servers over sharded pub/sub')

  t.equal((await run(['down', '--dir', dir])).code, 0)
  for (const c of live.components) t.ok(await portIsFree(c.port), `${c.id}'s port ${c.port} is free`)
})
