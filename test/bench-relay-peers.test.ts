/** The benchmark harness, `relay --peers socketio` at a tiny size (see test/helpers/bench.ts). */
import t from 'tap'
import { runScenario, table } from '../bench/index.js'

t.test('--peers socketio: relay without the streams peer (a quick run while working on a change)', async (t) => {
  const report = await runScenario('relay', 'tiny', 1, () => {}, 'single', false)
  t.equal(report.switchboard.delivered, report.switchboard.expected)
  t.equal(report.socketio?.delivered, report.socketio?.expected)
  t.equal(report.socketioStreams, undefined, 'no streams peer')
  t.equal(report.ratioStreams, undefined)
  t.notMatch(table(report), /socketio-streams/)
})
