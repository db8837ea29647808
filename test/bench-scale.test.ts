/** The benchmark harness, `scale` at a tiny size (see test/helpers/bench.ts). */
import t from 'tap'
import { runScenario } from '../bench/index.js'

t.test('scale: every connection is made through /allocate and counted by a server', async (t) => {
  const report = await runScenario('scale', 'tiny', 1, () => {})
  const figures = report.switchboard
  t.ok((figures.connections ?? 0) > 0, 'something was connected')
  t.equal(figures.connected, figures.connections, 'every connection is open')
  t.equal(figures.failed, 0, 'none failed')
  const perServer = [1, 2, 3, 4].map((n) => figures[`s${n}Connections`] ?? 0)
  t.equal(perServer.reduce((a, b) => a + b, 0), figures.connections, 'the servers\' own counts add up to every connection')
  t.equal(figures.countsAgree, 1, 'the servers count what the clients hold, server by server')
  t.type(report.ratio, 'number')
  t.ok(report.ratio >= 1, 'largest / smallest server')
  t.same(Object.keys(JSON.parse(JSON.stringify(report))).sort(), ['ratio', 'rounds', 'scenario', 'size', 'switchboard', 'target'], 'the --json shape, no peer')
})
