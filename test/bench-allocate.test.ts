/** The benchmark harness, `allocate` at a tiny size (see test/helpers/bench.ts). */
import t from 'tap'
import { runScenario } from '../bench/index.js'

t.test('allocate: /allocate, the bare route and /allocate through nginx are measured without errors', async (t) => {
  const report = await runScenario('allocate', 'tiny', 1, () => {})
  t.ok((report.switchboard.requestsPerSecond ?? 0) > 0, '/allocate answered')
  t.equal(report.switchboard.errors, 0, 'no errors or non-2xx on /allocate')
  t.ok((report.switchboard.nginxRequestsPerSecond ?? 0) > 0, '/allocate answered through nginx in front of two registries')
  t.equal(report.switchboard.nginxErrors, 0, 'no errors or non-2xx through nginx')
  t.ok((report.bare?.requestsPerSecond ?? 0) > 0, 'the bare route answered')
})
