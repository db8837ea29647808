/**
 * The operations guide stays true: every alerting rule parses, reads only
 * metrics and labels the code exports, is loaded by the compose Prometheus,
 * and is explained in docs/operations.md (and every alert explained there
 * exists); the guide's links lead somewhere.
 */
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { exportedMetrics, readQuery } from './helpers/promql.js'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const read = (path: string): string => readFileSync(join(root, path), 'utf8')

interface Rule { alert: string, expr: string, for?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
const rules = (parse(read('infra/prometheus/alerts.yml')) as { groups: Array<{ name: string, rules: Rule[] }> }).groups.flatMap((g) => g.rules)
const guide = read('docs/operations.md')

t.test('every alerting rule parses and reads only what Switchboard exports', async (t) => {
  const { samples, labels } = await exportedMetrics()
  t.ok(rules.length >= 10, `${rules.length} rules`)
  const names = new Set<string>()
  for (const rule of rules) {
    t.notOk(names.has(rule.alert), `${rule.alert} is named once`)
    names.add(rule.alert)
    t.match(rule.alert, /^Switchboard[A-Z]\w+$/)
    const query = readQuery(rule.expr)
    t.equal(query.errors, 0, `${rule.alert}: ${rule.expr} parses`)
    t.ok(query.metrics.length > 0, `${rule.alert} reads a metric`)
    for (const metric of query.metrics) t.ok(samples.has(metric), `${rule.alert}: ${metric} is exported`)
    for (const label of query.labels) t.ok(labels.has(label), `${rule.alert}: label ${label} exists`)
    t.ok(['critical', 'warning'].includes(rule.labels?.severity ?? ''), `${rule.alert} has a severity`)
    t.ok((rule.annotations?.summary ?? '').length > 0, `${rule.alert} has a summary`)
  }
})

t.test('each alert is explained in docs/operations.md, and each alert explained there exists', async (t) => {
  const explained = [...guide.matchAll(/^### `(Switchboard\w+)` \((critical|warning)\)$/gm)]
  const bySeverity = new Map(rules.map((r) => [r.alert, r.labels?.severity]))
  t.same(explained.map((m) => m[1]).sort(), rules.map((r) => r.alert).sort(), 'one section per rule, by name')
  for (const [, name, severity] of explained) t.equal(severity, bySeverity.get(name ?? ''), `${name}: the same severity in the guide`)
})

t.test('the compose Prometheus loads the rules', async (t) => {
  const prometheus = parse(read('infra/prometheus/prometheus.yml')) as { rule_files?: string[] }
  t.same(prometheus.rule_files, ['alerts.yml'])
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, { volumes?: string[] }> }
  t.ok(compose.services.prometheus?.volumes?.includes('./infra/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro'), 'mounted beside prometheus.yml')
})

t.test('the guides link to files that exist', async (t) => {
  for (const doc of ['docs/operations.md', 'docs/admin.md']) {
    for (const [, target] of read(doc).matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      if (target === undefined || /^https?:/.test(target)) continue
      t.ok(existsSync(join(root, 'docs', target)), `${doc} → ${target}`)
    }
  }
})
