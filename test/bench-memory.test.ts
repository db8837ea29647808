/** The benchmark harness, `memory` at a tiny size (see test/helpers/bench.ts). */
import t from 'tap'
import { runScenario } from '../bench/index.js'

t.test('memory: idle connections are made on both systems and measured', async (t) => {
  const report = await runScenario('memory', 'tiny', 1, () => {})
  for (const side of ['switchboard', 'socketio'] as const) {
    t.equal(report[side]?.connected, report[side]?.connections, `${side}: every idle connection was made`)
    t.type(report[side]?.bytesPerConnection, 'number', `${side}: a settled figure per connection`)
    t.type(report[side]?.bytesPerConnectionAt1s, 'number', `${side}: and the figure 1 s after connecting`)
  }
})
