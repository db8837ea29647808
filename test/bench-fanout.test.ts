/** The benchmark harness, `fanout` at a tiny size (see test/helpers/bench.ts). */
import t from 'tap'
import { deliversOnEverySystem } from './helpers/bench.js'

t.test('fanout: every system delivers and is counted exactly', async (t) => {
  await deliversOnEverySystem(t, 'fanout')
})
