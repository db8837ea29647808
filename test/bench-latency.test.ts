/** The benchmark harness, `latency` at a tiny size (see test/helpers/bench.ts). */
import t from 'tap'
import { deliversOnEverySystem } from './helpers/bench.js'

t.test('latency: every system delivers and is counted exactly', async (t) => {
  await deliversOnEverySystem(t, 'latency')
})
