/** The benchmark harness, `connect` at a tiny size (see test/helpers/bench.ts). */
import t from 'tap'
import { runScenario, table } from '../bench/index.js'

t.test('connect: every client gets in on both systems, spread over both servers, and is counted', async (t) => {
  const report = await runScenario('connect', 'tiny', 1, () => {})
  for (const side of ['switchboard', 'socketio'] as const) {
    const figures = report[side] ?? {}
    t.ok((figures.clients ?? 0) > 0, `${side}: clients were asked for`)
    t.equal(figures.connected, figures.clients, `${side}: every client connected`)
    t.equal(figures.failed, 0, `${side}: none failed`)
    t.equal(figures.serversUsed, 2, `${side}: on both servers`)
    t.ok((figures.serverCpuMs ?? -1) >= 0, `${side}: the servers' CPU was read`)
  }
  t.equal(report.target, 1.5)
  t.same(Object.keys(JSON.parse(JSON.stringify(report))).sort(), ['ratio', 'rounds', 'scenario', 'size', 'socketio', 'switchboard', 'target'], 'the --json shape: a tiny run has no `met`')
  t.match(table(report), /not judged/)
})
