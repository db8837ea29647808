/**
 * PromQL in the repository (dashboard queries, alerting rules) checked
 * against what the code exports: every query parses, and reads only metric and
 * label names a Switchboard process (or Prometheus itself) provides.
 */
import Fastify from 'fastify'
import { parser } from '@prometheus-io/lezer-promql'
import { metricsPlugin } from '../../plugins/metrics/index.js'
import { socketMeter } from '../../plugins/socket/meter.js'
import { parsePrometheusText } from './prometheus.js'

export interface Exported {
  /** sample names (histograms' _bucket, _sum and _count included), and `up` */
  readonly samples: Set<string>
  /** label names, and the `job` and `instance` Prometheus adds */
  readonly labels: Set<string>
}

/** What a socket server exports: sample names and label names (its `server` label included). */
export async function exportedMetrics (): Promise<Exported> {
  const app = Fastify()
  await app.register(metricsPlugin, { labels: { server: 's1' } })
  socketMeter(app.switchboardMetrics) // as the socket plugin does: a series per frame type
  const families = parsePrometheusText((await app.inject('/metrics')).body)
  await app.close()
  const samples = new Set<string>(['up']) // Prometheus adds `up` to every target
  const labels = new Set<string>(['job', 'instance']) // and these to every series
  for (const family of families.values()) {
    for (const sample of family.samples) {
      samples.add(sample.name)
      for (const label of Object.keys(sample.labels)) labels.add(label)
    }
  }
  return { samples, labels }
}

export interface QueryCheck {
  /** syntax errors */
  readonly errors: number
  /** metric names the query selects */
  readonly metrics: string[]
  /** label names it uses (matchers, by/without) */
  readonly labels: string[]
}

/** Parses one PromQL expression and lists what it reads. */
export function readQuery (query: string): QueryCheck {
  const tree = parser.parse(query)
  let errors = 0
  const metrics: string[] = []
  const labels: string[] = []
  tree.iterate({
    enter: (node) => {
      if (node.type.isError) errors++
      const text = query.slice(node.from, node.to)
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') metrics.push(text)
      if (node.name === 'LabelName') labels.push(text)
    }
  })
  return { errors, metrics, labels }
}
