/**
 * The monitoring files cannot drift from the code or the topology: the
 * Prometheus scrape targets are the compose services, every query of the
 * Grafana dashboard parses as PromQL and reads only metrics and labels the
 * code exports, every Switchboard metric has a panel, and nginx keeps
 * /metrics off the public entry point.
 */
import t from 'tap'
import Fastify from 'fastify'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { startNginx } from '../infra/nginx/run.js'
import { freePort } from '../infra/redis/local.js'
import { exportedMetrics, readQuery } from './helpers/promql.js'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const read = (path: string): string => readFileSync(join(root, path), 'utf8')

interface Service { command?: string[], environment?: Record<string, string>, profiles?: string[], volumes?: string[], ports?: string[] }
const services = (parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> }).services

t.test('Prometheus scrapes exactly the Switchboard services of the compose topology', async (t) => {
  const config = parse(read('infra/prometheus/prometheus.yml')) as { scrape_configs: Array<{ job_name: string, static_configs: Array<{ targets: string[] }> }> }
  const jobs = Object.fromEntries(config.scrape_configs.map((job) => [job.job_name, job.static_configs.flatMap((c) => c.targets).sort()]))
  const expected: Record<string, string[]> = {}
  for (const [name, service] of Object.entries(services)) {
    const role = service.command?.[0]
    if (role !== 'registry' && role !== 'socket' && role !== 'health') continue
    ;(expected[role] ??= []).push(`${name}:${service.environment?.PORT ?? ''}`)
  }
  for (const targets of Object.values(expected)) targets.sort()
  t.same(jobs, expected, 'one job per role, one target per service, on its PORT')
})

t.test('Prometheus and Grafana are an opt-in compose profile, wired to these files', async (t) => {
  for (const name of ['prometheus', 'grafana']) {
    const service = services[name]
    t.same(service?.profiles, ['monitoring'], `${name} only with --profile monitoring`)
    for (const volume of service?.volumes ?? []) {
      const source = volume.split(':')[0] ?? ''
      t.ok(existsSync(join(root, source)), `${name} mounts ${source}, which exists`)
    }
    t.ok(service?.ports?.every((p) => p.startsWith('127.0.0.1:')), `${name} listens on 127.0.0.1 only`)
  }
  t.ok(services.prometheus?.volumes?.includes('./infra/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro'))
  t.ok(services.grafana?.volumes?.some((v) => v.startsWith('./infra/grafana/dashboard.json:')))
  const datasources = parse(read('infra/grafana/provisioning/datasources/prometheus.yml')) as { datasources: Array<{ type: string, url: string }> }
  t.same(datasources.datasources.map((d) => [d.type, d.url]), [['prometheus', 'http://prometheus:9090']], 'Grafana reads the compose Prometheus')
})

/** Panels read the dashboard's datasource variable, so the dashboard imports into any Grafana. */
const DATASOURCE = '$' + '{datasource}'

interface Panel { type: string, id: number, title: string, datasource?: { type: string, uid: string }, gridPos: { x: number, w: number }, targets?: Array<{ expr: string }> }

t.test('every dashboard query parses and reads only what the code exports; every metric has a panel', async (t) => {
  const dashboard = JSON.parse(read('infra/grafana/dashboard.json')) as { uid: string, panels: Panel[], templating: { list: Array<{ name: string, type: string, query: unknown }> } }
  const { samples, labels } = await exportedMetrics()
  const used = new Set<string>()
  const ids = new Set<number>()
  for (const panel of dashboard.panels) {
    t.notOk(ids.has(panel.id), `panel id ${panel.id} is unique`)
    ids.add(panel.id)
    t.ok(panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title} fits the 24-column grid`)
    if (panel.type === 'row') continue
    t.same(panel.datasource, { type: 'prometheus', uid: DATASOURCE }, `${panel.title} reads the chosen Prometheus datasource`)
    t.ok((panel.targets?.length ?? 0) > 0, `${panel.title} has queries`)
    for (const { expr } of panel.targets ?? []) {
      // Grafana fills its variables in before Prometheus sees the query.
      const query = expr.replace(/\$__(rate_interval|interval|range)/g, '5m')
      const read = readQuery(query)
      for (const name of read.metrics) {
        used.add(name)
        t.ok(samples.has(name), `${panel.title}: ${name} is exported`)
      }
      for (const label of read.labels) t.ok(labels.has(label), `${panel.title}: label ${label} exists`)
      t.equal(read.errors, 0, `${panel.title}: ${expr} parses`)
    }
  }
  const server = dashboard.templating.list.find((v) => v.name === 'server')
  const variable = /^label_values\((\w+), (\w+)\)$/.exec((server?.query as { query?: string } | undefined)?.query ?? '')
  t.ok(variable !== null && samples.has(variable[1] ?? '') && labels.has(variable[2] ?? ''), 'the server variable reads an exported metric and label')

  const families = new Set([...samples].filter((s) => s.startsWith('switchboard_') && !/_(bucket|sum|count)$/.test(s) && !s.includes('process_') && !s.includes('nodejs_')))
  families.add('switchboard_relay_latency_seconds')
  families.delete('switchboard_relay_latency_seconds_bucket')
  for (const family of families) {
    t.ok([...used].some((name) => name === family || name.startsWith(`${family}_`)), `${family} has a panel`)
  }
})

t.test('nginx answers 404 for /metrics and proxies the rest to the registries', async (t) => {
  const upstream = Fastify()
  upstream.get('/metrics', async () => 'internal')
  upstream.get('/healthz', async () => ({ status: 'ok' }))
  t.teardown(async () => { await upstream.close() })
  const upstreamPort = await freePort()
  await upstream.listen({ host: '127.0.0.1', port: upstreamPort })
  const nginx = await startNginx([upstreamPort])
  t.teardown(nginx.stop)
  const entry = nginx.url
  t.equal(await (await fetch(`http://127.0.0.1:${upstreamPort}/metrics`)).text(), 'internal', 'the registry serves /metrics itself')
  for (const path of ['/metrics', '/metrics?format=text', '//metrics', '/%6Detrics', '/./metrics']) {
    const response = await fetch(`${entry}${path}`)
    t.equal(response.status, 404, `${path} is not public`)
    t.notMatch(await response.text(), /internal/)
  }
})
