/** The benchmark harness, `relay` at a tiny size, with every peer (see test/helpers/bench.ts). */
import t from 'tap'
import { deliversOnEverySystem } from './helpers/bench.js'

t.test('relay: every system delivers and is counted exactly', async (t) => {
  await deliversOnEverySystem(t, 'relay')
})
