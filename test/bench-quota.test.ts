/** The benchmark harness, `quota` at a tiny size (see test/helpers/bench.ts). */
import t from 'tap'
import { runScenario } from '../bench/index.js'

t.test('quota: one user is refused once a budget is used up, and what Redis kept for it is measured', async (t) => {
  const report = await runScenario('quota', 'tiny', 1, () => {})
  t.equal(report.switchboard.smallStored, 100, 'small messages: the messages budget (100 at tiny size)')
  t.ok((report.switchboard.largeStored ?? 0) > 0 && (report.switchboard.largeStored ?? 0) <= 3, 'large ones: the bytes budget (160 kB: two or three of 64 kB)')
  t.ok((report.switchboard.largeBytes ?? 0) > 0 && (report.switchboard.smallBytes ?? 0) > 0, 'Redis grew by something for each')
  t.type(report.ratio, 'number')
})
