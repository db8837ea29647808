/**
 * TalliedHistogram (plugins/metrics/tallied-histogram.ts): `record` on the hot
 * path must read exactly like prom-client's own `observe`, in the text format
 * and in JSON, alone or mixed with `observe`. The last test pins the part of
 * prom-client it relies on that prom-client does not document
 * (`getForPromString`): an upgrade that changes it fails there first.
 */
import t from 'tap'
import { Histogram, Registry } from 'prom-client'
import { TalliedHistogram } from '../plugins/metrics/tallied-histogram.js'

const BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.1, 1]
// On a bound, between bounds, above them all, and zero.
const VALUES = [0, 0.001, 0.0015, 0.002, 0.004, 0.01, 0.05, 0.1, 0.9, 1, 2.5, 30]

function registries (): { plain: Registry, tallied: Registry } {
  const plain = new Registry()
  const tallied = new Registry()
  for (const r of [plain, tallied]) r.setDefaultLabels({ server: 's1' })
  return { plain, tallied }
}

t.test('record reads like observe: text format and JSON', async (t) => {
  const { plain, tallied } = registries()
  const reference = new Histogram({ name: 'relay_seconds', help: 'h', buckets: BUCKETS, registers: [plain] })
  const fast = new TalliedHistogram({ name: 'relay_seconds', help: 'h', buckets: BUCKETS, registers: [tallied] })
  t.equal(await tallied.metrics(), await plain.metrics(), 'the same before anything is recorded')
  for (const v of VALUES) {
    reference.observe(v)
    fast.record(v)
  }
  t.equal(await tallied.metrics(), await plain.metrics())
  t.same(await tallied.getMetricsAsJSON(), await plain.getMetricsAsJSON())
  t.match(await tallied.metrics(), /relay_seconds_count\{server="s1"\} 12/)
})

t.test('observe still works on it, and adds up with record', async (t) => {
  const { plain, tallied } = registries()
  const reference = new Histogram({ name: 'mixed_seconds', help: 'h', buckets: BUCKETS, registers: [plain] })
  const fast = new TalliedHistogram({ name: 'mixed_seconds', help: 'h', buckets: BUCKETS, registers: [tallied] })
  VALUES.forEach((v, i) => {
    reference.observe(v)
    if (i % 2 === 0) fast.record(v)
    else fast.observe(v)
  })
  t.equal(await tallied.metrics(), await plain.metrics())
  t.same((await fast.get()).values, (await reference.get()).values, 'get() as well')
})

t.test('it has no labels', async (t) => {
  t.throws(() => new TalliedHistogram({ name: 'labelled_seconds', help: 'h', buckets: BUCKETS, labelNames: ['server'], registers: [] }), /no labels/)
})

t.test("prom-client's getForPromString, as TalliedHistogram relies on it", async (t) => {
  t.equal(typeof (Histogram.prototype as unknown as Record<string, unknown>).getForPromString, 'function', 'Histogram has it')
  const calls = { get: 0, getForPromString: 0 }
  class Counted extends Histogram {
    override async get (): ReturnType<Histogram['get']> {
      calls.get++
      return await super.get()
    }

    async getForPromString (): Promise<unknown> {
      calls.getForPromString++
      return await (Histogram.prototype as unknown as { getForPromString: (this: Histogram) => Promise<unknown> }).getForPromString.call(this)
    }
  }
  const registry = new Registry()
  const counted = new Counted({ name: 'counted_seconds', help: 'h', buckets: BUCKETS, registers: [registry] })
  counted.observe(0.004)
  await registry.metrics()
  t.same(calls, { get: 0, getForPromString: 1 }, 'the text format is rendered from getForPromString, not get')
  await registry.getMetricsAsJSON()
  t.same(calls, { get: 1, getForPromString: 2 }, 'and get (JSON) is built on getForPromString, so the tally is added once')
})
