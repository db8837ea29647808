/** The benchmark harness, `churn` at a tiny size (see test/helpers/bench.ts). */
import t from 'tap'
import { runScenario, table } from '../bench/index.js'

t.test('churn: every client of the killed server is back elsewhere (Switchboard: with what was published meanwhile, once)', async (t) => {
  const report = await runScenario('churn', 'tiny', 1, () => {})
  for (const side of ['switchboard', 'socketio'] as const) {
    const figures = report[side] ?? {}
    t.ok((figures.clients ?? 0) > 0, `${side}: clients were on the killed server`)
    t.equal(figures.back, figures.clients, `${side}: every one of them is back on a surviving server`)
    t.ok((figures.systemCpuSeconds ?? -1) >= 0, `${side}: the survivors' CPU was read`)
  }
  t.equal(report.switchboard.resets, 0, 'switchboard: every client recovered its history (no reset)')
  t.equal(report.switchboard.duplicates, 0, 'switchboard: each room\'s message published during the outage arrived once')
  t.same(Object.keys(JSON.parse(JSON.stringify(report))).sort(), ['ratio', 'rounds', 'scenario', 'size', 'socketio', 'switchboard', 'target'], 'the --json shape: a tiny run has no `met`')
  t.match(table(report), /not judged/)
})
