/**
 * An unlabelled histogram for the hot path. prom-client's `observe` checks and
 * hashes labels on every call (about 0.6 µs), and the socket server observes
 * the relay latency of every frame it receives. `record` is a bucket search
 * and three additions into plain numbers; a scrape (`get`) adds them to what
 * prom-client's own `observe` gathered, so the family reads the same either way.
 *
 * prom-client renders the text format from `getForPromString`, a method its
 * types and docs do not list, and builds `get` on it; so that is where the
 * tally is added, and `get` adds nothing more. test/tallied-histogram.test.ts
 * pins both facts, so an upgrade that changes them fails there first (and the
 * text and JSON comparisons with a plain Histogram with it). Worth it: on
 * Node 20 `observe` costs ~320 ns per relayed frame and `record` ~7 ns, about
 * 1-2% of a socket server's CPU in the relay benchmark (docs/benchmarks.md).
 */
import { Histogram } from 'prom-client'
import type { HistogramConfiguration, MetricObjectWithValues, MetricValueWithName } from 'prom-client'

type Values = MetricObjectWithValues<MetricValueWithName<string>>
const forPromString = (Histogram.prototype as unknown as { getForPromString?: (this: Histogram) => Promise<Values> }).getForPromString

export class TalliedHistogram extends Histogram {
  readonly #bounds: readonly number[]
  /** per bucket, not cumulative; the last one is above every bound (+Inf) */
  readonly #counts: number[]
  #sum = 0
  #count = 0

  constructor (configuration: HistogramConfiguration<string> & { buckets: readonly number[] }) {
    if (configuration.labelNames !== undefined && configuration.labelNames.length > 0) throw new Error('TalliedHistogram has no labels')
    super({ ...configuration, buckets: [...configuration.buckets] })
    this.#bounds = [...configuration.buckets].sort((a, b) => a - b)
    this.#counts = new Array<number>(this.#bounds.length + 1).fill(0)
  }

  /** One observation, as `observe(value)` would count it. */
  record (value: number): void {
    const bounds = this.#bounds
    let i = 0
    while (i < bounds.length && value > (bounds[i] as number)) i++
    this.#counts[i] = (this.#counts[i] as number) + 1
    this.#sum += value
    this.#count++
  }

  override async get (): Promise<Values> {
    const metric = await super.get()
    // prom-client's get() reads getForPromString (below), which has added the tally already.
    return forPromString === undefined ? this.#withTally(metric) : metric
  }

  /**
   * What prom-client's Registry reads when it renders the text format, and its get() under it (a method
   * its types do not list, hence the check): the same values with the labels kept apart.
   */
  async getForPromString (): Promise<Values> {
    return this.#withTally(forPromString === undefined ? await super.get() : await forPromString.call(this))
  }

  #withTally (metric: Values): Values {
    const cumulative = new Map<number, number>()
    let running = 0
    this.#bounds.forEach((bound, i) => { running += this.#counts[i] as number; cumulative.set(bound, running) })
    const values = metric.values.map((v): MetricValueWithName<string> => {
      const { metricName = '' } = v
      let added = 0
      if (metricName.endsWith('_bucket')) added = v.labels.le === '+Inf' ? this.#count : cumulative.get(Number(v.labels.le)) ?? 0
      else if (metricName.endsWith('_sum')) added = this.#sum
      else if (metricName.endsWith('_count')) added = this.#count
      return { ...v, value: v.value + added }
    })
    return { ...metric, values }
  }
}
