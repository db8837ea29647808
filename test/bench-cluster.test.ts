/** The benchmark harness, `relay --redis cluster` at a tiny size (see test/helpers/bench.ts). */
import t from 'tap'
import { runScenario } from '../bench/index.js'

t.test('relay --redis cluster: Switchboard on one Redis and on a 3-shard Redis Cluster, every message once on both', async (t) => {
  const report = await runScenario('relay', 'tiny', 1, () => {}, 'cluster')
  t.equal(report.scenario, 'relay-cluster')
  t.equal(report.switchboard.delivered, report.switchboard.expected, 'one Redis: every message')
  t.equal(report.cluster?.delivered, report.cluster?.expected, 'the cluster: every message')
  t.equal((report.switchboard.duplicates ?? 0) + (report.cluster?.duplicates ?? 0), 0, 'no duplicates')
})
