/**
 * The benchmark report: saved results round-trip with their date, missing
 * ones are skipped, and the chart draws a bar per system per scenario with
 * the ratios, targets and shortfalls. Also: a system that falls short of
 * delivering everything is recorded with what it delivered, without throwing.
 */
import t from 'tap'
import type { Test } from 'tap'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ScenarioReport } from '../bench/index.js'
import { table } from '../bench/index.js'
import { chart } from '../bench/lib/chart.js'
import type { BenchClient, System } from '../bench/lib/clients.js'
import { loadReports, saveReport } from '../bench/lib/results.js'
import type { SavedReport } from '../bench/lib/results.js'
import { writeReport } from '../bench/report.js'
import { relay } from '../bench/scenarios/relay.js'

const delivery = (delivered: number, expected: number, perCpuSecond: number): Record<string, number> =>
  ({ expected, delivered, duplicates: 0, deliveriesPerCpuSecond: perCpuSecond, p50Ms: 100, p99Ms: 300 })

const SAMPLES: ScenarioReport[] = [
  { scenario: 'relay', switchboard: delivery(60000, 60000, 10067), socketio: delivery(60000, 60000, 9132), socketioStreams: delivery(45000, 60000, 3000), ratio: 1.1, ratioStreams: 3.36, target: 2, met: false, rounds: 1 },
  { scenario: 'latency', switchboard: { p99Ms: 20.2 }, socketio: { p99Ms: 48.3 }, ratio: 0.42, target: 0.7, met: true, rounds: 1 },
  { scenario: 'fanout', switchboard: delivery(200000, 200000, 250000), socketio: delivery(200000, 200000, 53619), socketioStreams: delivery(200000, 200000, 40000), ratio: 4.66, ratioStreams: 6.25, target: 2.5, met: true, rounds: 1 },
  { scenario: 'memory', switchboard: { bytesPerConnection: 13300 }, socketio: { bytesPerConnection: 14400 }, ratio: 0.92, target: 0.5, met: false, rounds: 1 },
  { scenario: 'allocate', switchboard: { requestsPerSecond: 9034 }, bare: { requestsPerSecond: 22334 }, ratio: 0.4, target: 0.7, met: false, rounds: 1 },
  { scenario: 'scale', switchboard: { connections: 60000, connected: 60000, failed: 0 }, ratio: 1.02, target: 1.05, met: true, rounds: 1 }
]

/** Checks that elements nest and close, and that text is escaped (no XML parser among the dependencies). */
function checkNesting (t: Test, svg: string): void {
  const open: string[] = []
  for (const [tag, closing, name = '', selfClosing] of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^<>]*?(\/?)>/g)) {
    if (selfClosing === '/') continue
    if (closing === '/') {
      if (open.pop() !== name) t.fail(`${tag} closes nothing open`)
    } else open.push(name)
  }
  t.same(open, [], 'every element is closed')
  t.notMatch(svg.replace(/<[^<>]*>/g, ''), /[<>]|&(?!(amp|lt|gt|quot);)/, 'text is escaped')
}

t.test('saved reports round-trip with their date; missing ones are skipped', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bench-results-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = await saveReport(SAMPLES[0] as ScenarioReport, dir, new Date('2026-11-29T12:00:00Z'))
  t.equal(file, join(dir, 'relay.json'))
  await saveReport(SAMPLES[5] as ScenarioReport, dir, new Date('2026-11-29T13:00:00Z'))
  const loaded = await loadReports(dir)
  t.same(loaded.map((r) => r.scenario), ['relay', 'scale'], 'in chart order, without the scenarios never saved')
  t.same(loaded[0], { ...SAMPLES[0], date: '2026-11-29T12:00:00.000Z' })
  t.same(await loadReports(join(dir, 'nowhere')), [], 'no results folder: nothing to draw')
})

t.test('the chart: a bar per system per scenario, ratios, targets, shortfalls', async (t) => {
  const svg = chart(SAMPLES.map((r) => ({ ...r, date: '2026-11-29T12:00:00.000Z' })))
  t.match(svg, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  checkNesting(t, svg)
  const bars = [...svg.matchAll(/<rect class="bar" data-scenario="(\w+)" data-system="(\w+)"/g)].map(([, scenario, system]) => `${scenario}/${system}`)
  t.same(bars, [
    'relay/switchboard', 'relay/socketio', 'relay/socketioStreams',
    'latency/switchboard', 'latency/socketio',
    'fanout/switchboard', 'fanout/socketio', 'fanout/socketioStreams',
    'memory/switchboard', 'memory/socketio',
    'allocate/switchboard', 'allocate/bare',
    'scale/switchboard'
  ], 'one bar per system per scenario, the peerless scale included')
  const ratios = [...svg.matchAll(/class="ratio"[^>]*>([^<]+)</g)].map(([, ratio]) => ratio)
  t.same(ratios, ['1.10×', '0.42×', '4.66×', '0.92×', '0.40×', '1.02×'])
  t.match(svg, /3\.36× vs the streams adapter/)
  t.match(svg, /target ≥ 2/)
  t.match(svg, /target ≤ 0\.7/)
  t.match(svg, /target ≤ 1\.05/)
  t.equal([...svg.matchAll(/✓ met/g)].length, 3, 'latency, fanout and scale met')
  t.equal([...svg.matchAll(/✗ not met/g)].length, 3, 'relay, memory and allocate not')
  t.equal([...svg.matchAll(/<line class="target"/g)].length, 6, 'a target mark in every scenario')
  t.match(svg, /3,000 {2}\(delivered 45,000 of 60,000\)/, 'the streams peer\'s shortfall is shown')
  t.match(svg, /13\.3 kB/)
  t.match(svg, /9,034 req\/s/)
})

t.test('the chart of a scale run whose ratio could not be computed, and of nothing', async (t) => {
  const svg = chart([{ scenario: 'scale', switchboard: { connections: 10, connected: 4 }, ratio: null as unknown as number, target: 1.05, met: false, rounds: 1, date: '2026-11-29' }])
  checkNesting(t, svg)
  t.notMatch(svg, /class="bar"/, 'no bar for a missing ratio')
  t.match(svg, /class="ratio"[^>]*>—</)
  const empty = chart([] as SavedReport[])
  checkNesting(t, empty)
  t.match(empty, /No saved results/)
})

t.test('writeReport draws what is saved into the given file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bench-report-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  await saveReport(SAMPLES[3] as ScenarioReport, dir)
  const out = join(dir, 'chart.svg')
  t.same(await writeReport(dir, out), ['memory'])
  t.match(await readFile(out, 'utf8'), /data-scenario="memory" data-system="socketio"/)
})

t.test('a system that delivers only part before the timeout is recorded with what it delivered', async (t) => {
  // Two users a server, each message acknowledged at once; only every other one reaches its recipient.
  const handlers = new Map<string, (data: unknown) => void>()
  const system: System = {
    name: 'half',
    pids: [process.pid],
    stop: async () => {},
    connect: async (user, server): Promise<BenchClient> => ({
      server: String(server),
      send: async (to, data) => { if ((data as { s: number }).s % 2 === 0) handlers.get(to)?.(data) },
      join: async () => {},
      publish: async () => {},
      onMessage: (handler) => { handlers.set(user, handler) },
      close: () => {}
    })
  }
  const result = await relay(system, { clients: 4, messages: 10, inFlight: 2, timeoutMs: 200 })
  t.equal(result.expected, 40)
  t.equal(result.delivered, 20, 'what arrived, counted')
  t.equal(result.duplicates, 0)
  const figures = { ...result }
  const report = { scenario: 'relay', switchboard: figures, socketio: figures, socketioStreams: figures, ratio: 1, ratioStreams: 1, target: 2, met: false, rounds: 1 }
  t.match(table(report), /socketio-streams: delivered 20 of 40, 0 duplicate\(s\)/, 'the table names the shortfall')
})

t.test('the table judges a full run against its target, and a tiny run not at all', async (t) => {
  const relayFull = SAMPLES[0] as ScenarioReport
  t.match(table(relayFull), /ratio 1\.1 \(target 2\): NOT met · medians of 1 round\(s\)/)
  t.match(table({ ...relayFull, ratio: 2.2, met: true }), /ratio 2\.2 \(target 2\): met · medians/)
  const { met: _verdict, ...figures } = relayFull
  const tiny = table({ ...figures, size: 'tiny' })
  t.match(tiny, /ratio 1\.1 \(target 2\): not judged\. A --size tiny run checks that the harness works and counts right; it measures nothing \(drop --size tiny for figures\)/)
  t.notMatch(tiny, /\bmet\b/i, 'neither met nor not met')
  t.match(tiny, /socketio-streams: delivered 45000 of 60000/, 'a shortfall in delivery is still named')
})
