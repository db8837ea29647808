/**
 * The benchmark chart (docs/benchmarks.svg), drawn from saved reports as
 * plain SVG text: one group per scenario, a bar per system on its headline
 * figure, the target marked on Switchboard's bar, and the ratio with
 * met / not met beside it. A report without a peer (`scale`) draws its ratio
 * against the target.
 */
import type { SavedReport } from './results.js'

interface Headline {
  /** the figure compared; undefined: the report's ratio is itself the figure */
  readonly key?: string
  readonly label: string
  readonly better: 'higher' | 'lower'
  readonly format: (value: number) => string
}

const count = (v: number): string => Math.round(v).toLocaleString('en-US')
const HEADLINES: Record<string, Headline> = {
  relay: { key: 'deliveriesPerCpuSecond', label: 'deliveries per server CPU-second', better: 'higher', format: count },
  latency: { key: 'p99Ms', label: 'p99 latency', better: 'lower', format: (v) => `${v.toFixed(1)} ms` },
  fanout: { key: 'deliveriesPerCpuSecond', label: 'deliveries per server CPU-second', better: 'higher', format: count },
  memory: { key: 'bytesPerConnection', label: 'RSS growth per idle connection, settled', better: 'lower', format: (v) => `${(v / 1000).toFixed(1)} kB` },
  allocate: { key: 'requestsPerSecond', label: 'requests per second', better: 'higher', format: (v) => `${count(v)} req/s` },
  connect: { key: 'connectsPerCpuSecond', label: 'connections per server CPU-second', better: 'higher', format: count },
  churn: { key: 'backSeconds', label: 'every client of a killed server back, s', better: 'lower', format: (v) => `${v.toFixed(1)} s` },
  scale: { label: 'connections on the fullest server / on the emptiest', better: 'lower', format: (v) => v.toFixed(2) }
}

/** The systems a report may hold, in drawing order. */
const SYSTEMS = [
  { key: 'switchboard', label: 'Switchboard', colour: '#2563eb' },
  { key: 'socketio', label: 'Socket.IO + redis-adapter', colour: '#9ca3af' },
  { key: 'socketioStreams', label: 'Socket.IO + streams adapter', colour: '#d97706' },
  { key: 'bare', label: 'bare Fastify route', colour: '#9ca3af' }
] as const

const WIDTH = 980
const LABEL_X = 20
const BAR_X = 230
const BAR_MAX = 400
const PANEL_X = 760
const ROW = 26
const BAR_H = 18
const MET = '#15803d'
const NOT_MET = '#b91c1c'
const FONT = 'font-family="system-ui, -apple-system, \'Segoe UI\', Helvetica, Arial, sans-serif"'

function esc (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function text (x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${x}" y="${y}"${attrs === '' ? '' : ` ${attrs}`}>${esc(content)}</text>`
}

/** "delivered 45,000 of 60,000" when a system fell short (or counted duplicates); '' otherwise. */
function shortfall (figures: Record<string, number>): string {
  const notes: string[] = []
  if ((figures.delivered ?? 0) < (figures.expected ?? 0)) notes.push(`delivered ${count(figures.delivered ?? 0)} of ${count(figures.expected ?? 0)}`)
  if ((figures.duplicates ?? 0) > 0) notes.push(`${count(figures.duplicates ?? 0)} duplicates`)
  if ((figures.connected ?? 0) < (figures.connections ?? 0)) notes.push(`connected ${count(figures.connected ?? 0)} of ${count(figures.connections ?? 0)}`)
  if ((figures.connected ?? figures.clients ?? 0) < (figures.clients ?? 0)) notes.push(`connected ${count(figures.connected ?? 0)} of ${count(figures.clients ?? 0)}`)
  if ((figures.back ?? figures.clients ?? 0) < (figures.clients ?? 0)) notes.push(`${count(figures.back ?? 0)} of ${count(figures.clients ?? 0)} back`)
  return notes.join(', ')
}

interface Bar {
  readonly system: string
  readonly label: string
  readonly colour: string
  readonly value: number
  readonly note: string
}

/** The bars of one report, and where the target puts Switchboard's figure. */
function barsOf (report: SavedReport, headline: Headline): { bars: Bar[], targetAt: number | undefined } {
  const { key } = headline
  if (key === undefined) {
    // A ratio that could not be computed (a server with no connection) is saved as null.
    const bars = Number.isFinite(report.ratio) ? [{ system: 'switchboard', label: 'Switchboard', colour: SYSTEMS[0].colour, value: report.ratio, note: shortfall(report.switchboard) }] : []
    return { bars, targetAt: report.target }
  }
  const bars: Bar[] = []
  for (const system of SYSTEMS) {
    const figures = report[system.key]
    const value = figures?.[key]
    if (figures === undefined || value === undefined || !Number.isFinite(value)) continue
    bars.push({ system: system.key, label: system.label, colour: system.colour, value, note: shortfall(figures) })
  }
  const peer = (report.socketio ?? report.bare)?.[key]
  return { bars, targetAt: peer === undefined ? undefined : peer * report.target }
}

/** One scenario's group, drawn from `top`; returns its SVG and height. */
function group (report: SavedReport, top: number): { svg: string, height: number } {
  const headline = HEADLINES[report.scenario] ?? { label: 'ratio', better: 'higher', format: (v: number) => v.toFixed(2) }
  const { bars, targetAt } = barsOf(report, headline)
  const scaleMax = Math.max(...bars.map((b) => b.value), targetAt ?? 0) * 1.05 || 1
  const width = (v: number): number => Math.max(1, Math.round(v / scaleMax * BAR_MAX))
  const date = report.date.slice(0, 10)
  const parts = [
    text(LABEL_X, top + 16, report.scenario, 'font-size="16" font-weight="700" fill="#111827"'),
    text(LABEL_X + 90, top + 16, `${headline.label}, ${headline.better} is better · ${report.rounds} round(s) · ${date}`, 'font-size="12" fill="#6b7280"')
  ]
  const markX = targetAt === undefined ? undefined : BAR_X + width(targetAt)
  bars.forEach((bar, i) => {
    const y = top + 28 + i * ROW
    const w = width(bar.value)
    const value = `${headline.format(bar.value)}${bar.note === '' ? '' : `  (${bar.note})`}`
    // Switchboard's figure moves past the target mark rather than under it (~7 px a character).
    const valueX = i === 0 && markX !== undefined && markX >= BAR_X + w && markX < BAR_X + w + 12 + value.length * 7 ? markX + 6 : BAR_X + w + 6
    parts.push(
      text(LABEL_X, y + 13, bar.label, 'font-size="12" fill="#374151"'),
      `<rect class="bar" data-scenario="${esc(report.scenario)}" data-system="${bar.system}" x="${BAR_X}" y="${y}" width="${w}" height="${BAR_H}" rx="2" fill="${bar.colour}"/>`,
      text(valueX, y + 13, value, `font-size="12" fill="${bar.note === '' ? '#111827' : NOT_MET}"`)
    )
  })
  if (markX !== undefined) {
    const x = markX
    parts.push(`<line class="target" x1="${x}" y1="${top + 24}" x2="${x}" y2="${top + 28 + BAR_H + 4}" stroke="#111827" stroke-width="2" stroke-dasharray="3 2"/>`)
  }
  const sign = headline.better === 'higher' ? '≥' : '≤'
  const colour = report.met ? MET : NOT_MET
  parts.push(
    text(PANEL_X, top + 44, Number.isFinite(report.ratio) ? `${report.ratio.toFixed(2)}×` : '—', `class="ratio" font-size="22" font-weight="700" fill="${colour}"`),
    text(PANEL_X + 80, top + 38, `target ${sign} ${report.target}`, 'font-size="12" fill="#374151"'),
    text(PANEL_X + 80, top + 54, report.met ? '✓ met' : '✗ not met', `font-size="12" font-weight="700" fill="${colour}"`)
  )
  if (report.ratioStreams !== undefined) {
    parts.push(text(PANEL_X, top + 72, `${report.ratioStreams.toFixed(2)}× vs the streams adapter`, 'class="ratio-streams" font-size="12" fill="#d97706"'))
  }
  const height = 28 + Math.max(bars.length * ROW, report.ratioStreams !== undefined ? 52 : 36) + 18
  return { svg: `<g class="scenario" data-scenario="${esc(report.scenario)}">${parts.join('')}</g>`, height }
}

/** The whole chart as an SVG document. */
export function chart (reports: readonly SavedReport[]): string {
  const header = [
    text(LABEL_X, 30, 'Switchboard benchmarks', 'font-size="20" font-weight="700" fill="#111827"'),
    text(LABEL_X, 50, 'Bars: each system\'s headline figure. Dashed mark: where the target puts Switchboard. Ratio: Switchboard / Socket.IO + redis-adapter', 'font-size="12" fill="#6b7280"'),
    text(LABEL_X, 66, '(allocate: / bare Fastify route; scale: fullest / emptiest server). Red: a system that did not deliver everything.', 'font-size="12" fill="#6b7280"')
  ]
  let top = 84
  const groups: string[] = []
  for (const report of reports) {
    groups.push(`<line x1="${LABEL_X}" y1="${top}" x2="${WIDTH - LABEL_X}" y2="${top}" stroke="#e5e7eb"/>`)
    const { svg, height } = group(report, top + 10)
    groups.push(svg)
    top += height + 10
  }
  if (reports.length === 0) groups.push(text(LABEL_X, top + 20, 'No saved results: run npm run bench -- <scenario> --save', 'font-size="14" fill="#6b7280"'))
  const height = top + (reports.length === 0 ? 40 : 30)
  const footer = text(LABEL_X, height - 12, 'Generated by npm run bench -- report from bench/results/*.json', 'font-size="11" fill="#9ca3af"')
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT}>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...header,
    ...groups,
    footer,
    '</svg>',
    ''
  ].join('\n')
}
